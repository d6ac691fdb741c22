"""Choosing and formatting runs for `densecli compare`: filter by mode, sort, keep the top N.

No TensorFlow, no pandas: compare must start instantly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from densecli.compare import RunRow, to_csv, to_markdown

SORT_KEYS = (
    "accuracy", "roc_auc", "f1", "precision", "recall", "loss", "train_seconds", "created", "name"
)  # fmt: skip
FORMATS = ("table", "csv", "markdown", "json")

# Lower is better for these; every other score is best when highest.
_ASCENDING = {"loss", "train_seconds", "name"}


def _value(row: RunRow, key: str) -> Any:
    if key in {"accuracy", "roc_auc", "train_seconds", "created", "name"}:
        return getattr(row, key)
    return row.metrics.get(key)


def sort_runs(rows: Sequence[RunRow], key: str) -> list[RunRow]:
    """Best first by `key`; runs without that score go last; ties keep folder order."""

    def order(row: RunRow) -> tuple[bool, Any, str]:
        value = _value(row, key)
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        if missing:
            return (True, 0, row.run)
        if key in _ASCENDING or isinstance(value, str):
            ranked = value if key in _ASCENDING else _descending_text(value)
            return (False, ranked, row.run)
        return (False, -float(value), row.run)

    return sorted(rows, key=order)


def _descending_text(text: str) -> tuple[int, ...]:
    # "created" is an ISO date: newest first means larger text first.
    return tuple(-ord(c) for c in text)


def select_runs(
    rows: Sequence[RunRow], sort: str = "accuracy", mode: str | None = None, top: int | None = None
) -> list[RunRow]:
    chosen = [r for r in rows if mode is None or r.mode == mode]
    chosen = sort_runs(chosen, sort)
    return chosen[:top] if top is not None else chosen


_LABELS = {"roc_auc": "ROC AUC", "f1": "F1", "train_seconds": "training time"}


def describe_order(sort: str, mode: str | None) -> str:
    """A title saying which runs are shown in which order, e.g. "CV runs, best F1 first"."""
    what = {"split": "Split runs", "cv": "CV runs"}.get(mode or "", "Runs")
    if sort == "name":
        return f"{what}, by name"
    if sort == "created":
        return f"{what}, newest first"
    best = "shortest" if sort == "train_seconds" else "lowest" if sort == "loss" else "best"
    return f"{what}, {best} {_LABELS.get(sort, sort)} first"


def to_json(rows: Sequence[RunRow]) -> str:
    """Numbers as recorded (fractions, seconds), for scripts; the text table rounds them."""
    records = [
        {
            "run": r.run,
            "name": r.name,
            "mode": r.mode,
            "accuracy": r.accuracy,
            "accuracy_std": r.accuracy_std,
            **{k: r.metrics.get(k) for k in ("loss", "precision", "recall", "f1")},
            "roc_auc": r.roc_auc,
            "baseline_accuracy": r.baseline,
            "reported_best_accuracy": r.reported_best,
            "epochs": r.epochs,
            "batch_size": r.batch_size,
            "layers": r.layers,
            "train_seconds": r.train_seconds,
            "created": r.created,
        }
        for r in rows
    ]
    return json.dumps(records, indent=2) + "\n"


def render_text(cells: list[dict[str, str]], rows: Sequence[RunRow], fmt: str) -> str:
    if fmt == "csv":
        return to_csv(cells)
    if fmt == "markdown":
        return to_markdown(cells)
    return to_json(rows)
