"""`train.tensorboard: true`: TensorBoard event files holding exactly the recorded history."""

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import CONFIGS, invoke

pytestmark = pytest.mark.data


def _scalars(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    import tensorflow as tf

    found: dict[str, list[tuple[int, float]]] = {}
    for path in log_dir.glob("events.out.tfevents.*"):
        for record in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                number = float(tf.make_ndarray(value.tensor))
                found.setdefault(value.tag, []).append((int(event.step), number))
    return found


def test_cv_run_writes_train_and_eval_logs_per_fold(runner: CliRunner, runs_dir: Path) -> None:
    result = invoke(
        runner, "cv", str(CONFIGS / "pima.yaml"), "--folds", "2", "--set", "train.epochs=2",
        "--set", "train.tensorboard=true", "--runs-dir", str(runs_dir),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (run,) = [p for p in runs_dir.iterdir() if p.is_dir()]
    logs = run / "tensorboard"
    assert sorted(p.relative_to(logs).as_posix() for p in logs.glob("*/*")) == [
        "fold-01/eval", "fold-01/train", "fold-02/eval", "fold-02/train",
    ]  # fmt: skip
    with (run / "history.csv").open() as handle:
        history = [row for row in csv.DictReader(handle) if row["job"] == "fold-02"]
    train, evaluation = _scalars(logs / "fold-02" / "train"), _scalars(logs / "fold-02" / "eval")
    assert set(train) == set(evaluation) == {"loss", "accuracy"}
    assert [step for step, _ in train["loss"]] == [1, 2]
    assert np.allclose([v for _, v in train["loss"]], [float(r["loss"]) for r in history])
    assert np.allclose(
        [v for _, v in evaluation["accuracy"]], [float(r["eval_accuracy"]) for r in history]
    )


def test_no_logs_unless_asked(runner: CliRunner, runs_dir: Path) -> None:
    result = invoke(
        runner, "train", str(CONFIGS / "pima.yaml"), "--set", "train.epochs=1",
        "--runs-dir", str(runs_dir),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (run,) = [p for p in runs_dir.iterdir() if p.is_dir()]
    assert not (run / "tensorboard").exists()
