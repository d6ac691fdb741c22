"""`densecli show`: a run's spec, model, metrics and files, read without TensorFlow."""

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from densecli.report import dense_parameters
from densecli.spec import load_spec

from conftest import CONFIGS, ROOT, invoke


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("runs")
    args = ["cv", str(CONFIGS / "pima-uniform.yaml"), "--set", "train.epochs=1", "--folds", "2"]
    result = invoke(CliRunner(), *args, "--runs-dir", str(runs))
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in runs.iterdir() if p.is_dir()]
    return folder


def test_dense_parameter_counts() -> None:
    layers = load_spec(CONFIGS / "pima.yaml").model.layers
    assert dense_parameters(8, list(layers)) == [108, 104, 9]
    no_bias = load_spec(CONFIGS / "pima-best.yaml", ["model.layers.0.use_bias=false"])
    assert dense_parameters(8, list(no_bias.model.layers)) == [32, 5]


def test_parameter_counts_match_keras_with_maxout_and_batch_norm() -> None:
    from densecli.engine import build_model

    spec = load_spec(
        CONFIGS / "pima.yaml",
        [
            "model.layers.0.batch_norm=true",
            "model.layers.1.maxout=3",
            "model.layers.1.activation=linear",
            "model.layers.0.dropout=0.5",
        ],
    )
    assert sum(dense_parameters(8, list(spec.model.layers))) == build_model(spec, 8).count_params()


@pytest.mark.data
def test_show_prints_spec_model_metrics_and_files(runner: CliRunner, run: Path) -> None:
    result = invoke(runner, "show", str(run))
    assert result.exit_code == 0, result.output
    for text in (
        "2-fold CV",
        "kernel_initializer: uniform",  # the resolved spec
        "133",  # 8·8+8 + 8·6+6 + 6+1 parameters
        "2-fold stratified CV",  # the metrics table
        "65.1 %",
        "models/fold-02.keras",
        "learning_curves.png",
        "folds.png",
        "Command: ",
    ):
        assert text in result.output, text


@pytest.mark.data
def test_show_reads_runs_made_before_inputs_json(
    runner: CliRunner, run: Path, tmp_path: Path
) -> None:
    old = tmp_path / run.name
    subprocess.run(["cp", "-r", str(run), str(old)], check=True)
    (old / "inputs.json").unlink()
    result = invoke(runner, "show", str(old))
    assert result.exit_code == 0, result.output
    assert "8 inputs" in result.output and "133" in result.output


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "no such run folder"),
        (lambda p: p.mkdir(), "not a finished run, metrics.json is missing"),
    ],
)
def test_show_of_a_non_run_is_a_one_line_error(  # type: ignore[no-untyped-def]
    runner: CliRunner, tmp_path: Path, make, message: str
) -> None:
    folder = tmp_path / "x"
    make(folder)
    result = invoke(runner, "show", str(folder))
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {folder}: ") and message in result.output


@pytest.mark.data
def test_new_read_only_commands_do_not_import_tensorflow(run: Path, tmp_path: Path) -> None:
    script = f"""
import sys
from typer.testing import CliRunner
from densecli.cli import app
runner = CliRunner()
for args in (
    ["show", {str(run)!r}],
    ["schema"],
    ["init", {str(tmp_path / "spec.yaml")!r}],
    ["compare", {str(run.parent)!r}, "--plot", {str(tmp_path / "c.png")!r}, "--format", "json"],
    ["predict", "--help"],
):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, (args, result.output)
print(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.data
def test_show_falls_back_to_all_scores_for_unfamiliar_metrics(
    runner: CliRunner, run: Path, tmp_path: Path
) -> None:
    import json

    other = tmp_path / run.name
    subprocess.run(["cp", "-r", str(run), str(other)], check=True)
    metrics = json.loads((other / "metrics.json").read_text())
    metrics.pop("folds")  # as if written by a densecli that records it differently
    (other / "metrics.json").write_text(json.dumps(metrics))
    result = invoke(runner, "show", str(other))
    assert result.exit_code == 0, result.output
    assert "Metrics (metrics.json)" in result.output and "baseline_accuracy" in result.output
    assert "65.1 %" in result.output and "learning_curves.png" in result.output
