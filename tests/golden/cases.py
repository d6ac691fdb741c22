"""The cv runs whose numbers must not move when the code around the engine changes.

`python tests/golden/cases.py OUT.json` records them with whatever densecli is importable
(`PYTHONPATH=<an older checkout>` records that checkout's numbers); `tests/test_same_numbers.py`
runs the same cases and compares. `same-numbers.json` was recorded with commit 74e3929, the
last commit before the columnar data path (issues 19 and 20).
"""

from __future__ import annotations

import csv
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
EPOCHS = ["--set", "train.epochs=30"]
# The scores compared, per task: per fold, and the references on the same folds.
KEYS = {
    "classification": (
        "fold_accuracy", "loss", "accuracy", "roc_auc", "majority_rule_accuracy",
        "logistic_regression_fold_accuracy",
    ),
    "regression": ("fold_rmse", "loss", "rmse", "r2", "ridge_fold_rmse"),
}  # fmt: skip


def write_messy_table(folder: Path) -> Path:
    """Iris with a text column `site` and empty / NA / ? cells in both kinds of column."""
    from sklearn.datasets import load_iris

    iris = load_iris()
    order = np.random.default_rng(0).permutation(150)
    sites = ["north", "south", "east"]
    path = folder / "messy.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["sepal_length", "sepal_width", "petal_length", "petal_width", "site",
                         "species"])  # fmt: skip
        for i, row in enumerate(order):
            cells = [repr(float(v)) for v in iris.data[row]]
            if i % 9 == 4:
                cells[1] = ["", "NA", "?"][i % 3]
            site = sites[(i * 7) % 3] if i % 11 else ""
            writer.writerow([*cells, site, str(iris.target_names[iris.target[row]])])
    return path


def _messy_spec(folder: Path, table: Path) -> Path:
    spec = {
        "name": "messy",
        "seed": 3,
        "data": {"path": str(table), "target": "species"},
        "preprocess": {"impute": "median", "standardize": True},
        "model": {
            "layers": [{"units": 8, "activation": "relu"}, {"units": 3, "activation": "softmax"}]
        },
        "train": {"loss": "categorical_crossentropy", "epochs": 30, "batch_size": 16},
    }
    path = folder / "messy.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def cases(folder: Path) -> dict[str, list[str]]:
    """Each case's `densecli cv` arguments (without --runs-dir)."""
    messy = _messy_spec(folder, write_messy_table(folder))
    return {
        "pima": [str(CONFIGS / "pima.yaml"), *EPOCHS],
        "iris": [str(CONFIGS / "iris.yaml"), *EPOCHS],
        "diabetes": [str(CONFIGS / "diabetes-regression.yaml"), *EPOCHS],
        "messy": [str(messy), "--folds", "5"],
    }


def scores(run: Path) -> dict[str, Any]:
    metrics = json.loads((run / "metrics.json").read_text())
    task = metrics.get("task", "classification")
    return {"task": task, **{key: metrics[key] for key in KEYS[task]}}


def run_case(args: list[str], runs: Path) -> dict[str, Any]:
    from typer.testing import CliRunner

    from densecli.cli import app

    result = CliRunner().invoke(app, ["cv", *args, "--runs-dir", str(runs)])
    assert result.exit_code == 0, result.output
    (run,) = [p for p in runs.iterdir() if p.name.endswith("-cv")]
    return scores(run)


def record(out: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        found = {name: run_case(args, folder / name) for name, args in cases(folder).items()}
    out.write_text(json.dumps(found, indent=2) + "\n")


if __name__ == "__main__":
    record(Path(sys.argv[1]))
