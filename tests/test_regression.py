"""Regression end to end: scikit-learn's diabetes data as a CSV, a linear output unit, RMSE."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from conftest import CONFIGS, invoke, run_densecli


@pytest.fixture(scope="module")
def diabetes_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes()
    path = tmp_path_factory.mktemp("data") / "diabetes.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*bunch.feature_names, "progression"])
        for features, target in zip(bunch.data, bunch.target, strict=True):
            writer.writerow([*map(repr, features.tolist()), repr(float(target))])
    return path


def _run(runner: CliRunner, *args: str) -> Path:
    result = invoke(runner, *args)
    assert result.exit_code == 0, result.output
    runs = Path(args[args.index("--runs-dir") + 1])
    (run,) = [p for p in runs.iterdir() if p.is_dir() and p.name.endswith(("-cv", "-split"))]
    return run


@pytest.mark.data
def test_cv_reaches_ridge_regression_on_the_same_folds(
    runner: CliRunner, runs_dir: Path, diabetes_csv: Path
) -> None:
    config = str(CONFIGS / "diabetes-regression.yaml")
    result = invoke(runner, "cv", config, "--data", str(diabetes_csv), "--runs-dir", str(runs_dir))
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "task: regression (a numeric target with 214 values" in text
    assert "ridge regression, standardized, same folds" in text
    (run,) = list(runs_dir.iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["task"] == "regression" and "one linear output unit" in metrics["task_reason"]
    assert metrics["r2"] >= metrics["ridge_r2"] - 0.05, (metrics["r2"], metrics["ridge_r2"])
    assert 0.4 < metrics["ridge_r2"] < 0.55  # RidgeCV gets about 0.48 on these folds
    assert metrics["rmse"] == pytest.approx(np.mean(metrics["fold_rmse"]))
    assert metrics["mean_rule_rmse"] > metrics["rmse"]  # far better than the mean
    history = (run / "history.csv").read_text().splitlines()[0].split(",")
    assert history[:6] == ["job", "epoch", "loss", "rmse", "eval_loss", "eval_rmse"]
    assert (run / "predicted.png").is_file() and (run / "folds.png").is_file()


@pytest.mark.data
def test_predict_gives_the_recorded_predictions_in_the_targets_units(
    runner: CliRunner, runs_dir: Path, diabetes_csv: Path, tmp_path: Path
) -> None:
    config = str(CONFIGS / "diabetes-regression.yaml")
    run = _run(
        runner, "train", config, "--data", str(diabetes_csv), "--set", "train.epochs=20",
        "--runs-dir", str(runs_dir),
    )  # fmt: skip
    recorded = list(csv.DictReader((run / "predictions.csv").open()))
    rows = diabetes_csv.read_text().splitlines()
    scored = tmp_path / "rows.csv"
    scored.write_text("\n".join([rows[0]] + [rows[1 + int(r["row"])] for r in recorded]) + "\n")
    out = tmp_path / "out.csv"
    result = invoke(runner, "predict", str(run), str(scored), "-o", str(out))
    assert result.exit_code == 0, result.output
    predicted = [float(r["predicted"]) for r in csv.DictReader(out.open())]
    assert np.allclose(predicted, [float(r["predicted"]) for r in recorded], rtol=1e-5)
    targets = np.array([float(r["target"]) for r in recorded])
    assert targets.min() >= 25 and np.abs(np.array(predicted) - targets).mean() < 100  # units


@pytest.mark.data
def test_compare_lists_regression_runs_apart_lowest_rmse_first(
    runner: CliRunner, runs_dir: Path, diabetes_csv: Path
) -> None:
    config = str(CONFIGS / "diabetes-regression.yaml")
    for epochs in ("2", "30"):
        args = ("--data", str(diabetes_csv), "--set", f"train.epochs={epochs}")
        result = invoke(runner, "cv", config, "--folds", "3", *args, "--runs-dir", str(runs_dir))
        assert result.exit_code == 0, result.output
    pima = invoke(
        runner, "train", str(CONFIGS / "pima.yaml"), "--set", "train.epochs=2",
        "--runs-dir", str(runs_dir),
    )  # fmt: skip
    assert pima.exit_code == 0, pima.output
    result = invoke(runner, "compare", str(runs_dir), "--format", "json")
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    regression = [r for r in records if "rmse" in r]
    assert len(regression) == 2 and regression[0]["rmse"] <= regression[1]["rmse"]
    shown = invoke(runner, "compare", str(runs_dir)).output
    assert "Classification runs, best accuracy first" in shown
    assert "Regression runs, lowest RMSE first" in shown


@pytest.mark.data
def test_a_regression_sweep_ranks_points_by_rmse(
    runner: CliRunner, runs_dir: Path, diabetes_csv: Path
) -> None:
    result = invoke(
        runner, "sweep", str(CONFIGS / "diabetes-regression.yaml"), "--data", str(diabetes_csv),
        "--grid", "train.epochs=2,40", "--folds", "3", "--workers", "1", "--runs-dir",
        str(runs_dir),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (sweep,) = list(runs_dir.iterdir())
    rows = list(csv.DictReader((sweep / "results.csv").open()))
    assert [r["rank"] for r in rows] == ["1", "2"]
    assert float(rows[0]["RMSE"]) < float(rows[1]["RMSE"]) and rows[0]["train.epochs"] == "40"
    assert "mean of training targets" in (sweep / "results.md").read_text()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["task=regression", "model.layers.1.activation=softmax"],
            "model.layers.1.activation: softmax squeezes a regression's prediction into 0..1",
        ),
        (
            ["task=regression", "model.layers.1.units=3"],
            "model.layers.1.units: a regression predicts one value",
        ),
        (
            ["task=regression", "train.loss=binary_crossentropy"],
            "train.loss: binary_crossentropy is not a regression loss",
        ),
        (
            ["model.layers.1.activation=sigmoid", "train.loss=binary_crossentropy"],
            "task: cannot tell whether column 'progression' (214 distinct values) holds classes",
        ),
    ],
)
def test_a_regression_that_cannot_work_is_refused(
    runner: CliRunner, diabetes_csv: Path, overrides: list[str], message: str
) -> None:
    sets = [a for o in overrides for a in ("--set", o)]
    config = str(CONFIGS / "diabetes-regression.yaml")
    result = invoke(runner, "validate", config, "--data", str(diabetes_csv), *sets)
    assert result.exit_code == 2
    assert f"error: {message}" in " ".join(result.output.split())


@pytest.mark.data
def test_a_regression_tune_ranks_its_references_among_the_trials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ranked table is task-generic: a regression tune places the ridge regression and the
    boosting on the same folds, and the mean rule, as named rows where their RMSE ranks."""
    monkeypatch.setenv("COLUMNS", "200")  # the whole table on one line a row
    search = tmp_path / "search.yaml"
    search.write_text(
        yaml.safe_dump(
            {
                "base": str(CONFIGS / "diabetes-regression.yaml"),
                "name": "regtune",
                "set": {"train.epochs": 20, "cv.folds": 3},
                "grid": {
                    "model.layers.0.units": [4, 16],
                    "train.optimizer.learning_rate": {"low": 0.001, "high": 0.05, "log": True},
                },
            }
        )
    )
    runs = tmp_path / "runs"
    args = ("--trials", "4", "--batch", "2", "--sampler", "random", "--confirm-repeats", "0")
    result = run_densecli("tune", str(search), *args, "--runs-dir", str(runs))
    assert result.returncode == 0, result.stderr
    (folder,) = runs.iterdir()
    trial = json.loads(next(folder.glob("*-t0000-cv/metrics.json")).read_text())
    ranked = [row for line in result.stdout.splitlines() if (row := _rmse_of(line))]
    names = [name for name, _ in ranked]
    assert "— ridge regression (same folds)" in names, result.stdout
    assert "— mean of training targets" in names
    ridge = dict(ranked)["— ridge regression (same folds)"]
    assert ridge == pytest.approx(trial["ridge_rmse"], abs=0.005)
    scores = [score for _, score in ranked]
    assert scores == sorted(scores)  # each reference stands where its RMSE ranks


def _rmse_of(line: str) -> tuple[str, float] | None:
    """A ranked table row's name (trial number or reference) and RMSE, or None for others."""
    cells = [cell.strip() for cell in line.split("│")]
    if len(cells) < 6 or not cells[2] or cells[2] == "trial":
        return None
    try:
        return cells[2], float(cells[5])
    except ValueError:
        return None
