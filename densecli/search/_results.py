"""One ranked table for every search, sweep and tune alike: its points best first, with the
task's references (for classification the majority class, a published data set's best
reported score and the logistic regression on the same folds; for regression the mean rule
and the ridge regression) placed among them as named rows where they rank.

results.csv holds every column; the terminal shows what fits, as `compare` does (the score
and the varied keys when narrow; `--wide`: every column). No TensorFlow here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from densecli.report import compact_table, natural_width, short_header
from densecli.runs.files import RESULTS_CSV, RESULTS_MD, write_csv, write_text
from densecli.tables import print_line, titled_table
from densecli.tasks import TaskView, all_views, view_for


@dataclass(frozen=True)
class Ranked:
    """One point of a search as its tables show it."""

    label: str  # "p003", or a trial's number
    status: str  # "done" when it has metrics; else why not (failed, pruned, not trained…)
    values: dict[str, str]  # its value of every varied key, as shown
    metrics: dict[str, Any] | None  # its run's, when it finished
    run: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)  # a strategy's own columns

    @property
    def view(self) -> TaskView | None:
        return None if self.metrics is None else view_for(self.metrics)

    @property
    def score(self) -> float | None:
        view = self.view
        return None if view is None or self.metrics is None else float(self.metrics[view.score.key])


def search_view(rows: Sequence[Ranked]) -> TaskView:
    """The task the points ran (the points of one search share their data)."""
    return next((r.view for r in rows if r.view is not None), all_views()[0])


def best_first(rows: Sequence[Ranked]) -> int:
    """The sign that puts the best score first when sorting ascending by sign × score."""
    return -1 if search_view(rows).score.higher_is_better else 1


def references(rows: Sequence[Ranked]) -> list[tuple[str, float]]:
    """The task's references, from the runs that finished: label and value."""
    measured = [r.metrics for r in rows if r.metrics]
    return search_view(rows).sweep_references(measured) if measured else []


def score_text(view: TaskView, value: float | None) -> str:
    if value is None:
        return ""
    return f"{100 * value:.2f}" if view.score.percent else f"{value:.4g}"


def write_results(
    folder: Path, records: list[dict[str, str]], rows: Sequence[Ranked], more: Sequence[str] = ()
) -> None:
    """results.csv (every record) and results.md (the same, the references, then `more`)."""
    write_csv(folder / RESULTS_CSV, records, list(records[0]), lineterminator="\n")
    view = search_view(rows)
    unit = " %" if view.score.percent else ""
    lines = ["| " + " | ".join(records[0]) + " |", "|" + "---|" * len(records[0])]
    lines += ["| " + " | ".join(r.values()) + " |" for r in records]
    lines += ["", "References:"]
    lines += [f"- {label}: {score_text(view, v)}{unit}" for label, v in references(rows)]
    write_text(folder / RESULTS_MD, "\n".join([*lines, *more]) + "\n")


def short_key(key: str) -> str:
    """`model.layers.0.units` → `layers.0.units`: the section is clear from the rest."""
    head, _, rest = key.partition(".")
    return rest if head in {"model", "train"} and rest else key


def render_ranked(
    console: Console,
    title: str,
    rows: Sequence[Ranked],
    label: str,
    wide: bool = False,
    top: int | None = None,
) -> None:
    """The points (the first `top`), best first, the references among them; narrow when the
    whole table does not fit the console (unless `wide`)."""
    cells = _cells(rows[:top] if top else rows, references(rows), label)
    if not cells:
        return
    keys = [short_key(k) for k in (rows[0].values if rows else {})]
    view = search_view(rows)
    scores = list(view.ranked_cells({}, dict(references(rows))))[:2]
    narrow = not wide and natural_width(cells) > console.width
    columns = [c for c in cells[0] if not narrow or c in ("rank", label, *keys, *scores)]
    table = compact_table(title) if narrow else titled_table(title)
    for column in columns:
        left = column == label or column in keys
        shown = short_header(column) if narrow else column
        table.add_column(shown, justify="left" if left else "right")
    for row in cells:
        style = "dim" if row[label].startswith("— ") else None
        table.add_row(*(row[c] for c in columns), style=style)
    console.print(table)
    if narrow:
        print_line(console, f"Every column: {RESULTS_MD} or --wide.")


def _cells(
    rows: Sequence[Ranked], refs: list[tuple[str, float]], label: str
) -> list[dict[str, str]]:
    """Every row as text: ranked points, then the others; references where they rank."""
    if not rows:
        return []
    view = search_view(rows)
    shared = dict(refs)
    sign = 1 if view.score.higher_is_better else -1
    pending = sorted(refs, key=lambda item: -sign * item[1])
    headers = list(view.ranked_cells({}, shared))
    extras = list(rows[0].extra)
    out: list[dict[str, str]] = []

    def shown(row: Ranked) -> dict[str, str]:
        return {short_key(key): value for key, value in row.values.items()}

    def reference(item: tuple[str, float]) -> dict[str, str]:
        blank = dict.fromkeys([*shown(rows[0]), *headers, *extras, "train s"], "")
        return {"rank": "", label: f"— {item[0]}", **blank, headers[0]: score_text(view, item[1])}

    rank = 0
    for row in rows:
        score = row.score
        while pending and score is not None and sign * pending[0][1] > sign * score:
            out.append(reference(pending.pop(0)))
        if row.metrics is None:
            status = dict.fromkeys(headers, "") | {headers[0]: row.status}
            blank = {"train s": ""}
            out.append({"rank": "", label: row.label, **shown(row), **status, **row.extra, **blank})
            continue
        rank += 1
        train = f"{row.metrics['train_seconds']:.1f}"
        scored = view.ranked_cells(row.metrics, shared)
        scored |= row.extra | {"train s": train}
        out.append({"rank": str(rank), label: row.label, **shown(row), **scored})
    return out + [reference(item) for item in pending]
