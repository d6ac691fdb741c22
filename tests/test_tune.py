"""`densecli tune`: Optuna's study over compiled bundles, pruning, resume, Ray, confirmation.

Real tunes on the Pima file with few epochs and 2 folds; each is a subprocess, as a user
runs it (Ctrl-C and kill -9 reach it like a terminal's would).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from conftest import (
    CONFIGS,
    ROOT,
    TINY_TUNE,
    TINY_TUNE_ARGS,
    run_densecli,
    tune_file,
    wait_until_group_died,
)

optuna = pytest.importorskip("optuna")


def _only_tune(runs: Path) -> Path:
    (folder,) = [p for p in runs.iterdir() if p.name.endswith("-tune")]
    return folder


def _results(folder: Path) -> dict[str, dict[str, str]]:
    with (folder / "results.csv").open() as handle:
        return {row["trial"]: row for row in csv.DictReader(handle)}


def _study(folder: Path) -> Any:
    return optuna.load_study(study_name=folder.name, storage=f"sqlite:///{folder / 'study.db'}")


@pytest.fixture(scope="module")
def tuned(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    tmp_path = tmp_path_factory.mktemp("tune")
    runs = tmp_path / "runs"
    done = run_densecli(
        "tune",
        str(tune_file(tmp_path)),
        *TINY_TUNE_ARGS,
        "--confirm-repeats",
        "1",
        "--workers",
        "1",
        "--runs-dir",
        str(runs),
    )
    assert done.returncode == 0, done.stderr
    return _only_tune(runs), done


@pytest.mark.data
def test_small_tune_end_to_end_with_pruning(
    tuned: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    folder, done = tuned
    results = _results(folder)
    assert len(results) == 7
    states = [row["state"] for row in results.values()]
    assert states.count("done") >= 2 and "pruned" in states, states
    study = _study(folder)
    assert len(study.trials) == 7
    assert {t.state.name for t in study.trials} <= {"COMPLETE", "PRUNED"}
    for trial in study.trials:
        row = results[str(trial.number)]
        run = folder / row["run"]
        if trial.state.name == "COMPLETE":  # an ordinary CV run, its score the objective
            metrics = json.loads((run / "metrics.json").read_text())
            assert metrics["accuracy"] == pytest.approx(trial.value)
            assert f"{100 * metrics['accuracy']:.2f}" == row["accuracy %"]
            assert metrics["folds"] == 2 and metrics["models"] == 2
            config = yaml.safe_load((run / "config.yaml").read_text())
            lr = config["train"]["optimizer"]["learning_rate"]
            assert lr == trial.params["train.optimizer.learning_rate"]
        else:  # pruned: marked, its history up to the pruning epoch, no models
            assert run.name.endswith(".pruned")
            status = json.loads((run / "status.json").read_text())
            epoch = trial.user_attrs["pruned_at_epoch"]
            assert status["status"] == "pruned" and status["epochs_done"] == epoch < 40
            with (run / "history.csv").open() as handle:
                epochs = [int(r["epoch"]) for r in csv.DictReader(handle)]
            assert max(epochs) == epoch
            assert not (run / "metrics.json").exists() and not (run / "models").exists()
            assert trial.intermediate_values  # what the pruner saw, replayed into the study
    for name in ("results.md", "importances.csv", "history.png", "parallel.png", "best.yaml"):
        assert (folder / name).is_file(), name
    markdown = (folder / "results.md").read_text()
    assert "logistic regr. (same folds)" in markdown and "Quote the confirmation score" in markdown
    assert "search vs confirmation" in done.stdout


@pytest.mark.data
def test_best_yaml_reproduces_the_best_trial_with_cv(
    tuned: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    folder, _ = tuned
    best = _study(folder).best_trial
    again = run_densecli("cv", str(folder / "best.yaml"), "--runs-dir", str(tmp_path))
    assert again.returncode == 0, again.stderr
    (run,) = tmp_path.iterdir()
    accuracy = json.loads((run / "metrics.json").read_text())["accuracy"]
    assert accuracy == pytest.approx(best.value, abs=1e-9)
    # The confirmation ran on CV seeds the search never used, and says so.
    (confirm,) = [p for p in (folder / "confirm").iterdir() if p.name.endswith("-cv")]
    config = yaml.safe_load((confirm / "config.yaml").read_text())
    searched = yaml.safe_load((folder / "best.yaml").read_text())
    assert config["seed"] == searched["seed"] + 1


def _wait_for_second_batch(runs: Path, process: subprocess.Popen[str]) -> Path:
    """The first batch told, the second one training (its scratch run folders exist)."""
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and process.poll() is None:
        for folder in runs.glob("*-tune"):
            scratch = [p for p in folder.glob(".*-t000[2-4]-cv.pid*") if p.is_dir()]
            if (folder / "results.csv").is_file() and scratch:
                return folder
        time.sleep(0.2)
    raise AssertionError(f"no second batch began; tune exited {process.poll()}")


@pytest.mark.data
def test_resume_after_kill_9_continues_the_same_study(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    search = tune_file(tmp_path, set={**TINY_TUNE["set"], "train.epochs": 300})
    args = ["--trials", "5", "--pruner", "none", "--confirm-repeats", "0", "--workers", "1"]
    process = subprocess.Popen(
        [sys.executable, "-m", "densecli", "tune", str(search), *args, "--runs-dir", str(runs)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        folder = _wait_for_second_batch(runs, process)  # 2 trials told, 3 training
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    before = _study(folder)
    finished = {t.number: t for t in before.trials if t.state.name == "COMPLETE"}
    assert len(finished) == 2 and any(t.state.name == "RUNNING" for t in before.trials)
    kept = {
        p.name: (p / "metrics.json").stat().st_mtime_ns for p in folder.glob("*-cv") if p.is_dir()
    }
    wait_until_group_died(process.pid)  # the killed workers too

    resumed = run_densecli(
        "tune", str(folder), "--resume", "--trials", "5", "--confirm-repeats", "0"
    )
    assert resumed.returncode == 0, resumed.stderr
    after = _study(folder)
    assert [t.state.name for t in after.trials if t.number in finished] == ["COMPLETE"] * 2
    for number, trial in finished.items():  # not trained again
        assert after.trials[number].params == trial.params
    assert not [t for t in after.trials if t.state.name == "RUNNING"]
    retried = [t for t in after.trials if "retry_of" in t.user_attrs]
    for trial in retried:  # the killed trials were asked again with the same params
        assert trial.params == after.trials[trial.user_attrs["retry_of"]].params
    complete = [t for t in after.trials if t.state.name == "COMPLETE"]
    assert len(complete) == 5
    runs_now = [p for p in folder.iterdir() if p.is_dir() and p.name.endswith("-cv")]
    assert len(runs_now) == 5  # one run per complete trial, no copies, no leftovers
    for name, mtime in kept.items():
        assert (folder / name / "metrics.json").stat().st_mtime_ns == mtime
    assert not [p for p in folder.iterdir() if p.name.startswith(".") and p.is_dir()]


@pytest.mark.data
def test_ray_local_tune_equals_the_local_one(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    search = tune_file(tmp_path, set={**TINY_TUNE["set"], "train.epochs": 20})
    common = ["--trials", "3", "--pruner", "none", "--confirm-repeats", "0", "--workers", "1"]
    local = run_densecli("tune", str(search), *common, "--runs-dir", str(tmp_path / "local"))
    assert local.returncode == 0, local.stderr
    on_ray = run_densecli(
        "tune", str(search), *common, "--runs-dir", str(tmp_path / "ray"), "--ray", "local"
    )
    assert on_ray.returncode == 0, on_ray.stderr
    by_local = _results(_only_tune(tmp_path / "local"))
    by_ray = _results(_only_tune(tmp_path / "ray"))
    columns = ["state", "model.layers.0.units", "train.optimizer.learning_rate", "accuracy %"]
    assert sorted(by_local) == sorted(by_ray) == ["0", "1", "2"]
    for trial, row in by_local.items():
        assert [row[c] for c in columns] == [by_ray[trial][c] for c in columns], trial


def test_tune_without_optuna_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from densecli.errors import ConfigError
    from densecli.search._optuna import import_optuna

    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ConfigError, match=r"pip install 'densecli\[tune\]'"):
        import_optuna()


def test_the_shipped_tune_file_maps_to_distributions() -> None:
    from densecli.search import load_space

    space = load_space(CONFIGS / "tune-pima.yaml")
    distributions = space.distributions()
    assert distributions["model.layers"].choices == ("0", "1", "2")  # layer stacks: labels
    assert distributions["train.optimizer.learning_rate"].log
    params = {k: _first(d) for k, d in distributions.items()}
    params["model.layers"] = "2"
    point = space.point(7, params)
    assert point.spec.name == "pima-tune-t0007"
    assert [layer.units for layer in point.spec.model.layers] == [4, 8, 4, 1]
    stacks = space.grid["model.layers"]
    assert isinstance(stacks, list) and stacks[2][0]["units"] == 12  # the choices untouched


def _first(distribution: Any) -> Any:
    choices = getattr(distribution, "choices", None)
    return choices[0] if choices else distribution.low


def test_gp_without_torch_is_refused_before_any_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    from densecli.errors import ConfigError
    from densecli.search._optuna import check_sampler

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ConfigError, match="--sampler gp needs PyTorch"):
        check_sampler("gp")
    check_sampler("tpe")


def test_a_storage_is_checked_for_writes_and_for_the_study(tmp_path: Path) -> None:
    from densecli.errors import ConfigError, RunsError
    from densecli.search._optuna import check_storage

    db = tmp_path / "study.db"
    optuna.create_study(study_name="kept", storage=f"sqlite:///{db}")
    check_storage(f"sqlite:///{db}", "kept")  # reachable, writable, holds the study
    before = db.read_bytes()
    readonly = f"sqlite:///file:{db}?mode=ro&uri=true"  # refused even to root, unlike chmod
    with pytest.raises(ConfigError, match=r"cannot be written \(attempt to write a readonly"):
        check_storage(readonly)
    with pytest.raises(RunsError, match="holds no study 'other' to continue"):
        check_storage(f"sqlite:///{db}", "other")
    assert db.read_bytes() == before  # the write that checked was rolled back


def test_a_password_in_a_storage_url_is_never_shown() -> None:
    from densecli.search._optuna import shown_url

    assert shown_url("postgresql+psycopg://ann:s3cr@t@db.example:5432/optuna") == (
        "postgresql+psycopg://ann:***@db.example:5432/optuna"
    )
    assert shown_url("sqlite:////tmp/study.db") == "sqlite:////tmp/study.db"


@pytest.mark.data
def test_the_tune_pictures_are_in_the_runs_units_with_references(
    tuned: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    from optuna.trial import TrialState

    from densecli.search import SearchFolder
    from densecli.search._confirm import read_confirmation
    from densecli.search._file import definition_from_record
    from densecli.search._space import make_space
    from densecli.search._tune_plots import history_figure, parameters_figure
    from densecli.search._tune_results import trial_rows
    from densecli.tasks import view_for

    from conftest import assert_sensible_png

    folder, _ = tuned
    for name in ("history.png", "parallel.png"):
        assert_sensible_png(folder / name)
    record = json.loads((folder / "tune.json").read_text())
    space = make_space(definition_from_record(record["definition"]))
    study = _study(folder)
    rows = trial_rows(space, SearchFolder(folder, "tune"), study)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    view = view_for(next(r.metrics for r in rows if r.metrics))
    confirmation = read_confirmation(folder)
    assert confirmation is not None
    (history,) = history_figure(complete, view, rows, confirmation).axes
    assert history.get_ylabel() == "mean CV accuracy (%)"
    points = np.asarray(history.lines[0].get_ydata(), dtype=float).tolist()  # the trials, in %
    assert sorted(points) == pytest.approx(sorted(100 * t.value for t in complete))
    labels = history.get_legend_handles_labels()[1]
    regression = next(label for label in labels if label.startswith("logistic regression"))
    assert "same folds" in regression
    assert any(label.startswith("its confirmation, unseen seed") for label in labels), labels
    panels = [ax for ax in parameters_figure(complete, view, space).axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["layers.0.units", "optimizer.learning_rate"]
    assert panels[1].get_xscale() == "log"  # a log range on a log axis


@pytest.mark.data
def test_a_resume_past_its_trials_and_no_confirmation_say_so(
    tuned: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    folder, _ = tuned
    trials = len(_study(folder).trials)
    again = run_densecli("tune", str(folder), "--resume", "--trials", "2", "--confirm-repeats", "0")
    assert again.returncode == 0, again.stderr
    assert f"{trials} trials done, as many as --trials 2 or more: no new trial" in again.stderr
    assert "of 2 trials done" not in again.stderr
    assert "unconfirmed and biased upwards" in again.stderr
    assert len(_study(folder).trials) == trials  # nothing was trained
