"""`densecli tune --nested K`: the outer folds, no leak of an outer fold's test rows into its
search, nested.json, show and compare, resume after a stop, Ray and --storage, MLflow.

Real nested tunes on the Pima file with few trials, few epochs, 2 inner folds and small K;
each is a subprocess, as a user runs it.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import conftest
from conftest import CONFIGS, ROOT, TINY_TUNE, invoke, run_densecli, tune_file

optuna = pytest.importorskip("optuna")
pytestmark = pytest.mark.data  # the Pima file, and training

# The tests' tiny tune (conftest), at `epochs` and with learning rates from 5e-4: nested
# tunes here test folds and records, not pruning.
LEARNING_RATES = {"low": 0.0005, "high": 0.05, "log": True}
PIMA_ROWS = 768


def _search_file(folder: Path, epochs: int = 20) -> Path:
    grid = {**TINY_TUNE["grid"], "train.optimizer.learning_rate": LEARNING_RATES}
    return tune_file(folder, set={**TINY_TUNE["set"], "train.epochs": epochs}, grid=grid)


def _only_tune(runs: Path) -> Path:
    (folder,) = [p for p in runs.iterdir() if p.name.endswith("-tune")]
    return folder


def _read(path: Path) -> Any:
    return json.loads(path.read_text())


def _studies(storage: str) -> dict[str, Any]:
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    return {name: optuna.load_study(study_name=name, storage=storage) for name in names}


@pytest.fixture(scope="module")
def nested(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A nested tune: K = 3 outer folds, 3 trials in each study, no confirmation."""
    tmp_path = tmp_path_factory.mktemp("nested")
    runs = tmp_path / "runs"
    done = run_densecli(
        "tune", str(_search_file(tmp_path)), "--trials", "3", "--batch", "2", "--nested", "3",
        "--sampler", "random", "--confirm-repeats", "0", "--workers", "1",
        "--runs-dir", str(runs),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return _only_tune(runs), done.stdout


def test_outer_test_rows_partition_the_data_and_never_reach_their_search(
    nested: tuple[Path, str],
) -> None:
    folder, _ = nested
    record = _read(folder / "nested.json")
    assert record["folds"] == 3 and len(record["outer_folds"]) == 3
    everything = [row for fold in record["outer_folds"] for row in fold["test_rows"]]
    assert sorted(everything) == list(range(PIMA_ROWS))  # a partition of the 768 rows
    for fold in record["outer_folds"]:
        test = set(fold["test_rows"])
        training = set(range(PIMA_ROWS)) - test
        trials = [folder / t for t in fold["trials"]]
        assert len(trials) == 3 and all(t.parent.name == f"outer-{fold['fold']}" for t in trials)
        for trial in trials:  # each trial's CV: made of the outer training rows only
            folds = _read(trial / "folds.json")
            assert set(folds["within"]) == training
            inner_test = [row for job in folds["jobs"] for row in job["test_rows"]]
            assert sorted(inner_test) == sorted(training)  # inner folds cover them, once each
            assert not test & set(inner_test)
        refit = _read(folder / fold["refit"] / "folds.json")
        assert {tuple(job["test_rows"]) for job in refit["jobs"]} == {tuple(fold["test_rows"])}


def test_nested_json_holds_the_outer_folds_estimate_references_and_optimism(
    nested: tuple[Path, str],
) -> None:
    folder, stdout = nested
    record = _read(folder / "nested.json")
    studies = _studies(f"sqlite:///{folder / 'study.db'}")
    assert sorted(studies) == sorted(
        [folder.name, *(f"{folder.name}-outer-{k}-of-3" for k in (1, 2, 3))]
    )
    for fold in record["outer_folds"]:
        study = studies[f"{folder.name}-outer-{fold['fold']}-of-3"]
        best = study.best_trial
        assert (fold["best_trial"], fold["inner_best"]) == (best.number, best.value)
        assert fold["best"]["model.layers.0.units"] == best.params["model.layers.0.units"]
        refit = _read(folder / fold["refit"] / "metrics.json")
        assert refit["mode"] == "split" and refit["test_rows"] == len(fold["test_rows"])
        assert fold["score"] == refit["accuracy"]
        assert refit["train_rows"] == PIMA_ROWS - len(fold["test_rows"])
    scores = [fold["score"] for fold in record["outer_folds"]]
    assert record["estimate"]["accuracy"] == pytest.approx(statistics.fmean(scores))
    assert record["estimate"]["std"] == pytest.approx(statistics.stdev(scores))
    inner = statistics.fmean(fold["inner_best"] for fold in record["outer_folds"])
    assert record["optimism"] == pytest.approx(inner - statistics.fmean(scores))
    references = record["references"]
    assert list(references) == ["majority", "linear", "boosting"]
    strongest = max(references, key=lambda name: references[name]["score"])
    assert record["t_test"]["against"] == strongest
    assert all(len(r["folds"]) == 3 for r in references.values())
    assert (folder / "best.yaml").is_file()  # the search on all rows, as tune does
    text = " ".join(stdout.split())
    assert "Nested estimate: accuracy" in text and "(the strongest reference)" in text
    assert "This estimates the search procedure" in text
    assert "Nested CV" in (folder / "results.md").read_text()


def test_an_outer_study_trains_as_the_same_tune_on_its_training_rows_alone(
    nested: tuple[Path, str], tmp_path: Path
) -> None:
    """Sharing bundles with the other studies changes no number: outer fold 1's trials score
    to the bit as a plain tune of the same search on that fold's training rows (the Pima
    file's own lines, in order) does, with the same sampler seed."""
    folder, _ = nested
    test_rows = set(_read(folder / "outer-1" / "outer.json")["test_rows"])
    lines = conftest.PIMA_CSV.read_text().splitlines()
    subset = tmp_path / "outer-1.csv"
    subset.write_text("\n".join(line for i, line in enumerate(lines) if i not in test_rows) + "\n")
    runs = tmp_path / "runs"
    alone = run_densecli(
        "tune", str(folder.parent.parent / "search.yaml"), "--trials", "3", "--batch", "2",
        "--sampler", "random", "--confirm-repeats", "0", "--workers", "1",
        "--data", str(subset), "--set", "data.train_rows=100", "--runs-dir", str(runs),
    )  # fmt: skip
    assert alone.returncode == 0, alone.stderr
    nested_scores = _trial_scores(folder / "outer-1")
    assert len(nested_scores) == 3 and list(nested_scores.values()).count("pruned") < 3
    assert _trial_scores(_only_tune(runs)) == nested_scores


def _trial_scores(folder: Path) -> dict[str, tuple[list[float], float] | str]:
    """Each trial's fold accuracies and mean final loss (or "pruned"), by its tag (`t0002`)."""
    scores: dict[str, tuple[list[float], float] | str] = {}
    for run in folder.glob("*-t*-cv*"):
        tag = run.name.split("-")[-2]
        if run.name.endswith(".pruned"):
            scores[tag] = "pruned"
            continue
        metrics = _read(run / "metrics.json")
        scores[tag] = (metrics["fold_accuracy"], metrics["loss"])
    return scores


def test_show_and_compare_read_nested_json(nested: tuple[Path, str]) -> None:
    folder, _ = nested
    runner = CliRunner()
    shown = invoke(runner, "show", str(folder))
    assert shown.exit_code == 0, shown.output
    assert "Nested estimate" in shown.output and "Against the references" in shown.output
    compared = invoke(runner, "compare", str(folder.parent))
    assert compared.exit_code == 0, compared.output
    assert "Nested estimates" in compared.output and folder.name in compared.output
    inside = invoke(runner, "compare", str(folder))  # its trials; the outer folds apart
    assert inside.exit_code == 0, inside.output
    assert "warning" not in inside.output.replace("confirm", "")


def _wait_for_scratch(folder_glob: str, runs: Path, process: subprocess.Popen[bytes]) -> Path:
    """A second batch training: an outer fold's scratch run of trial 2 or 3 exists."""
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and process.poll() is None:
        for folder in runs.glob(folder_glob):
            if list(folder.glob("outer-*/.*-t000[2-3]-cv.pid*")):
                return folder
        time.sleep(0.2)
    raise AssertionError(f"no second batch began; tune exited {process.poll()}")


def test_resume_after_a_stop_finishes_every_study_with_each_trial_once(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    search = _search_file(tmp_path, epochs=300)
    args = ["--trials", "4", "--batch", "2", "--nested", "2", "--pruner", "none"]
    args += ["--confirm-repeats", "0", "--workers", "1", "--runs-dir", str(runs)]
    process = subprocess.Popen(
        [sys.executable, "-m", "densecli", "tune", str(search), *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        folder = _wait_for_scratch("*-tune", runs, process)
        stopped = time.monotonic()
        os.kill(process.pid, signal.SIGINT)  # Ctrl-C in its terminal reaches the tune
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130, err
    assert time.monotonic() - stopped < 60
    assert f"densecli tune {folder} --resume" in " ".join(err.decode().split())
    storage = f"sqlite:///{folder / 'study.db'}"
    before = _studies(storage)
    finished = {
        name: {t.number: t.params for t in study.trials if t.state.name == "COMPLETE"}
        for name, study in before.items()
    }
    counts = [len(done) for done in finished.values()]
    assert min(counts) >= 2 and sum(counts) < 12, finished  # the first batch, not everything
    kept = {p: (p / "metrics.json").stat().st_mtime_ns for p in folder.rglob("*-cv")}

    resumed = run_densecli("tune", str(folder), "--resume", "--trials", "4")
    assert resumed.returncode == 0, resumed.stderr
    after = _studies(storage)
    assert sorted(after) == sorted(before) and len(after) == 3
    for name, study in after.items():
        complete = [t for t in study.trials if t.state.name == "COMPLETE"]
        assert len(complete) == 4, name
        for number, params in finished[name].items():  # not trained again
            assert study.trials[number].params == params
            assert study.trials[number].state.name == "COMPLETE"
    for outer in ("outer-1", "outer-2"):  # one run per complete trial, no copies or leftovers
        trials = [p for p in (folder / outer).iterdir() if p.name.endswith("-cv")]
        assert len(trials) == 4, trials
        assert not [p for p in (folder / outer).iterdir() if p.name.startswith(".")]
    for path, mtime in kept.items():
        assert (path / "metrics.json").stat().st_mtime_ns == mtime
    assert len(_read(folder / "nested.json")["outer_folds"]) == 2


def test_ray_and_a_shared_storage_nest_as_a_local_tune(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    common = ["--trials", "2", "--nested", "2", "--pruner", "none", "--confirm-repeats", "0"]
    common += ["--workers", "1", "--sampler", "random", "--storage", storage]
    done = run_densecli(
        "tune", str(_search_file(tmp_path, epochs=10)), *common, "--ray", "local",
        "--runs-dir", str(tmp_path / "runs"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    folder = _only_tune(tmp_path / "runs")
    assert not (folder / "study.db").exists()
    names = sorted(_studies(storage))
    assert len(names) == 3 and [n for n in names if n.endswith(("-outer-1-of-2", "-outer-2-of-2"))]
    record = _read(folder / "nested.json")
    for fold in record["outer_folds"]:  # the Ray tasks' runs, unpacked into their fold
        assert [(folder / t / "metrics.json").is_file() for t in fold["trials"]] == [True] * 2


def test_a_resumed_tune_keeps_its_outer_folds(nested: tuple[Path, str]) -> None:
    folder, _ = nested
    refused = invoke(CliRunner(), "tune", str(folder), "--resume", "--nested", "4")
    assert refused.exit_code == 2
    assert "this tune is nested with 3 outer folds; resume it without --nested" in " ".join(
        refused.output.split()
    )


def test_mlflow_logs_the_estimate_with_a_nested_run_per_outer_fold(
    nested: tuple[Path, str], tmp_path: Path
) -> None:
    pytest.importorskip("mlflow")
    from densecli.tracking._log import log_folder

    folder, _ = nested
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = log_folder(folder, uri)
    assert first.problems == [] and first.logged
    again = log_folder(folder, uri)
    assert again.problems == [] and not again.logged  # each run once
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri)
    (experiment,) = [e for e in client.search_experiments() if e.name == "densecli/tiny"]
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("densecli.mode") == "nested"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    record = _read(folder / "nested.json")
    assert parent.data.metrics["nested_accuracy"] == pytest.approx(record["estimate"]["accuracy"])
    assert sorted(r.data.tags["densecli.outer_fold"] for r in children) == ["1", "2", "3"]
    for child in children:
        fold = record["outer_folds"][int(child.data.tags["densecli.outer_fold"]) - 1]
        assert child.data.metrics["outer_accuracy"] == pytest.approx(fold["score"])
        assert child.data.params["best_trial"] == str(fold["best_trial"])


def test_trials_of_outer_folds_share_a_bundle_when_their_epochs_have_the_same_steps() -> None:
    """Equal networks of different studies group together exactly when their CVs' longest
    training rows are equal (the engine pads a bundle's jobs to its longest)."""
    from densecli.experiment import Plan, prepare_file
    from densecli.search._file import Point
    from densecli.search._groups import group_points
    from densecli.search._outer import outer_folds
    from densecli.search._study import TuneSetup, TuneStudy, bundle_rows_key

    experiment = prepare_file(CONFIGS / "pima.yaml", ["cv.folds=2"], None)
    outer = outer_folds(experiment, 5)
    assert sorted(len(o.test) for o in outer) == [153, 153, 154, 154, 154]
    setup = TuneSetup(
        None, None, Plan(), experiment.data.path, 7, True, 10, False, "tpe", "median",  # type: ignore[arg-type]
        experiment, outer,
    )  # fmt: skip
    studies = [TuneStudy(None, None), *(TuneStudy(None, None, o) for o in outer)]  # type: ignore[arg-type]
    points = [Point(n, {}, experiment.spec) for n in range(len(studies))]
    rows = {n: s.training_rows(setup, experiment.spec) for n, s in enumerate(studies)}
    assert rows[0] == 384 and {rows[n] for n in range(1, 6)} == {307, 308}
    groups = group_points(points, 1, lambda p: bundle_rows_key(p, rows[p.number]))
    by_rows = sorted(sorted(p.number for p in group) for group in groups)
    assert by_rows == sorted(
        [
            [0],
            [n for n in range(1, 6) if rows[n] == 307],
            [n for n in range(1, 6) if rows[n] == 308],
        ]
    )
