"""End to end: the real Pima file, the real Keras, a real runs folder, a handful of epochs."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from densecli.data import dataset_for, stratified_folds

from conftest import CONFIGS, ROOT, invoke, only_run

QUICK = ["--set", "train.epochs=3"]


@pytest.mark.data
def test_train_writes_a_complete_run_and_prints_the_references(
    runner: CliRunner, runs_dir: Path
) -> None:
    result = invoke(
        runner, "train", str(CONFIGS / "pima.yaml"), *QUICK, "--runs-dir", str(runs_dir)
    )
    assert result.exit_code == 0, result.output
    for text in ("accuracy", "ROC AUC", "65.1 %", "77.7 %", "60.3 %", "68 test rows"):
        assert text in result.output
    run = only_run(runs_dir)
    assert {p.name for p in run.iterdir()} >= {
        "config.yaml",
        "metrics.json",
        "history.csv",
        "model.keras",
        "env.json",
        "folds.json",
        "predictions.csv",
    }
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["mode"] == "split" and 0 <= metrics["accuracy"] <= 1
    assert metrics["baseline_accuracy"] == 500 / 768 and metrics["reported_best_accuracy"] == 0.777
    assert metrics["test_rows"] == 68 and sum(map(sum, metrics["confusion_matrix"])) == 68
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["train"]["epochs"] == 3 and config["data"]["train_rows"] == 700
    history = (run / "history.csv").read_text().splitlines()
    assert history[0].startswith("job,epoch,") and "eval_loss" in history[0]
    assert len(history) == 1 + 3
    env = json.loads((run / "env.json").read_text())
    assert env["seed"] == 7 and env["tensorflow"] and env["keras"].startswith("3.")


@pytest.mark.data
def test_saved_model_reproduces_the_recorded_predictions(runner: CliRunner, runs_dir: Path) -> None:
    import keras

    invoke(runner, "train", str(CONFIGS / "pima.yaml"), *QUICK, "--runs-dir", str(runs_dir))
    run = only_run(runs_dir)
    model = keras.saving.load_model(run / "model.keras")
    pima = dataset_for(None)
    outputs = model.predict(pima.features[700:], verbose=0)[:, 0]
    recorded = np.loadtxt(
        run / "predictions.csv", delimiter=",", skiprows=1, usecols=4, dtype=np.float64
    )
    assert np.allclose(outputs, recorded, atol=1e-6)


@pytest.mark.data
def test_cv_trains_every_fold_on_sklearns_folds(runner: CliRunner, runs_dir: Path) -> None:
    result = invoke(
        runner,
        "cv",
        str(CONFIGS / "pima.yaml"),
        *QUICK,
        "--folds",
        "4",
        "--runs-dir",
        str(runs_dir),
    )
    assert result.exit_code == 0, result.output
    assert "4-fold stratified CV" in result.output and "mean" in result.output
    run = only_run(runs_dir)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["mode"] == "cv" and len(metrics["fold_accuracy"]) == 4
    assert np.isclose(metrics["accuracy"], np.mean(metrics["fold_accuracy"]))
    assert np.isclose(metrics["accuracy_std"], np.std(metrics["fold_accuracy"], ddof=1))
    assert len(list((run / "models").glob("fold-*.keras"))) == 4
    folds = json.loads((run / "folds.json").read_text())["jobs"]
    expected = stratified_folds(dataset_for(None).target.astype(int), 4, seed=7)
    assert [f["test_rows"] for f in folds] == [test.tolist() for _, test in expected]
    history = (run / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 4 * 3


@pytest.mark.data
def test_cv_runs_the_default_config(runner: CliRunner, runs_dir: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(ROOT)
    result = invoke(
        runner, "cv", "--set", "train.epochs=1", "--set", "cv.folds=2", "--runs-dir", str(runs_dir)
    )
    assert result.exit_code == 0, result.output
    assert "pima-tutorial-cv" in only_run(runs_dir).name


@pytest.mark.data
def test_softmax_variant_trains_with_one_hot_labels(runner: CliRunner, runs_dir: Path) -> None:
    result = invoke(
        runner, "train", str(CONFIGS / "pima-softmax.yaml"), *QUICK, "--runs-dir", str(runs_dir)
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((only_run(runs_dir) / "metrics.json").read_text())
    assert metrics["roc_auc"] is not None


@pytest.mark.data
def test_same_spec_and_seed_give_identical_metrics(runner: CliRunner, tmp_path: Path) -> None:
    numbers = []
    for attempt in ("a", "b"):
        runs = tmp_path / attempt
        result = invoke(
            runner,
            "train",
            str(CONFIGS / "pima.yaml"),
            "--set",
            "train.epochs=10",
            "--runs-dir",
            str(runs),
        )
        assert result.exit_code == 0, result.output
        metrics = json.loads((only_run(runs) / "metrics.json").read_text())
        for volatile in ("train_seconds", "created"):
            metrics.pop(volatile)
        numbers.append(metrics)
    assert numbers[0] == numbers[1]


@pytest.mark.data
def test_compare_lists_runs_best_first_and_skips_a_broken_one(
    runner: CliRunner, runs_dir: Path
) -> None:
    for seed in ("1", "2"):
        result = invoke(
            runner,
            "train",
            str(CONFIGS / "pima.yaml"),
            *QUICK,
            "--set",
            f"seed={seed}",
            "--runs-dir",
            str(runs_dir),
        )
        assert result.exit_code == 0, result.output
    broken = runs_dir / "20990101-000000-broken-split"
    broken.mkdir()
    (broken / "metrics.json").write_text("{not json")
    (broken / "config.yaml").write_text("name: broken\n")
    (runs_dir / ".20990101-000000-running-split.x").mkdir()  # a run still being written

    result = invoke(runner, "compare", str(runs_dir))
    assert result.exit_code == 0, result.output
    assert f"warning: {broken}: skipped" in result.output
    assert "running" not in result.output
    lines = (runs_dir / "compare.csv").read_text().splitlines()
    assert lines[0].startswith("run,name,mode,accuracy %,vs baseline (pts),vs 77.7 % (pts),AUC")
    accuracies = [float(line.split(",")[3]) for line in lines[1:]]
    assert len(accuracies) == 2 and accuracies == sorted(accuracies, reverse=True)
    assert (runs_dir / "compare.md").read_text().startswith("| run | name | mode |")


def test_compare_of_a_missing_folder_is_an_error(runner: CliRunner, tmp_path: Path) -> None:
    result = invoke(runner, "compare", str(tmp_path / "nowhere"))
    assert result.exit_code == 2
    assert "no such runs folder" in result.output


@pytest.mark.data
def test_validate_prints_resolved_spec_and_parameter_count(runner: CliRunner) -> None:
    result = invoke(runner, "validate", str(CONFIGS / "pima-uniform.yaml"), "--set", "seed=4")
    assert result.exit_code == 0, result.output
    assert "seed: 4" in result.output and "kernel_initializer: uniform" in result.output
    assert "total" in result.output and "133" in result.output  # 8·8+8 + 8·6+6 + 6+1
    shown = re.search(r"Memory, TensorFlow included: about ([\d.]+) MB to train \(train\), "
                      r"([\d.]+) MB for 10 folds \(cv\)", result.output)  # fmt: skip
    assert shown is not None and 750 <= float(shown[1]) <= float(shown[2]) < 800, result.output


def test_a_failed_spec_leaves_no_run_behind(runner: CliRunner, runs_dir: Path) -> None:
    result = invoke(
        runner,
        "train",
        str(CONFIGS / "pima.yaml"),
        "--set",
        "train.loss=nope",
        "--runs-dir",
        str(runs_dir),
    )
    assert result.exit_code == 2
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_read_only_commands_do_not_import_tensorflow(tmp_path: Path) -> None:
    script = f"""
import sys
from typer.testing import CliRunner
from densecli.cli import app
runner = CliRunner()
assert runner.invoke(app, ["--help"]).exit_code == 0
assert runner.invoke(app, ["compare", {str(tmp_path)!r}]).exit_code == 0
bad = runner.invoke(app, ["validate", {str(CONFIGS / "pima.yaml")!r}, "--set", "train.epochs=0"])
assert bad.exit_code == 2, bad.output
print(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.data
def test_training_prints_no_tensorflow_log_lines(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "densecli",
            "train",
            str(CONFIGS / "pima.yaml"),
            "--set",
            "train.epochs=1",
            "--runs-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    for noise in ("oneDNN", "cuda", "absl", "cpu_feature_guard", "I0000", "E0000"):
        assert noise not in done.stderr + done.stdout


@pytest.mark.data
def test_validate_lists_every_keras_layer_a_spec_layer_becomes(runner: CliRunner) -> None:
    result = invoke(
        runner,
        "validate",
        str(CONFIGS / "pima.yaml"),
        "--set",
        "model.layers.0.batch_norm=true",
        "--set",
        "model.layers.0.dropout=0.2",
        "--set",
        "model.layers.1.maxout=2",
        "--set",
        "model.layers.1.activation=linear",
    )
    assert result.exit_code == 0, result.output
    for kind in ("BatchNormalization", "Activation", "Dropout", "Maxout"):
        assert kind in result.output
    assert "373" in result.output  # 108 + 48 + (12·16 + 16) + (8 + 1)


@pytest.mark.data
def test_the_progress_bar_is_not_cut_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    # 100 models × 100 epochs: at 80 columns the count was cut to "10000/1…".
    args = [str(CONFIGS / "pima.yaml"), "--set", "train.epochs=100", "--seeds", "10"]
    done = subprocess.run(
        [sys.executable, "-m", "densecli", "cv", *args, "--runs-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    (bar,) = [line for line in done.stderr.splitlines() if "loss" in line]
    assert bar.startswith("100 models (compiled)") and "epoch 100/100 loss" in bar, bar
    assert bar.rstrip().endswith(("0:00:00", "-:--:--")) and "…" not in bar, bar
