"""`densecli sweep`: the grid strategy. Every point of the grid (or of its seeded random
draw) not finished yet is checked and trained once, as bundles of equal networks; results.csv
after every group, the ranked table at the end."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from densecli.runs.files import METRICS, RESULTS_CSV, RESULTS_MD, SearchKind, read_run
from densecli.search._choices import MAX_POINTS
from densecli.search._core import Search, Strategy, run_search
from densecli.search._display import SweepDisplay
from densecli.search._file import Definition, Point, format_value
from densecli.search._folder import SearchFolder
from densecli.search._grid import Sweep, make_sweep
from densecli.search._local import OnResult, OnStart
from densecli.search._request import SearchRequest
from densecli.search._results import Ranked, best_first, render_ranked, search_view, write_results
from densecli.search._worker import PointResult
from densecli.tables import print_line


@dataclass(frozen=True)
class SweepRequest(SearchRequest):
    """What `densecli sweep` was asked for."""

    max_points: int = MAX_POINTS  # refuse a grid of more points than this, before making them


@dataclass(frozen=True)
class SweepOutcome:
    sweep: Sweep
    folder: SearchFolder
    rows: list[Ranked]

    @property
    def exit_code(self) -> int:
        """3 when a point failed (or was not trained), as a diverged run's is."""
        return 3 if any(r.status != "done" for r in self.rows) else 0


def run_sweep(
    request: SweepRequest, console: Console, notice: Callable[[str], None]
) -> SweepOutcome:
    """Train every point of a sweep not yet finished (see `run_search`)."""
    grid = GridSearch(request.max_points, request.resume, console)
    search = run_search(request, grid, notice)
    return SweepOutcome(search.reading, search.folder, grid.rows)


class GridSearch(Strategy[Sweep]):
    """Every point at once: those not finished yet train, the rest are kept."""

    kind: SearchKind = "sweep"

    def __init__(self, max_points: int, resume: bool, console: Console) -> None:
        self.max_points, self.resume, self.console = max_points, resume, console
        self.rows: list[Ranked] = []

    def read(self, definition: Definition) -> Sweep:
        return make_sweep(definition, self.max_points)

    def to_validate(self, reading: Sweep) -> list[Point]:
        return reading.points

    def record(self, reading: Sweep) -> dict[str, Any]:
        points = [
            {"point": p.label, "values": p.values, "name": p.spec.name} for p in reading.points
        ]
        return {"points": points}

    def run(self, search: Search[Sweep]) -> None:
        sweep, folder, notice = search.reading, search.folder, search.notice
        todo = _points_to_train(sweep, folder, self.resume, notice)
        paths = {number: e.data.path for number, e in search.experiments.items()}
        tasks = search.tasks(todo, paths)
        search.keep_workers(len(tasks))
        search.check(todo)
        said = _inference(search)
        if said:
            notice(said)
        already = len(sweep.points) - len(todo)
        with _display(sweep, folder, self.console, already, notice) as (on_start, on_done):
            search.train(tasks, on_start, on_done)
        search.end_workers()
        self.rows = record_results(folder, sweep)

    def write_results(self, search: Search[Sweep]) -> None:
        record_results(search.folder, search.reading)


def _inference(search: Search[Sweep]) -> str:
    """What was inferred for the points (the same data for all), said once."""
    first = next(iter(search.experiments.values()))
    lines = [first.data.inference_line() or ""]
    task = first.task
    if task.reason:
        lines.append(f"task: {task.name} ({task.reason}); set task: in the base spec to choose")
    lines.append(task.references_note)
    return "\n".join(line for line in lines if line)


def _points_to_train(
    sweep: Sweep, folder: SearchFolder, resume: bool, notice: Callable[[str], None]
) -> list[Point]:
    """Every point not finished yet; what stopped ones left is cleared."""
    finished = folder.runs()
    todo = [p for p in sweep.points if p.spec.name not in finished]
    removed = folder.clear_leftovers({p.spec.name for p in todo})
    if resume:
        notice(
            f"resume {folder.path}: {len(sweep.points) - len(todo)} of "
            f"{len(sweep.points)} points kept, {len(todo)} to train"
            + (f"; removed {len(removed)} half-finished run(s)" if removed else "")
        )
    return todo


@contextlib.contextmanager
def _display(
    sweep: Sweep,
    folder: SearchFolder,
    console: Console,
    already_done: int,
    notice: Callable[[str], None],
) -> Iterator[tuple[OnStart, OnResult]]:
    """The live display, and results.csv after every group."""

    def on_done(results: list[PointResult]) -> None:
        display.finished(results)
        record_results(folder, sweep)
        for result in results:
            if result.message:
                notice(f"p{result.number:03d}: {result.message}")

    with SweepDisplay(console, sweep, already_done) as display:
        yield display.started, on_done


# --- results ---------------------------------------------------------------------------------


def collect_points(folder: SearchFolder, sweep: Sweep) -> list[Ranked]:
    """Every point with its run's metrics, best first; failed and missing last."""
    finished = folder.runs()
    rows = []
    for point in sweep.points:
        run = finished.get(point.spec.name)
        metrics = None
        if run is not None and (run / METRICS).is_file():
            metrics = read_run(run).metrics
        status = "done" if metrics else ("failed" if run is not None else "not trained")
        values = {key: format_value(point.values[key]) for key in sweep.grid}
        rows.append(Ranked(point.label, status, values, metrics, run))
    sign = best_first(rows)
    number = {p.label: p.number for p in sweep.points}
    return sorted(rows, key=lambda r: (r.score is None, sign * (r.score or 0), number[r.label]))


def _records(rows: list[Ranked]) -> list[dict[str, str]]:
    """results.csv: one row per point, in rank order."""
    view = search_view(rows)
    records = []
    for rank, row in enumerate(rows, start=1):
        m = row.metrics or {}
        records.append(
            {
                "rank": str(rank) if row.metrics else "",
                "point": row.label,
                "status": row.status,
                **row.values,
                **view.result_cells(m),
                "models": str(m.get("models", "")),
                "train s": "" if "train_seconds" not in m else f"{m['train_seconds']:.1f}",
                "run": "" if row.run is None else row.run.name,
            }
        )
    return records


def record_results(folder: SearchFolder, sweep: Sweep) -> list[Ranked]:
    """results.csv and results.md, from the run folders as they are now."""
    rows = collect_points(folder, sweep)
    write_results(folder.path, _records(rows), rows)
    return rows


def render_sweep(console: Console, outcome: SweepOutcome, wide: bool = False) -> None:
    """The ranked points, with the reference rows placed where they rank."""
    rows, sweep, path = outcome.rows, outcome.sweep, outcome.folder.path
    view = search_view(rows)
    better = "best" if view.score.higher_is_better else "lowest"
    title = f"Sweep {sweep.name}: {len(rows)} points, {better} mean CV {view.score.label} first"
    render_ranked(console, title, rows, "point", wide)
    print_line(
        console,
        f"Sweep folder: {path} ({RESULTS_CSV}, {RESULTS_MD}; "
        f"`densecli compare {path}` for the runs)",
    )
