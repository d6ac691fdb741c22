"""MLflow tracking, read back from a real local store (SQLite in a temporary folder).

One runs folder gets a split run logged by `train --mlflow` and a two-point sweep by
`sweep --mlflow`, then a CV run trained without the flag is logged after the fact by
`densecli mlflow`; a second `densecli mlflow` adds nothing. Each train or cv run carries its
model, a sweep only its best point; every run names its table as a dataset input.
"""

from __future__ import annotations

import csv
import json
import shlex
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from conftest import invoke, write_spec

mlflow = pytest.importorskip("mlflow")

EPOCHS = 3


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    """Every scalar of the config by its dotted path (lists by index)."""
    children: Iterable[tuple[Any, Any]]
    if isinstance(value, dict) and value:
        children = value.items()
    elif isinstance(value, list) and value:
        children = enumerate(value)
    else:
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, child in children:
        out.update(_leaves(child, f"{prefix}.{key}" if prefix else str(key)))
    return out


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("tracking")
    runs = root / "runs"
    spec = write_spec(root / "spec.yaml", train={"epochs": EPOCHS}, cv={"folds": 3})
    runner = CliRunner()
    into = ["--runs-dir", str(runs)]
    outputs = {}
    for name, args in {
        "train": ["train", str(spec), *into, "--mlflow"],
        "sweep": [
            *["sweep", str(spec), *into, "--mlflow"],
            *["--grid", "model.layers.0.units=4,6", "--workers", "1"],
        ],
        "cv": ["cv", str(spec), *into],
        "mlflow": ["mlflow", str(runs)],
        "again": ["mlflow", str(runs)],
    }.items():
        result = invoke(runner, *args)
        assert result.exit_code == 0, result.output
        outputs[name] = result.output
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("densecli/pima-tutorial")
    found = client.search_runs([experiment.experiment_id])
    by_folder = {Path(r.data.tags["densecli.run_folder"]).name: r for r in found}
    return {"runs": runs, "client": client, "found": found, "by": by_folder, "out": outputs}


def _folder(logged: dict[str, Any], suffix: str) -> Path:
    runs: Path = logged["runs"]
    (folder,) = [p for p in runs.iterdir() if p.name.endswith(suffix)]
    return folder


@pytest.mark.data
def test_each_run_is_logged_once_and_a_second_pass_adds_nothing(logged: dict[str, Any]) -> None:
    assert "logged 1 run(s), 0 already there" in logged["out"]["train"]
    assert "logged 3 run(s), 0 already there" in logged["out"]["sweep"]  # parent and 2 points
    # Only the cv run trained without --mlflow is new.
    assert "logged 1 run(s), 4 already there" in logged["out"]["mlflow"]
    assert "logged 0 run(s), 5 already there" in logged["out"]["again"]
    assert len(logged["found"]) == 5
    keys = [r.data.tags["densecli.run_key"] for r in logged["found"]]
    assert len(set(keys)) == 5
    assert all(r.info.status == "FINISHED" for r in logged["found"])


@pytest.mark.data
@pytest.mark.parametrize("suffix", ["-split", "-cv"])
def test_params_are_the_runs_config(logged: dict[str, Any], suffix: str) -> None:
    folder = _folder(logged, suffix)
    config = yaml.safe_load((folder / "config.yaml").read_text())
    params = logged["by"][folder.name].data.params
    expected = {k: v if isinstance(v, str) else json.dumps(v) for k, v in _leaves(config).items()}
    assert params == expected
    assert params["model.layers.0.units"] == "12"
    assert params["train.epochs"] == str(EPOCHS)


@pytest.mark.data
@pytest.mark.parametrize("suffix", ["-split", "-cv"])
def test_final_metrics_equal_metrics_json(logged: dict[str, Any], suffix: str) -> None:
    folder = _folder(logged, suffix)
    metrics = json.loads((folder / "metrics.json").read_text())
    logged_metrics = logged["by"][folder.name].data.metrics
    numbers = {
        k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)
    }
    assert {"accuracy", "loss", "roc_auc", "train_seconds"} <= set(numbers)
    for key, value in numbers.items():
        assert logged_metrics[key] == value, key
    low, high = metrics["accuracy_interval_95"]
    assert logged_metrics["accuracy_interval_95_low"] == low
    assert logged_metrics["accuracy_interval_95_high"] == high
    if suffix == "-cv":  # the references on the same folds
        assert (
            logged_metrics["logistic_regression_accuracy"]
            == metrics["logistic_regression_accuracy"]
        )
        assert logged_metrics["p_value"] == metrics["p_value"]


@pytest.mark.data
def test_history_has_one_step_per_epoch_mean_and_per_fold(logged: dict[str, Any]) -> None:
    folder = _folder(logged, "-cv")
    run_id = logged["by"][folder.name].info.run_id
    client = logged["client"]
    with (folder / "history.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    per_epoch: dict[int, list[float]] = defaultdict(list)
    for row in rows:
        per_epoch[int(row["epoch"])].append(float(row["loss"]))
    mean = client.get_metric_history(run_id, "history/loss")
    assert sorted(m.step for m in mean) == list(range(1, EPOCHS + 1))
    for point in mean:
        assert point.value == pytest.approx(statistics.fmean(per_epoch[point.step]), rel=1e-12)
    fold = client.get_metric_history(run_id, "fold-02/eval_accuracy")
    expected = {int(r["epoch"]): float(r["eval_accuracy"]) for r in rows if r["job"] == "fold-02"}
    assert {m.step: m.value for m in fold} == expected


@pytest.mark.data
def test_tags_and_artifacts(logged: dict[str, Any]) -> None:
    folder = _folder(logged, "-split")
    run = logged["by"][folder.name]
    metrics = json.loads((folder / "metrics.json").read_text())
    env = json.loads((folder / "env.json").read_text())
    tags = run.data.tags
    assert tags["densecli.data_sha256"] == metrics["data_sha256"]
    assert tags["densecli.engine"] == metrics["engine"] == "compiled"
    assert tags["densecli.version"] == env["densecli"]
    assert tags["densecli.command"] == shlex.join(env["command"])  # here: pytest's own
    assert tags["mlflow.runName"] == folder.name
    artifacts = {a.path for a in logged["client"].list_artifacts(run.info.run_id)}
    assert {"config.yaml", "metrics.json", "history.csv", "model.keras"} <= artifacts
    # Beside the store, hidden, so compare does not take it for an unreadable run.
    assert (logged["runs"] / ".mlflow-artifacts" / run.info.run_id).is_dir()
    result = invoke(CliRunner(), "compare", str(logged["runs"]), "--format", "csv")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output


@pytest.mark.data
def test_sweep_is_a_parent_run_with_its_points_nested(logged: dict[str, Any]) -> None:
    sweep = _folder(logged, "-sweep")
    parent = logged["by"][sweep.name]
    assert parent.data.tags["densecli.mode"] == "sweep"
    assert parent.data.params["grid.model.layers.0.units"] == "[4, 6]"
    points = [p for p in sweep.iterdir() if p.is_dir()]
    assert len(points) == 2
    for point in points:
        run = logged["by"][point.name]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.info.experiment_id == parent.info.experiment_id
        assert run.data.params["model.layers.0.units"] in {"4", "6"}
    labels = {logged["by"][p.name].data.tags["densecli.sweep_point"] for p in points}
    assert labels == {"p001", "p002"}


@pytest.mark.data
def test_unreachable_server_stops_before_training(runner: CliRunner, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    spec = write_spec(tmp_path / "spec.yaml", train={"epochs": 1})
    uri = "http://127.0.0.1:9"  # the discard port: nothing listens, refused at once
    result = invoke(runner, "train", str(spec), "--runs-dir", str(runs), "--mlflow-uri", uri)
    assert result.exit_code == 2
    assert f"--mlflow-uri {uri}: cannot reach the MLflow tracking store" in result.output
    assert "--mlflow-optional" in result.output
    assert not runs.exists() or not [p for p in runs.iterdir() if p.is_dir()]

    args = ["train", str(spec), "--runs-dir", str(runs), "--mlflow-uri", uri, "--mlflow-optional"]
    result = invoke(runner, *args)
    assert result.exit_code == 0, result.output
    assert "training without MLflow logging" in result.output
    assert len([p for p in runs.iterdir() if p.name.endswith("-split")]) == 1


def test_without_mlflow_installed_the_flag_says_how_to_install(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` now fails
    result = invoke(runner, "mlflow", str(tmp_path))
    assert result.exit_code == 2
    assert "pip install 'densecli[mlflow]'" in result.output


def test_without_what_a_model_needs_the_flag_says_how_to_install(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    result = invoke(runner, "mlflow", str(tmp_path))
    assert result.exit_code == 2
    assert "a logged run's model needs onnxruntime" in result.output
    assert "pip install 'densecli[mlflow]'" in result.output
    assert not (tmp_path / "mlflow.db").exists()


def test_the_cli_imports_mlflow_only_when_logging() -> None:
    import subprocess

    probe = "import sys, densecli.cli; print(sorted({'mlflow', 'tensorflow'} & set(sys.modules)))"
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "[]"


@pytest.mark.data
def test_runs_carry_their_model_and_a_sweep_only_its_best_point(logged: dict[str, Any]) -> None:
    with_model = {
        name: run.data.tags["densecli.model_id"]
        for name, run in logged["by"].items()
        if "densecli.model_id" in run.data.tags
    }
    sweep = _folder(logged, "-sweep")
    points = {p.name: json.loads((p / "metrics.json").read_text()) for p in sweep.iterdir()
              if p.is_dir()}  # fmt: skip
    best = max(points, key=lambda name: points[name]["accuracy"])
    assert set(with_model) == {_folder(logged, "-split").name, _folder(logged, "-cv").name, best}
    client = logged["client"]
    experiment = client.get_experiment_by_name("densecli/pima-tutorial").experiment_id
    models = client.search_logged_models([experiment])
    assert sorted(m.model_id for m in models) == sorted(with_model.values())  # each once
    for name, model_id in with_model.items():
        run = logged["by"][name]
        assert [o.model_id for o in run.outputs.model_outputs] == [model_id]
        assert client.get_logged_model(model_id).source_run_id == run.info.run_id


@pytest.mark.data
def test_the_table_is_a_dataset_input_with_its_whole_sha256_as_a_tag(
    logged: dict[str, Any],
) -> None:
    folder = _folder(logged, "-split")
    metrics = json.loads((folder / "metrics.json").read_text())
    inputs = json.loads((folder / "inputs.json").read_text())
    (given,) = logged["by"][folder.name].inputs.dataset_inputs
    dataset = given.dataset
    assert dataset.name == "pima-indians-diabetes"
    assert dataset.digest == metrics["data_sha256"][:36]  # MLflow's longest digest
    assert json.loads(dataset.source) == {"uri": str(Path(inputs["source"]).resolve())}
    tags = {t.key: t.value for t in given.tags}
    assert tags["densecli.data_sha256"] == metrics["data_sha256"]
    assert tags["mlflow.data.context"] == "training"
    columns = json.loads(dataset.schema)["mlflow_colspec"]
    assert [c["name"] for c in columns] == [*inputs["features"], inputs["target"]]
    assert {c["type"] for c in columns[:-1]} == {"double"} and columns[-1]["type"] == "long"


@pytest.mark.data
def test_a_sweeps_parent_run_spans_its_points(logged: dict[str, Any]) -> None:
    sweep = _folder(logged, "-sweep")
    parent = logged["by"][sweep.name].info
    created = json.loads((sweep / "sweep.json").read_text())["created"]
    assert parent.start_time == int(datetime.fromisoformat(created).timestamp() * 1000)
    points = [logged["by"][p.name].info for p in sweep.iterdir() if p.is_dir()]
    assert parent.start_time <= min(p.start_time for p in points)
    assert parent.end_time >= max(p.end_time for p in points) > parent.start_time
