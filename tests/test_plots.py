"""Plots: every run gets valid PNG pictures of a sensible size, drawn from its records."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from densecli.report import write_run_plots

from conftest import CONFIGS, assert_sensible_png, invoke, only_run, png_size


@pytest.mark.data
def test_train_writes_learning_curves(runner: CliRunner, runs_dir: Path) -> None:
    result = invoke(
        runner, "train", str(CONFIGS / "pima.yaml"), "--set", "train.epochs=2",
        "--runs-dir", str(runs_dir),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    run = only_run(runs_dir)
    assert_sensible_png(run / "learning_curves.png")
    assert not (run / "folds.png").exists()


@pytest.mark.data
def test_cv_writes_learning_curves_and_folds(runner: CliRunner, runs_dir: Path) -> None:
    result = invoke(
        runner, "cv", str(CONFIGS / "pima.yaml"), "--set", "train.epochs=2", "--folds", "3",
        "--runs-dir", str(runs_dir),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    run = only_run(runs_dir)
    assert_sensible_png(run / "learning_curves.png")
    assert_sensible_png(run / "folds.png")


def test_plots_without_an_accuracy_metric_or_reported_best(tmp_path: Path) -> None:
    # A run on other data, trained with metrics: [] — loss only, no 77.7 % line.
    (tmp_path / "history.csv").write_text(
        "job,epoch,loss,eval_loss\n"
        + "".join(f"fold-0{j},{e},{1 / e + j / 10},{1.2 / e}\n" for j in (1, 2) for e in (1, 2, 3))
    )
    metrics = {
        "mode": "cv", "name": "other", "epochs": 3, "folds": 2, "fold_accuracy": [0.7, 0.8],
        "accuracy_std": 0.07, "baseline_accuracy": 0.6, "reported_best_accuracy": None,
    }  # fmt: skip
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    written = write_run_plots(tmp_path)
    assert [p.name for p in written] == ["learning_curves.png", "folds.png"]
    for path in written:
        assert_sensible_png(path)
    assert png_size(tmp_path / "learning_curves.png")[0] < 1000  # one panel, not two


def test_loss_axis_is_fitted_to_the_later_epochs() -> None:
    from matplotlib.figure import Figure

    from densecli.report._plots import _focus_on_later_epochs

    rows = [
        {"job": "split", "epoch": float(e), "loss": 40.0 if e == 1 else 0.5 - e / 1000,
         "eval_loss": 0.6}
        for e in range(1, 101)
    ]  # fmt: skip
    ax = Figure().subplots()
    _focus_on_later_epochs(ax, rows)
    low, high = ax.get_ylim()
    assert 0.3 < low < 0.41 and 0.6 < high < 0.7  # the 40.0 of epoch 1 is off the chart
    steady = Figure().subplots()
    _focus_on_later_epochs(steady, [{**r, "loss": 0.5} for r in rows])
    assert steady.get_ylim() == (0.0, 1.0)  # untouched: nothing to focus on
