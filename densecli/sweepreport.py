"""A sweep's live display and its results: results.csv, results.md and the ranked table.

The ranked table puts every point next to the references of its data: the majority-class
rule (65.1 % on Pima), the best reported 10-fold accuracy (77.7 %) and the standardized
logistic regression that every CV run also scores on its own folds. No TensorFlow here.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from densecli.compare import write_atomically
from densecli.report import titled_table
from densecli.sweep import GroupTask, PointResult, SweepFolder
from densecli.sweepfile import Point, Sweep, format_value


class SweepDisplay:
    """One bar over the sweep's points: done, running and failed, and the best so far."""

    def __init__(self, console: Console, sweep: Sweep, already_done: int) -> None:
        self._labels = {p.number: p.label for p in sweep.points}
        self._bar = RichProgress(
            TextColumn("[bold]sweep"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self._task = self._bar.add_task(
            "sweep", total=len(sweep.points), completed=already_done, status=""
        )
        self.running = self.failed = 0
        self.best: tuple[float, str] | None = None

    def __enter__(self) -> SweepDisplay:
        self._bar.start()
        self._refresh(0)
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._bar.stop()

    def started(self, task: GroupTask) -> None:
        self.running += len(task.points)
        self._refresh(0)

    def finished(self, results: list[PointResult]) -> None:
        self.running = max(0, self.running - len(results))
        for result in results:
            if result.status == "failed":
                self.failed += 1
            elif result.accuracy is not None and (
                self.best is None or result.accuracy > self.best[0]
            ):
                self.best = (result.accuracy, self._labels[result.number])
        self._refresh(len(results))

    def _refresh(self, advance: int) -> None:
        status = f"{self.running} running · {self.failed} failed"
        if self.best is not None:
            status += f" · best {100 * self.best[0]:.2f} % ({self.best[1]})"
        self._bar.update(self._task, advance=advance, status=status)


@dataclass(frozen=True)
class PointRow:
    point: Point
    run: Path | None
    metrics: dict[str, Any] | None  # None: failed or not trained
    status: str

    @property
    def accuracy(self) -> float | None:
        return None if self.metrics is None else float(self.metrics["accuracy"])


def collect_points(folder: SweepFolder, sweep: Sweep) -> list[PointRow]:
    """Every point with its run's metrics, best accuracy first; failed and missing last."""
    finished = folder.finished()
    rows = []
    for point in sweep.points:
        run = finished.get(point.spec.name)
        metrics = None
        if run is not None and (run / "metrics.json").is_file():
            metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
        status = "done" if metrics else ("failed" if run is not None else "not trained")
        rows.append(PointRow(point, run, metrics, status))
    return sorted(rows, key=lambda r: (r.accuracy is None, -(r.accuracy or 0), r.point.number))


def _pct(value: Any) -> str:
    return "" if value is None else f"{100 * float(value):.2f}"


def result_records(rows: list[PointRow], sweep: Sweep) -> list[dict[str, str]]:
    """results.csv: one row per point, in rank order."""
    records = []
    for rank, row in enumerate(rows, start=1):
        m = row.metrics or {}
        low, high = m.get("accuracy_interval_95") or (None, None)
        records.append(
            {
                "rank": str(rank) if row.metrics else "",
                "point": row.point.label,
                "status": row.status,
                **{key: format_value(row.point.values[key]) for key in sweep.grid},
                "accuracy %": _pct(m.get("accuracy")),
                "std %": _pct(m.get("accuracy_std")),
                "95 % low": _pct(low),
                "95 % high": _pct(high),
                "ROC AUC": "" if m.get("roc_auc") is None else f"{m['roc_auc']:.4f}",
                "logistic regression %": _pct(m.get("logistic_regression_accuracy")),
                "vs logistic (pts)": _pct(m.get("network_minus_logistic")),
                "p value": "" if m.get("p_value") is None else f"{m['p_value']:.3g}",
                "models": str(m.get("models", "")),
                "train s": "" if "train_seconds" not in m else f"{m['train_seconds']:.1f}",
                "run": "" if row.run is None else row.run.name,
            }
        )
    return records


def write_results(folder: SweepFolder, sweep: Sweep) -> list[PointRow]:
    rows = collect_points(folder, sweep)
    records = result_records(rows, sweep)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    write_atomically(folder.path / "results.csv", buffer.getvalue())
    write_atomically(folder.path / "results.md", _markdown(records, rows))
    return rows


def _references(rows: list[PointRow]) -> list[tuple[str, float]]:
    """The lines every point is read against, from the runs' own records."""
    measured = [r.metrics for r in rows if r.metrics]
    if not measured:
        return []
    first = measured[0]
    references = [("majority class", float(first["baseline_accuracy"]))]
    if first.get("reported_best_accuracy") is not None:
        references.append(("best reported 10-fold", float(first["reported_best_accuracy"])))
    logistic = [m["logistic_regression_accuracy"] for m in measured]
    same_folds = len({round(v, 12) for v in logistic}) == 1
    label = "logistic regr. (same folds)" if same_folds else "logistic regr. (mean)"
    references.append((label, sum(logistic) / len(logistic)))
    return references


def _markdown(records: list[dict[str, str]], rows: list[PointRow]) -> str:
    lines = ["| " + " | ".join(records[0]) + " |", "|" + "---|" * len(records[0])]
    lines += ["| " + " | ".join(r.values()) + " |" for r in records]
    lines += ["", "References:"]
    lines += [f"- {label}: {100 * value:.2f} %" for label, value in _references(rows)]
    return "\n".join(lines) + "\n"


def render_results(console: Console, rows: list[PointRow], sweep: Sweep, folder: Path) -> None:
    """The ranked points, with the reference lines placed where they rank."""
    table = titled_table(f"Sweep {sweep.name}: {len(rows)} points, best mean CV accuracy first")
    table.add_column("rank", justify="right")
    table.add_column("point")
    for key in sweep.grid:
        table.add_column(short_key(key))
    for column in ("accuracy %", "± std", "vs 77.7 (pts)", "vs LR (pts)", "train s"):
        table.add_column(column, justify="right")
    references = sorted(_references(rows), key=lambda item: -item[1])
    reported = next((v for label, v in references if label.startswith("best reported")), None)
    blanks = [""] * len(sweep.grid)
    rank = 0
    for row in rows:
        while references and row.accuracy is not None and references[0][1] > row.accuracy:
            _reference_row(table, references.pop(0), blanks)
        if row.metrics is None:
            table.add_row("", row.point.label, *_values(row, sweep), row.status, "", "", "", "")
            continue
        rank += 1
        m = row.metrics
        table.add_row(
            str(rank),
            row.point.label,
            *_values(row, sweep),
            f"{100 * m['accuracy']:.2f}",
            f"{100 * (m.get('accuracy_std') or 0):.2f}",
            "" if reported is None else f"{100 * (m['accuracy'] - reported):+.1f}",
            f"{100 * m['network_minus_logistic']:+.1f}",
            f"{m['train_seconds']:.1f}",
        )
    for reference in references:
        _reference_row(table, reference, blanks)
    console.print(table)
    console.print(
        f"Sweep folder: {folder} (results.csv, results.md; "
        f"`densecli compare {folder}` for the runs)",
        highlight=False,
        soft_wrap=True,
    )


def short_key(key: str) -> str:
    """`model.layers.0.units` → `layers.0.units`: the section is clear from the rest."""
    head, _, rest = key.partition(".")
    return rest if head in {"model", "train"} and rest else key


def _values(row: PointRow, sweep: Sweep) -> list[str]:
    return [format_value(row.point.values[key]) for key in sweep.grid]


def _reference_row(table: Any, reference: tuple[str, float], blanks: list[str]) -> None:
    label, value = reference
    table.add_row("", f"— {label}", *blanks, f"{100 * value:.2f}", "", "", "", "", style="dim")
