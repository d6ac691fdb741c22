"""A sweep's live display: one bar over its points, with running, failed and the best so far."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from densecli.search._grid import Sweep
from densecli.search._worker import GroupTask, PointResult
from densecli.tasks import Score


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
        self.score: Score | None = None

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
            self.score = result.ranked_by or self.score
            sign = 1 if self.score is None or self.score.higher_is_better else -1
            if result.status == "failed":
                self.failed += 1
            elif result.score is not None and (
                self.best is None or sign * result.score > sign * self.best[0]
            ):
                self.best = (result.score, self._labels[result.number])
        self._refresh(len(results))

    def _refresh(self, advance: int) -> None:
        status = f"{self.running} running · {self.failed} failed"
        if self.best is not None and self.score is not None:
            value = self.best[0]
            shown = f"{100 * value:.2f} %" if self.score.percent else f"{value:.4g}"
            status += f" · best {shown} ({self.best[1]})"
        self._bar.update(self._task, advance=advance, status=status)
