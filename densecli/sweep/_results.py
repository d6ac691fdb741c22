"""A sweep's results: results.csv, results.md and the ranked table.

The ranked table puts every point next to the references its runs recorded (for
classification: the majority-class rule, the best reported score of a known data set and
the logistic regression every CV run also scores on its own folds). No TensorFlow here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from densecli.runs.files import METRICS, RESULTS_CSV, RESULTS_MD, read_run, write_csv, write_text
from densecli.sweep._definition import Point, Sweep, format_value
from densecli.sweep._folder import SweepFolder
from densecli.tables import print_line, titled_table
from densecli.tasks import TaskView, all_views, view_for


@dataclass(frozen=True)
class PointRow:
    point: Point
    run: Path | None
    metrics: dict[str, Any] | None  # None: failed or not trained
    status: str

    @property
    def view(self) -> TaskView | None:
        return None if self.metrics is None else view_for(self.metrics)

    @property
    def score(self) -> float | None:
        view = self.view
        return None if view is None or self.metrics is None else float(self.metrics[view.score.key])


def _sweep_view(rows: list[PointRow]) -> TaskView:
    """The task the sweep's points ran (points of one sweep share their data)."""
    return next((r.view for r in rows if r.view is not None), all_views()[0])


def collect_points(folder: SweepFolder, sweep: Sweep) -> list[PointRow]:
    """Every point with its run's metrics, best first; failed and missing last."""
    finished = folder.finished()
    rows = []
    for point in sweep.points:
        run = finished.get(point.spec.name)
        metrics = None
        if run is not None and (run / METRICS).is_file():
            metrics = read_run(run).metrics
        status = "done" if metrics else ("failed" if run is not None else "not trained")
        rows.append(PointRow(point, run, metrics, status))
    sign = -1 if _sweep_view(rows).score.higher_is_better else 1
    return sorted(rows, key=lambda r: (r.score is None, sign * (r.score or 0), r.point.number))


def result_records(rows: list[PointRow], sweep: Sweep) -> list[dict[str, str]]:
    """results.csv: one row per point, in rank order."""
    view = _sweep_view(rows)
    records = []
    for rank, row in enumerate(rows, start=1):
        m = row.metrics or {}
        records.append(
            {
                "rank": str(rank) if row.metrics else "",
                "point": row.point.label,
                "status": row.status,
                **{key: format_value(row.point.values[key]) for key in sweep.grid},
                **view.result_cells(m),
                "models": str(m.get("models", "")),
                "train s": "" if "train_seconds" not in m else f"{m['train_seconds']:.1f}",
                "run": "" if row.run is None else row.run.name,
            }
        )
    return records


def write_results(folder: SweepFolder, sweep: Sweep) -> list[PointRow]:
    rows = collect_points(folder, sweep)
    records = result_records(rows, sweep)
    write_csv(folder.path / RESULTS_CSV, records, list(records[0]), lineterminator="\n")
    write_text(folder.path / RESULTS_MD, _markdown(records, rows))
    return rows


def _references(rows: list[PointRow]) -> list[tuple[str, float]]:
    measured = [r.metrics for r in rows if r.metrics]
    return _sweep_view(rows).sweep_references(measured) if measured else []


def _markdown(records: list[dict[str, str]], rows: list[PointRow]) -> str:
    view = _sweep_view(rows)
    unit = " %" if view.score.percent else ""
    scale = 100 if view.score.percent else 1
    lines = ["| " + " | ".join(records[0]) + " |", "|" + "---|" * len(records[0])]
    lines += ["| " + " | ".join(r.values()) + " |" for r in records]
    lines += ["", "References:"]
    lines += [f"- {label}: {scale * value:.2f}{unit}" for label, value in _references(rows)]
    return "\n".join(lines) + "\n"


def render_results(console: Console, rows: list[PointRow], sweep: Sweep, folder: Path) -> None:
    """The ranked points, with the reference lines placed where they rank."""
    view = _sweep_view(rows)
    better = "best" if view.score.higher_is_better else "lowest"
    title = f"Sweep {sweep.name}: {len(rows)} points, {better} mean CV {view.score.label} first"
    table = titled_table(title)
    table.add_column("rank", justify="right")
    table.add_column("point")
    for key in sweep.grid:
        table.add_column(short_key(key))
    references = _references(rows)
    shared = dict(references)
    columns = [*view.ranked_cells({}, shared), "train s"]
    for column in columns:
        table.add_column(column, justify="right")
    sign = 1 if view.score.higher_is_better else -1
    pending = sorted(references, key=lambda item: -sign * item[1])
    blanks = [""] * len(sweep.grid)
    rank = 0
    for row in rows:
        while pending and row.score is not None and sign * pending[0][1] > sign * row.score:
            _reference_row(table, view, pending.pop(0), blanks, len(columns))
        values = [format_value(row.point.values[key]) for key in sweep.grid]
        if row.metrics is None:
            table.add_row("", row.point.label, *values, row.status, *[""] * (len(columns) - 1))
            continue
        rank += 1
        cells = view.ranked_cells(row.metrics, shared)
        train = f"{row.metrics['train_seconds']:.1f}"
        table.add_row(str(rank), row.point.label, *values, *cells.values(), train)
    for reference in pending:
        _reference_row(table, view, reference, blanks, len(columns))
    console.print(table)
    print_line(
        console,
        f"Sweep folder: {folder} ({RESULTS_CSV}, {RESULTS_MD}; "
        f"`densecli compare {folder}` for the runs)",
    )


def short_key(key: str) -> str:
    """`model.layers.0.units` → `layers.0.units`: the section is clear from the rest."""
    head, _, rest = key.partition(".")
    return rest if head in {"model", "train"} and rest else key


def _reference_row(
    table: Table, view: TaskView, reference: tuple[str, float], blanks: list[str], width: int
) -> None:
    label, value = reference
    shown = f"{100 * value:.2f}" if view.score.percent else f"{value:.4g}"
    table.add_row("", f"— {label}", *blanks, shown, *[""] * (width - 1), style="dim")
