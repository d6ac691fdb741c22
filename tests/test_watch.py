"""Divergence: a NaN or infinite loss stops that model and the run is kept only as failed."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from densecli.engine._monitor import Watch, record_chunks
from densecli.errors import TrainingDiverged
from densecli.runs.files import HistoryJournal

from conftest import CONFIGS, invoke

# Plain SGD with this step size on the raw Pima features overflows in the first epoch.
EXPLODE = "train.optimizer={name: sgd, learning_rate: 1000000.0}"


KEYS = ("loss", "accuracy", "eval_loss", "eval_accuracy")


def _watch(names: list[str], epochs: int, journal: Path | None = None) -> Watch:
    return Watch(names, epochs, KEYS, HistoryJournal(journal) if journal else None)


def test_the_watch_names_each_diverged_job_and_its_first_bad_epoch(tmp_path: Path) -> None:
    watch = _watch(["fold-01", "fold-02", "fold-03"], epochs=10, journal=tmp_path)
    # epochs 1..3, three jobs, loss/accuracy/eval_loss/eval_accuracy and one more column
    logs = np.full((3, 3, 5), 0.5)
    logs[1:, 1, 0] = np.nan  # fold-02 breaks at epoch 2
    logs[2, 2, 0] = np.inf  # fold-03 at epoch 3
    watch.record_chunk(0, logs)
    assert {d.job: d.epoch for d in watch.diverged.values()} == {"fold-02": 2, "fold-03": 3}
    assert watch.epochs_done() == 3 and len(watch.history["fold-02"]) == 2
    with pytest.raises(TrainingDiverged) as caught:
        watch.raise_if_diverged()
    problems = caught.value.problems
    assert problems[0].startswith("fold-02: training diverged at epoch 2 of 10 (loss nan)")
    assert problems[1].startswith("fold-03: training diverged at epoch 3 of 10 (loss inf)")
    assert "1 of 3 models stayed finite" in problems
    journal = (tmp_path / "history.csv").read_text().splitlines()
    assert journal[0] == "job,epoch,loss,accuracy,eval_loss,eval_accuracy"
    assert len(journal) == 1 + 3 + 2 + 3  # rows up to and including each divergence


def test_the_watch_stops_the_bundle_when_every_job_has_diverged() -> None:
    watch = _watch(["fold-01", "fold-02"], epochs=10)
    logs = np.full((2, 2, 4), 0.5)
    record_chunks([(watch, slice(None))], 0, logs)
    logs[:, :, 0] = np.nan
    with pytest.raises(TrainingDiverged, match="fold-01: training diverged at epoch 3"):
        record_chunks([(watch, slice(None))], 2, logs)


def _failed_run(runs_dir: Path) -> Path:
    runs = list(runs_dir.iterdir())
    assert len(runs) == 1 and runs[0].name.endswith(".failed"), runs
    assert not (runs[0] / "metrics.json").exists()
    return runs[0]


@pytest.mark.data
def test_a_diverging_split_run_is_saved_as_failed_and_exits_3(
    runner: CliRunner, runs_dir: Path
) -> None:
    result = invoke(
        runner,
        "train",
        str(CONFIGS / "pima.yaml"),
        "--set",
        "train.epochs=3",
        "--set",
        EXPLODE,
        "--runs-dir",
        str(runs_dir),
    )
    assert result.exit_code == 3, result.output
    assert "error: split: training diverged at epoch 1 of 3 (loss nan)" in result.output
    assert "Traceback" not in result.output
    run = _failed_run(runs_dir)
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "failed" and status["diverged"][0]["job"] == "split"
    assert (run / "history.csv").read_text().splitlines()[1].startswith("split,1,nan")

    compared = invoke(runner, "compare", str(runs_dir))
    assert compared.exit_code == 0, compared.output
    assert "No finished runs yet" in compared.output and "failed" in compared.output
    assert (runs_dir / "compare.csv").read_text().count("\n") == 1  # the header only


@pytest.mark.data
def test_a_diverging_fold_is_named_in_a_cv_with_the_fit_engine(
    runner: CliRunner, runs_dir: Path
) -> None:
    result = invoke(
        runner,
        "cv",
        str(CONFIGS / "pima.yaml"),
        "--folds",
        "2",
        "--engine",
        "fit",
        "--set",
        "train.epochs=2",
        "--set",
        "train.loss=mse",
        "--set",
        "model.layers.2.activation=linear",
        "--set",
        EXPLODE,
        "--runs-dir",
        str(runs_dir),
    )
    assert result.exit_code == 3, result.output
    status = json.loads((_failed_run(runs_dir) / "status.json").read_text())
    named = [d["job"] for d in status["diverged"]]
    assert named and set(named) <= {"fold-01", "fold-02"}
    for job in named:
        assert f"error: {job}: training diverged at epoch" in result.output


def test_a_stop_signal_swallowed_by_garbage_collection_is_sent_again(
    capfd: pytest.CaptureFixture[str],
) -> None:
    import signal
    import time
    import weakref

    from densecli.signals import Interrupted, signals_as_interrupts

    class Thing:
        pass

    def collected(_: object) -> None:  # the handler's raise lands in a weakref callback,
        raise Interrupted(signal.SIGTERM)  # where Python prints it and goes on

    stopped = None
    with signals_as_interrupts():
        try:
            thing = Thing()
            ref = weakref.ref(thing, collected)
            del thing
            time.sleep(2)  # a deadline: the signal sent again ends it at once
        except Interrupted as stop:
            stopped = stop
    assert ref() is None
    assert stopped is not None and stopped.signum == signal.SIGTERM
    assert "Exception ignored" not in capfd.readouterr().err
