"""`densecli compare` options: --format, --sort, --mode, --top, --plot; and examples in --help."""

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from densecli.cli import app

from conftest import assert_sensible_png, invoke

# Run records as `compare` reads them: (folder, mode, accuracy, std, loss, f1, roc_auc).
RUNS = [
    ("20250101-000001-a-split", "split", 0.70, None, 0.60, 0.50, 0.80),
    ("20250101-000002-b-cv", "cv", 0.75, 0.03, 0.55, 0.45, 0.82),
    ("20250101-000003-c-split", "split", 0.65, None, 0.50, 0.60, 0.70),
    ("20250101-000004-d-cv", "cv", 0.72, 0.02, 0.70, 0.40, None),
]


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    for folder, mode, accuracy, std, loss, f1, auc in RUNS:
        run = tmp_path / "runs" / folder
        run.mkdir(parents=True)
        metrics: dict[str, Any] = {
            "mode": mode, "accuracy": accuracy, "accuracy_std": std, "loss": loss, "f1": f1,
            "roc_auc": auc, "baseline_accuracy": 500 / 768, "reported_best_accuracy": 0.777,
            "train_seconds": 1.0, "created": f"2025-01-01T00:00:0{folder[14]}",
        }  # fmt: skip
        (run / "metrics.json").write_text(json.dumps(metrics))
        config = {"name": folder.split("-")[2], "train": {"epochs": 3, "batch_size": 64},
                  "model": {"layers": [{"units": 12}, {"units": 1}]}}  # fmt: skip
        (run / "config.yaml").write_text(yaml.safe_dump(config))
    return tmp_path / "runs"


def _letters(names: list[str]) -> str:
    return "".join(name.split("-")[2] for name in names)


def test_json_sorted_by_loss_lowest_first(runner: CliRunner, runs: Path) -> None:
    result = invoke(runner, "compare", str(runs), "--format", "json", "--sort", "loss")
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert _letters([r["run"] for r in records]) == "cbad"
    assert records[0]["loss"] == 0.50 and records[0]["accuracy"] == 0.65


def test_csv_of_the_best_cv_run(runner: CliRunner, runs: Path) -> None:
    result = invoke(runner, "compare", str(runs), "--format", "csv", "--mode", "cv", "--top", "1")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["run"] for r in rows] == ["20250101-000002-b-cv"]
    assert rows[0]["accuracy %"] == "75.00 ± 3.00"


def test_markdown_sorted_by_f1_and_missing_scores_last(runner: CliRunner, runs: Path) -> None:
    result = invoke(runner, "compare", str(runs), "--format", "markdown", "--sort", "f1")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("| run | name | mode |")
    assert _letters([line.split(" | ")[0][2:] for line in lines[2:]]) == "cabd"
    result = invoke(runner, "compare", str(runs), "--format", "json", "--sort", "roc_auc")
    assert _letters([r["run"] for r in json.loads(result.stdout)]) == "bacd"


def test_table_title_says_the_order(runner: CliRunner, runs: Path) -> None:
    result = invoke(runner, "compare", str(runs), "--sort", "created", "--top", "2")
    assert result.exit_code == 0, result.output
    assert "Runs, newest first (top 2)" in result.output
    written = list(csv.DictReader(io.StringIO((runs / "compare.csv").read_text())))
    assert _letters([r["run"] for r in written]) == "dc"  # the files hold the table shown


def test_plot_draws_the_selected_runs(runner: CliRunner, runs: Path, tmp_path: Path) -> None:
    picture = tmp_path / "comparison.png"
    result = invoke(runner, "compare", str(runs), "--plot", str(picture))
    assert result.exit_code == 0, result.output
    assert_sensible_png(picture)
    assert str(picture) in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--plot", "PLOTDIR/c.txt"], "c.txt: unsupported picture type; name the file .png"),
        (["--mode", "cv", "--plot", "PLOTDIR/none/c.png"], "c.png: cannot write the plot"),
        (["--format", "yaml"], "Invalid value for '--format'"),
        (["--sort", "speed"], "Invalid value for '--sort'"),
        (["--top", "0"], "Invalid value for '--top'"),
    ],
)
def test_bad_compare_options_are_refused(
    runner: CliRunner, runs: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    filled = [a.replace("PLOTDIR", str(tmp_path)) for a in args]
    result = invoke(runner, "compare", str(runs), *filled)
    assert result.exit_code == 2
    assert message in result.output
    assert not list(tmp_path.glob("**/c.*"))


def test_plot_with_no_matching_run_is_an_error(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    picture = tmp_path / "c.png"
    result = invoke(runner, "compare", str(tmp_path / "runs"), "--plot", str(picture))
    assert result.exit_code == 2
    assert "nothing to plot" in result.output and not picture.exists()


@pytest.mark.parametrize("command", sorted(typer.main.get_command(app).commands))  # type: ignore[attr-defined]
def test_every_command_help_shows_an_example(runner: CliRunner, command: str) -> None:
    result = invoke(runner, command, "--help")
    assert result.exit_code == 0, result.output
    assert "Example: " in result.output and f"densecli {command}" in result.output


def test_cli_choices_are_the_ones_densecli_implements() -> None:
    from typing import get_args

    from densecli import runs

    assert get_args(runs.SortKey) == runs.sort_keys()  # the Literal the CLI takes as it is


def test_plot_draws_one_panel_per_task(runs: Path) -> None:
    from densecli.report._plots import comparison_figure
    from densecli.runs import collect_runs

    run = runs / "20250101-000005-e-cv"
    run.mkdir()
    metrics = {"mode": "cv", "task": "regression", "rmse": 55.0, "rmse_std": 4.0, "loss": 3000.0,
               "mae": 44.0, "r2": 0.45, "train_seconds": 1.0, "ridge_rmse": 54.0,
               "mean_rule_rmse": 77.0, "created": "2025-01-01T00:00:05"}  # fmt: skip
    (run / "metrics.json").write_text(json.dumps(metrics))
    config = {"name": "e", "train": {"epochs": 3, "batch_size": 64},
              "model": {"layers": [{"units": 12}, {"units": 1}]}}  # fmt: skip
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    rows, _ = collect_runs(runs)
    figure = comparison_figure(rows)
    panels = {ax.get_xlabel(): [t.get_text() for t in ax.get_yticklabels()] for ax in figure.axes}
    assert len(panels) == 2, panels  # accuracy in % and RMSE share no axis
    accuracy = next(labels for label, labels in panels.items() if "accuracy" in label)
    rmse = next(labels for label, labels in panels.items() if "RMSE" in label)
    assert sorted(label.split(" ")[0] for label in accuracy) == sorted(r[0] for r in RUNS)
    assert [label.split(" ")[0] for label in rmse] == ["20250101-000005-e-cv"]
