"""`densecli mlflow` on a runs folder holding every kind of folder: a CV run, a sweep, a tune
(with pruned trials and a confirmation) and damaged copies of each kind. The damaged ones
are named and skipped, everything else is logged once; the tune was also logged as it ran
by `tune --mlflow-uri` into a store of its own.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import TINY_TUNE_ARGS, run_densecli, tune_file, write_spec

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("optuna")
pytestmark = pytest.mark.data


def _one(runs: Path, suffix: str) -> Path:
    (folder,) = [p for p in runs.iterdir() if p.name.endswith(suffix)]
    return folder


def _damaged_copies(runs: Path) -> dict[str, Path]:
    """A copy of each kind of folder with one file broken as a crash or a disk leaves it."""
    cv, sweep, tune = _one(runs, "-cv"), _one(runs, "-sweep"), _one(runs, "-tune")
    broken = {
        "history": runs / "20000101-000000-history-cv",
        "metrics": runs / "20000101-000001-metrics-cv",
        "sweep": runs / "20000101-000002-truncated-sweep",
        "tune": runs / "20000101-000003-truncated-tune",
    }
    for kind, source in (("history", cv), ("metrics", cv), ("sweep", sweep), ("tune", tune)):
        shutil.copytree(source, broken[kind])
    history = broken["history"] / "history.csv"
    lines = history.read_text().splitlines()
    cells = lines[3].split(",")
    cells[2] = "0.5garbage"  # line 4, the loss column
    lines[3] = ",".join(cells)
    history.write_text("\n".join(lines) + "\n")
    metrics = broken["metrics"] / "metrics.json"
    metrics.write_text(metrics.read_text()[:40])
    for kind, name in (("sweep", "sweep.json"), ("tune", "tune.json")):
        record = broken[kind] / name
        record.write_text(record.read_text()[:100])
    return broken


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("everything")
    runs = root / "runs"
    spec = write_spec(root / "spec.yaml", train={"epochs": 3}, cv={"folds": 2})
    search = tune_file(root)
    tune_store = f"sqlite:///{root / 'tune-store' / 'mlflow.db'}"
    into = ["--runs-dir", str(runs)]
    commands = [
        ["cv", str(spec), *into],
        ["sweep", str(spec), "--grid", "model.layers.0.units=4,6", "--workers", "1", *into],
        ["tune", str(search), *TINY_TUNE_ARGS, "--confirm-repeats", "1", "--workers", "1", "--mlflow-uri", tune_store, *into],
    ]  # fmt: skip
    outputs = []
    for args in commands:
        done = run_densecli(*args)
        assert done.returncode == 0, done.stderr
        outputs.append(done)
    originals = {kind: _one(runs, f"-{kind}") for kind in ("cv", "sweep", "tune")}
    broken = _damaged_copies(runs)
    logged = run_densecli("mlflow", str(runs))
    return {
        "runs": runs,
        **originals,
        "broken": broken,
        "tune_run": outputs[-1],
        "logged": logged,
        "store": mlflow.MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}"),
        "tune_store": mlflow.MlflowClient(tracking_uri=tune_store),
    }


def _all_runs(client: Any) -> list[Any]:
    return [
        run
        for experiment in client.search_experiments()
        for run in client.search_runs([experiment.experiment_id])
    ]


def _by_folder(client: Any) -> dict[str, Any]:
    return {Path(r.data.tags["densecli.run_folder"]).name: r for r in _all_runs(client)}


def test_damaged_folders_are_named_and_skipped_and_the_rest_is_logged(
    everything: dict[str, Any],
) -> None:
    logged: subprocess.CompletedProcess[str] = everything["logged"]
    assert logged.returncode == 1, logged.stderr
    assert "Traceback" not in logged.stderr
    lines = logged.stderr.strip().splitlines()
    broken = everything["broken"]
    skipped = [line for line in lines if line.startswith("skipped: ")]
    assert len(skipped) == 4, lines
    said = "\n".join(skipped)
    assert f"{broken['history']}/history.csv, line 4: loss '0.5garbage' is not a number" in said
    assert f"{broken['metrics']}: unreadable run record (JSONDecodeError" in said
    assert f"{broken['sweep']}/sweep.json: unreadable (JSONDecodeError" in said
    assert f"{broken['tune']}/tune.json: unreadable (JSONDecodeError" in said
    assert "none of its runs logged" in said
    # cv 1; sweep: parent + 2 points; tune: parent + 7 trials + the confirmation run
    assert lines[-1].startswith("MLflow: logged 13 run(s), 0 already there, 4 skipped")
    found = _all_runs(everything["store"])
    assert len(found) == 13
    assert len({r.data.tags["densecli.run_key"] for r in found}) == 13
    names = {Path(r.data.tags["densecli.run_folder"]).name for r in found}
    assert not names & {p.name for p in broken.values()}


def test_a_second_pass_logs_nothing_and_still_names_the_damage(
    everything: dict[str, Any],
) -> None:
    again = run_densecli("mlflow", str(everything["runs"]))
    assert again.returncode == 1
    assert (
        again.stderr.strip()
        .splitlines()[-1]
        .startswith("MLflow: logged 0 run(s), 13 already there, 4 skipped")
    )


def _check_tune(client: Any, tune: Path) -> None:
    """The tune as MLflow shows it, whichever way it was logged."""
    by = _by_folder(client)
    parent = by[tune.name]
    record = json.loads((tune / "tune.json").read_text())
    confirmation = json.loads((tune / "confirm" / "confirmation.json").read_text())
    assert parent.data.tags["densecli.mode"] == "tune"
    assert parent.data.params["options.trials"] == "7"
    assert parent.data.params["options.sampler"] == "random"
    assert parent.data.tags["densecli.best_trial"] == str(confirmation["trial"])
    score = confirmation["confirmation"]["score"]
    assert parent.data.metrics["confirmation_accuracy"] == pytest.approx(score)
    assert parent.info.start_time == int(
        datetime.fromisoformat(record["created"]).timestamp() * 1000
    )
    trials = [r for r in by.values() if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.info.end_time >= max(r.info.end_time for r in trials)
    assert len(trials) == 8  # 7 trials and the confirmation run
    pruned = [r for r in trials if r.data.tags.get("densecli.state") == "pruned"]
    assert pruned, "the search prunes low learning rates"
    for run in pruned:
        assert run.info.status == "KILLED"
        status = json.loads((tune / run.info.run_name / "status.json").read_text())
        history = client.get_metric_history(run.info.run_id, "history/loss")
        assert max(m.step for m in history) == status["epochs_done"] < 40
    with_model = [r for r in trials if "densecli.model_id" in r.data.tags]
    assert [r.data.tags["densecli.trial"] for r in with_model] == [str(confirmation["trial"])]
    confirm = [r for r in trials if r.data.tags.get("densecli.role") == "confirmation"]
    assert [r.info.run_name for r in confirm] == [confirmation["run"]]


def test_a_tune_is_a_parent_run_with_its_trials_and_the_confirmed_ones_model(
    everything: dict[str, Any],
) -> None:
    _check_tune(everything["store"], everything["tune"])


def test_tune_mlflow_logged_the_same_tune_as_it_ran(everything: dict[str, Any]) -> None:
    said = everything["tune_run"].stderr
    assert "MLflow: logged 9 run(s), 0 already there, 0 skipped (densecli/tiny)" in said
    _check_tune(everything["tune_store"], everything["tune"])


def test_a_sweep_nests_its_points_and_only_the_best_carries_a_model(
    everything: dict[str, Any],
) -> None:
    sweep = everything["sweep"]
    by = _by_folder(everything["store"])
    parent = by[sweep.name]
    points = {p.name: by[p.name] for p in sweep.iterdir() if p.is_dir()}
    assert {r.data.tags["mlflow.parentRunId"] for r in points.values()} == {parent.info.run_id}
    with open(sweep / "results.csv", newline="") as handle:
        best = next(row["run"] for row in csv.DictReader(handle) if row["rank"] == "1")
    assert [n for n, r in points.items() if "densecli.model_id" in r.data.tags] == [best]
    assert parent.data.tags["densecli.best_run"] == best
