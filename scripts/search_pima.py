"""The grid behind configs/pima-best.yaml: every point scored by `densecli cv --repeats 5`.

    python scripts/search_pima.py [--hidden 8,16] [--l2 0,0.01] [--dropout 0,0.2]
                                  [--lr 0.001] [--epochs 100,300] [--runs-dir /tmp/pima-search]

Each point is configs/pima.yaml with standardized, zero-as-missing-imputed features and
the listed changes; all points use the config's own seed (7), so all see the same 50 folds
and the logistic regression is scored on exactly those folds. Prints a Markdown table,
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
PREPROCESS = {
    "zero_as_missing": ["glucose", "blood_pressure", "skin_thickness", "insulin", "bmi"],
    "standardize": True,
}
HIDDEN = {"0": [], "4": [4], "8": [8], "12-8": [12, 8], "16": [16]}


class _Silent:
    def describe(self, label: str) -> None:
        pass

    def advance(self, model_epochs: int, logs: dict[str, float]) -> None:
        pass


def point(hidden: str, l2: float, dropout: float, lr: float, epochs: int) -> dict[str, Any]:
    spec = yaml.safe_load(yaml.safe_dump(BASE))
    layers = [
        {
            "units": u,
            "activation": "relu",
            "dropout": dropout,
            **({"kernel_regularizer": {"l2": l2}} if l2 else {}),
        }
        for u in HIDDEN[hidden]
    ]
    layers[0]["input_dim"] = 8
    spec["name"] = f"h{hidden}-l2{l2}-do{dropout}-lr{lr}-e{epochs}"
    spec["preprocess"] = PREPROCESS
    spec["model"]["layers"] = [*layers, {"units": 1, "activation": "sigmoid"}]
    spec["train"].update(
        epochs=epochs, batch_size=32, optimizer={"name": "adam", "learning_rate": lr}
    )
    return spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)

    def floats(text: str) -> list[float]:
        return [float(v) for v in text.split(",")]

    parser.add_argument("--hidden", default=",".join(HIDDEN), help="hidden layouts, e.g. 8,12-8")
    parser.add_argument("--l2", type=floats, default=[0.0, 0.001, 0.01])
    parser.add_argument("--dropout", type=floats, default=[0.0, 0.2])
    parser.add_argument("--lr", type=floats, default=[0.001, 0.003])
    parser.add_argument("--epochs", type=lambda t: [int(v) for v in t.split(",")], default=[300])
    parser.add_argument("--runs-dir", type=Path, default=Path("/tmp/pima-search"))
    options = parser.parse_args()
    grid = itertools.product(
        options.hidden.split(","), options.l2, options.dropout, options.lr, options.epochs
    )
    rows = []
    for hidden, l2, dropout, lr, epochs in grid:
        spec = point(hidden, l2, dropout, lr, epochs)
        outcome = run_cv(
            prepare(validate_spec(spec)), options.runs_dir, _Silent(), Plan(repeats=5, notice=print)
        )
        m = outcome.metrics
        rows.append(
            (
                m["accuracy"],
                spec["name"],
                m["accuracy_std"],
                m["logistic_regression_accuracy"],
                m["p_value"],
                m["train_seconds"],
            )
        )
        print(
            f"{spec['name']:32s} {100 * m['accuracy']:.2f} ± {100 * m['accuracy_std']:.2f}  "
            f"LR {100 * m['logistic_regression_accuracy']:.2f}  p={m['p_value']:.3f}  "
            f"{m['train_seconds']:.0f} s",
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
