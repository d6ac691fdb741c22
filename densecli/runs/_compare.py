"""`densecli compare`: finished runs in one table, best first, in the format asked for.

Reads files only (no TensorFlow, no pandas): compare must start instantly. A run is a folder
holding metrics.json and config.yaml; its task (`densecli.tasks`) says which score ranks
it and which columns show it. Hidden folders are runs still being written (or that died
while writing) and are not results; any other folder that cannot be read is named in a
warning and skipped. Runs that stopped early are listed apart (`densecli.runs._unfinished`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from densecli.errors import RunsError
from densecli.runs._unfinished import UnfinishedRun, unfinished_cells
from densecli.runs.files import (
    COMPARE_CSV,
    COMPARE_MD,
    METRICS,
    SavedRun,
    csv_text,
    is_sweep,
    is_unfinished,
    read_run,
    write_text,
)
from densecli.tables import to_markdown
from densecli.tasks import TaskView, all_views, view_for

# Every run has these, whatever its task; True where higher is better.
GENERAL_SORT_KEYS = {"train_seconds": False, "created": True, "name": False}
# compare's choices, declared once: the command line takes these Literals as they are.
OutputFormat = Literal["table", "csv", "markdown", "json"]
FORMATS: tuple[OutputFormat, ...] = get_args(OutputFormat)
# Every task's sort keys, then GENERAL_SORT_KEYS (a test keeps this equal to sort_keys()).
SortKey = Literal[
    "accuracy", "roc_auc", "f1", "precision", "recall", "loss", "rmse", "mae", "r2",
    "train_seconds", "created", "name",
]  # fmt: skip
Mode = Literal["split", "cv"]
_LABELS = {
    "roc_auc": "ROC AUC", "f1": "F1", "train_seconds": "training time", "rmse": "RMSE",
    "mae": "MAE", "r2": "R²",
}  # fmt: skip


@dataclass(frozen=True)
class RunRow:
    """One finished run as compare shows it."""

    saved: SavedRun
    view: TaskView

    @property
    def run(self) -> str:
        return self.saved.folder.name

    @property
    def metrics(self) -> dict[str, Any]:
        return self.saved.metrics

    @property
    def mode(self) -> str:
        return str(self.metrics["mode"])

    @property
    def score(self) -> float:
        return float(self.metrics[self.view.score.key])

    @property
    def score_std(self) -> float | None:
        std = self.metrics.get(f"{self.view.score.key}_std")
        return None if std is None else float(std)

    @property
    def created(self) -> str:
        return str(self.metrics.get("created", ""))[:19].replace("T", " ")

    @property
    def epochs(self) -> int:
        return int(self.saved.config["train"]["epochs"])

    @property
    def layers(self) -> list[int]:
        return [int(layer["units"]) for layer in self.saved.config["model"]["layers"]]

    def value(self, key: str) -> Any:
        """A score or property to sort by."""
        if key == "name":
            return self.saved.name
        if key == "created":
            return self.created
        return self.metrics.get(key)


def _row(folder: Path) -> RunRow:
    saved = read_run(folder)
    row = RunRow(saved, view_for(saved.metrics))
    try:
        row.view.check_record(saved.metrics)
    except ValueError as err:
        raise ValueError(f"{METRICS}: {err}") from None
    # Read now: a record without its score or layers is unreadable, not merely last.
    _ = (row.score, row.layers, row.epochs, float(row.metrics["train_seconds"]))
    return row


def collect_runs(runs_dir: Path) -> tuple[list[RunRow], list[str]]:
    """All readable runs, best first, and a warning per unreadable folder."""
    if not runs_dir.is_dir():
        raise RunsError(f"{runs_dir}: no such runs folder; train something first or pass its path")
    rows, warnings = [], []
    for folder in sorted(p for p in runs_dir.iterdir() if p.is_dir()):
        if folder.name.startswith(".") or is_unfinished(folder) or is_sweep(folder):
            continue
        try:
            rows.append(_row(folder))
        except FileNotFoundError as err:
            warnings.append(f"{folder}: skipped, {Path(str(err.filename)).name} is missing")
        except (
            OSError, ValueError, KeyError, TypeError, OverflowError, yaml.YAMLError, RunsError
        ) as err:  # fmt: skip
            warnings.append(
                f"{folder}: skipped, unreadable run record ({type(err).__name__}: {err})"
            )
    return sort_runs(rows, None), warnings


def sweep_folders(runs_dir: Path) -> list[Path]:
    return sorted(p for p in runs_dir.iterdir() if p.is_dir() and is_sweep(p))


# --- choosing and ordering -------------------------------------------------------------------


def sort_keys() -> tuple[str, ...]:
    """Every key `compare --sort` takes."""
    keys = [k for view in all_views() for k in view.sort_keys]
    return tuple(dict.fromkeys([*keys, *GENERAL_SORT_KEYS]))


def _higher_is_better(row: RunRow, key: str) -> bool:
    return {**row.view.sort_keys, **GENERAL_SORT_KEYS}.get(key, True)


def sort_runs(rows: Sequence[RunRow], key: str | None) -> list[RunRow]:
    """Best first by `key` (None: each run's own ranking score); runs without that score go
    last; ties keep folder order."""

    def order(row: RunRow) -> tuple[bool, Any, str]:
        chosen = key or row.view.score.key
        value = row.value(chosen)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return (True, 0, row.run)
        higher = _higher_is_better(row, chosen)
        if isinstance(value, str):
            return (False, _descending_text(value) if higher else value, row.run)
        return (False, -float(value) if higher else float(value), row.run)

    return sorted(rows, key=order)


def _descending_text(text: str) -> tuple[int, ...]:
    # "created" is an ISO date: newest first means larger text first.
    return tuple(-ord(c) for c in text)


def select_runs(
    rows: Sequence[RunRow], sort: str | None = None, mode: str | None = None, top: int | None = None
) -> list[RunRow]:
    chosen = sort_runs([r for r in rows if mode is None or r.mode == mode], sort)
    return chosen[:top] if top is not None else chosen


def by_task(rows: Sequence[RunRow]) -> list[list[RunRow]]:
    """Runs of each task apart (their scores do not compare), in the order tasks are known."""
    order = [view.name for view in all_views()]
    groups: dict[str, list[RunRow]] = {}
    for row in rows:
        groups.setdefault(row.view.name, []).append(row)
    return [groups[name] for name in sorted(groups, key=order.index)]


def describe_order(sort: str, mode: str | None, task: str = "") -> str:
    """A title saying which runs are shown in which order, e.g. "CV runs, best F1 first"."""
    what = {"split": "Split runs", "cv": "CV runs"}.get(mode or "", "Runs")
    if task:
        what = f"{task.capitalize()} {what[0].lower()}{what[1:]}"
    if sort == "name":
        return f"{what}, by name"
    if sort == "created":
        return f"{what}, newest first"
    lowest = sort in {"loss", "rmse", "mae"}
    best = "shortest" if sort == "train_seconds" else "lowest" if lowest else "best"
    return f"{what}, {best} {_LABELS.get(sort, sort)} first"


# --- cells and formats ---------------------------------------------------------------------


def table_rows(rows: list[RunRow]) -> list[dict[str, str]]:
    """The comparison as text cells, shared by the terminal table, CSV and Markdown."""
    if not rows:
        return []
    shared = rows[0].view.shared_references([r.metrics for r in rows])
    return [
        {
            "run": r.run,
            "name": r.saved.name,
            "mode": r.mode,
            **r.view.compare_cells(r.metrics, shared),
            "epochs": str(r.epochs),
            "batch": str(r.saved.config["train"]["batch_size"]),
            "layers": "-".join(map(str, r.layers)),
            "train s": f"{float(r.metrics['train_seconds']):.1f}",
            "date": r.created,
        }
        for r in rows
    ]


def to_json(rows: Sequence[RunRow]) -> str:
    """Numbers as recorded (fractions, seconds), for scripts; the text table rounds them."""
    records = [
        {
            "run": r.run,
            "name": r.saved.name,
            "mode": r.mode,
            **{k: r.metrics.get(k) for k in r.view.json_keys},
            "epochs": r.epochs,
            "batch_size": int(r.saved.config["train"]["batch_size"]),
            "layers": r.layers,
            "train_seconds": float(r.metrics["train_seconds"]),
            "created": r.created,
        }
        for r in rows
    ]
    return json.dumps(records, indent=2) + "\n"


def _csv(cells: list[dict[str, str]]) -> str:
    """Every column of every task's cells (a run leaves the others' columns empty)."""
    return csv_text(cells, list(dict.fromkeys(k for c in cells for k in c)) or ["run"])


def render_text(groups: list[list[dict[str, str]]], rows: Sequence[RunRow], fmt: str) -> str:
    if fmt == "csv":
        return _csv([row for group in groups for row in group])
    if fmt == "markdown":
        return render_markdown(groups)
    return to_json(rows)


def render_markdown(groups: list[list[dict[str, str]]]) -> str:
    """One table per task, one after the other."""
    return "\n".join(to_markdown(cells) for cells in groups) if groups else to_markdown([])


def write_tables(
    runs_dir: Path,
    groups: list[list[dict[str, str]]],
    unfinished: list[UnfinishedRun] | None = None,
) -> list[Path]:
    """compare.csv holds results only; compare.md lists unfinished runs under them, apart."""
    paths = [runs_dir / COMPARE_CSV, runs_dir / COMPARE_MD]
    cells = [row for group in groups for row in group]
    markdown = render_markdown(groups)
    if unfinished:
        markdown += "\n## Not results: interrupted, failed or abandoned runs\n\n"
        markdown += to_markdown(unfinished_cells(unfinished))
    try:
        write_text(paths[0], _csv(cells))
        write_text(paths[1], markdown)
    except OSError as err:
        raise RunsError(
            f"{runs_dir}: cannot write the comparison tables ({err.strerror})"
        ) from None
    return paths
