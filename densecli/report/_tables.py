"""What the user sees: progress while training, a run's tables, compare's table."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress

from densecli.tables import titled_table
from densecli.tasks import Score, view_for


class EpochProgress:
    """One bar over every epoch of every model, with the latest training loss and the task's
    metric."""

    def __init__(self, console: Console, models: int, epochs: int, metric: Score) -> None:
        self._metric = metric
        self._bar = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._total = models * epochs
        self._task: TaskID | None = None

    def __enter__(self) -> EpochProgress:
        self._bar.start()
        self._task = self._bar.add_task("training", total=self._total, status="")
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._bar.stop()

    def describe(self, label: str) -> None:
        if self._task is not None:
            self._bar.update(self._task, description=label)

    def advance(self, model_epochs: int, logs: dict[str, float]) -> None:
        status = f"loss {logs.get('loss', float('nan')):.4f}"
        metric = self._metric
        if metric.key in logs:
            value = logs[metric.key]
            shown = f"{100 * value:.1f} %" if metric.percent else f"{value:.4g}"
            status += f"  {metric.short} {shown}"
        if self._task is not None:
            self._bar.update(self._task, advance=model_epochs, status=status)


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
) -> None:
    if not cells:
        console.print("No finished runs yet: `densecli train configs/pima.yaml` makes one.")
    else:
        table = titled_table(title)
        for column in cells[0]:
            table.add_column(
                column, justify="left" if column in {"run", "name", "mode"} else "right"
            )
        for row in cells:
            table.add_row(*row.values())
        console.print(table)
        if note:
            console.print(note)
    if written:
        console.print("Written: " + ", ".join(str(p) for p in written))
