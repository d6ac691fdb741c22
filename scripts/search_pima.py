"""The grid behind configs/pima-best.yaml: every point scored by `densecli cv --repeats 5`.

    python scripts/search_pima.py [--hidden 0,8,12-8] [--l2 0,0.01] [--dropout 0,0.2]
        [--lr 0.001] [--epochs 100,300] [--impute yes,no] [--penalize-output]
        [--runs-dir /tmp/pima-search]

Each point is configs/pima.yaml (batch 32, Adam) with standardized features — after median
imputation of Pima's impossible zeros unless `--impute no` — and the listed changes: relu
hidden layers (`0` = none, a plain logistic unit), an L2 penalty on the hidden layers (and
the output layer with --penalize-output), dropout, learning rate and epochs. All points
use the config's own seed (7), so all see the same 50 folds, and the logistic regression is
scored on exactly those folds. Prints a line per point and, at the end, a Markdown table,
best first. The chosen point is then checked, untouched, on other seeds by hand:
`densecli cv configs/pima-best.yaml --repeats 5 --set seed=S`.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path
from typing import Any

import yaml

from densecli.experiment import Plan, prepare, run_cv
from densecli.spec import validate_spec

ROOT = Path(__file__).resolve().parent.parent
BASE = yaml.safe_load((ROOT / "configs" / "pima.yaml").read_text())
ZERO_AS_MISSING = ["glucose", "blood_pressure", "skin_thickness", "insulin", "bmi"]
HIDDEN = {"0": [], "4": [4], "8": [8], "12-8": [12, 8], "16": [16]}


class _Silent:
    def describe(self, label: str) -> None:
        pass

    def advance(self, model_epochs: int, logs: dict[str, float]) -> None:
        pass


def point(settings: dict[str, Any], penalize_output: bool) -> dict[str, Any]:
    hidden, l2, dropout = settings["hidden"], settings["l2"], settings["dropout"]
    penalty = {"kernel_regularizer": {"l2": l2}} if l2 else {}
    layers = [
        {"units": u, "activation": "relu", "dropout": dropout, **penalty} for u in HIDDEN[hidden]
    ]
    layers.append({"units": 1, "activation": "sigmoid", **(penalty if penalize_output else {})})
    layers[0]["input_dim"] = 8
    spec = yaml.safe_load(yaml.safe_dump(BASE))
    spec["name"] = "-".join(f"{k}{v}" for k, v in settings.items())
    spec["preprocess"] = {
        "zero_as_missing": ZERO_AS_MISSING if settings["impute"] == "yes" else [],
        "standardize": True,
    }
    spec["model"]["layers"] = layers
    spec["train"].update(
        epochs=settings["epochs"],
        batch_size=32,
        optimizer={"name": "adam", "learning_rate": settings["lr"]},
    )
    return spec


def _options() -> argparse.Namespace:
    def floats(text: str) -> list[float]:
        return [float(v) for v in text.split(",")]

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hidden", type=lambda t: t.split(","), default=list(HIDDEN))
    parser.add_argument("--l2", type=floats, default=[0.0, 0.001, 0.01])
    parser.add_argument("--dropout", type=floats, default=[0.0, 0.2])
    parser.add_argument("--lr", type=floats, default=[0.001, 0.003])
    parser.add_argument("--epochs", type=lambda t: [int(v) for v in t.split(",")], default=[300])
    parser.add_argument("--impute", type=lambda t: t.split(","), default=["yes"])
    parser.add_argument("--penalize-output", action="store_true")
    parser.add_argument("--runs-dir", type=Path, default=Path("/tmp/pima-search"))
    return parser.parse_args()


def main() -> None:
    options = _options()
    keys = ("hidden", "l2", "dropout", "lr", "epochs", "impute")
    grid = itertools.product(*(getattr(options, key) for key in keys))
    rows = []
    for values in grid:
        spec = point(dict(zip(keys, values, strict=True)), options.penalize_output)
        experiment = prepare(validate_spec(spec))
        m = run_cv(experiment, options.runs_dir, _Silent(), Plan(repeats=5, notice=print)).metrics
        row = (
            m["accuracy"],
            spec["name"],
            m["accuracy_std"],
            m["logistic_regression_accuracy"],
            m["p_value"],
            m["train_seconds"],
        )
        rows.append(row)
        print(
            f"{row[1]:44s} {100 * row[0]:.2f} ± {100 * row[2]:.2f}  LR {100 * row[3]:.2f}  "
            f"p={row[4]:.3f}  {row[5]:.0f} s",
            flush=True,
        )
    print("\n| point | accuracy % | std | logistic regression % | p (vs LR) | train s |")
    print("|---|---|---|---|---|---|")
    for accuracy, name, std, logistic, p, seconds in sorted(rows, reverse=True):
        print(
            f"| {name} | {100 * accuracy:.2f} | {100 * std:.2f} | {100 * logistic:.2f} | "
            f"{p:.3f} | {seconds:.0f} |"
        )


if __name__ == "__main__":
    main()
