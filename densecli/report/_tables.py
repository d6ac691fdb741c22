"""What the user sees: progress while training, a run's tables, compare's table."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress
from rich.table import Table

from densecli.signals import raise_if_stopped
from densecli.tables import titled_table
from densecli.tasks import Score, view_for


class EpochProgress:
    """One bar over every epoch of every model, counting the epochs of the models training
    now (all of them together, or one after another), with the latest training loss and the
    task's metric."""

    def __init__(self, console: Console, models: int, epochs: int, metric: Score) -> None:
        self._metric = metric
        self._bar = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[epoch]}"),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._total = models * epochs
        self._epochs = epochs
        self._task: TaskID | None = None
        self._together = 1  # models training at once
        self._started = 0  # model-epochs done when they began
        self._done = 0

    def __enter__(self) -> EpochProgress:
        self._bar.start()
        self._task = self._bar.add_task("training", total=self._total, status="", epoch="")
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._bar.stop()

    def describe(self, label: str, models: int = 1) -> None:
        self._together, self._started = max(1, models), self._done
        if self._task is not None:
            self._bar.update(self._task, description=label)

    def advance(self, model_epochs: int, logs: dict[str, float]) -> None:
        raise_if_stopped()  # a stop lost inside TensorFlow is raised here, between chunks
        status = f"loss {logs.get('loss', float('nan')):.4f}"
        metric = self._metric
        if metric.key in logs:
            value = logs[metric.key]
            shown = f"{100 * value:.1f} %" if metric.percent else f"{value:.4g}"
            status += f"  {metric.short} {shown}"
        self._done += model_epochs
        epoch = min(self._epochs, (self._done - self._started) // self._together)
        if self._task is not None:
            shown = f"epoch {epoch}/{self._epochs}"
            self._bar.update(self._task, advance=model_epochs, status=status, epoch=shown)


def render_run(console: Console, metrics: dict[str, Any], run_dir: Path) -> None:
    """The tables a run's task prints when it finishes (and `densecli show` again)."""
    view_for(metrics).render_run(console, metrics, run_dir)


def render_unfinished(console: Console, cells: list[dict[str, str]]) -> None:
    """Runs that stopped early: shown apart, so they are never read as results."""
    if not cells:
        return
    table = titled_table("Not results: interrupted, failed or abandoned runs (never ranked)")
    for column in cells[0]:
        table.add_column(column, overflow="fold")
    for row in cells:
        table.add_row(*row.values())
    console.print(table)


def render_compare(
    console: Console,
    cells: list[dict[str, str]],
    written: list[Path],
    title: str = "Runs, best first",
    note: str = "",
    narrow_columns: tuple[str, ...] = (),
    wide: bool = False,
) -> None:
    """compare's table; when it does not fit the terminal (and not `wide`), only
    `narrow_columns`, in a compact box. Run names are never cut: `show` and `predict` take
    them."""
    if not cells:
        console.print("No finished runs yet: `densecli train configs/pima.yaml` makes one.")
    else:
        narrow = not wide and bool(narrow_columns) and natural_width(cells) > console.width
        console.print(_compare_table(cells, title, narrow_columns if narrow else ()))
        if note or narrow:
            console.print(note + (" Every column: --wide." if narrow else ""), soft_wrap=True)
    if written:
        console.print("Written: " + ", ".join(str(p) for p in written), soft_wrap=True)


def natural_width(cells: list[dict[str, str]]) -> int:
    """The full table's width with no cell cut: each column, its padding and a border."""
    return 1 + sum(3 + max(len(c), *(len(row[c]) for row in cells)) for c in cells[0])


def short_header(column: str) -> str:
    """`vs baseline (pts)` → `Δ base`: a narrow table's headers."""
    if column.startswith("vs "):
        return "Δ " + column[3:].replace(" (pts)", "").replace(" %", "").replace("baseline", "base")
    return column


def compact_table(title: str) -> Table:
    """A titled table in a light box with little padding: what a narrow terminal holds."""
    from rich import box

    table = titled_table(title)
    table.box, table.pad_edge, table.padding = box.SIMPLE_HEAD, False, (0, 1)
    return table


def _compare_table(cells: list[dict[str, str]], title: str, narrow: tuple[str, ...]) -> Table:
    """Every column, or (narrow) only those named, in a compact box."""
    columns = [c for c in cells[0] if not narrow or c in narrow]
    table = compact_table(title) if narrow else titled_table(title)
    for column in columns:
        left = column in {"run", "name", "mode"}
        table.add_column(
            short_header(column) if narrow else column,
            justify="left" if left else "right",
            no_wrap=column != "name",
            overflow="fold" if column == "name" else "ellipsis",
            min_width=max(len(row[column]) for row in cells) if column == "run" else None,
        )
    for row in cells:
        table.add_row(*(row[c] for c in columns))
    return table
