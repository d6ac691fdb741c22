"""`densecli sweep`: the grid strategy's points, validated against the data, trained in the
sweep folder; results.csv after every group, the ranked table at the end."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console

from densecli.errors import DensecliError
from densecli.experiment import Experiment, Plan, prepare
from densecli.runs.files import METRICS, RESULTS_CSV, RESULTS_MD, read_run
from densecli.search._choices import MAX_POINTS
from densecli.search._core import (
    check_points,
    group_tasks,
    runners,
    saved_on_stop,
    train_groups,
)
from densecli.search._display import SweepDisplay
from densecli.search._file import Point, format_value
from densecli.search._folder import SearchFolder, data_record, locate
from densecli.search._grid import Sweep, make_sweep
from densecli.search._local import OnResult, OnStart
from densecli.search._ray import cluster_for
from densecli.search._request import SearchRequest
from densecli.search._results import Ranked, best_first, render_ranked, search_view, write_results
from densecli.search._worker import PointResult
from densecli.signals import signals_as_interrupts
from densecli.tables import print_line


@dataclass(frozen=True)
class SweepRequest(SearchRequest):
    """What `densecli sweep` was asked for."""

    max_points: int = MAX_POINTS  # refuse a grid of more points than this, before making them


@dataclass(frozen=True)
class SweepJob:
    """A validated sweep, where it trains, and each point's experiment."""

    sweep: Sweep
    folder: SearchFolder | None  # None until a new sweep's folder is made
    plan: Plan
    data: Path | None  # --data, or what the resumed folder recorded
    experiments: dict[int, Experiment]  # point number → its spec checked against its data

    def inference(self) -> str:
        """What was inferred for the points (the same data for all), said once."""
        first = next(iter(self.experiments.values()))
        lines = [first.data.inference_line() or ""]
        task = first.task
        if task.reason:
            lines.append(f"task: {task.name} ({task.reason}); set task: in the base spec to choose")
        return "\n".join(line for line in lines if line)


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
    """Train every point of a sweep not yet finished; results.csv after every group.

    SIGINT / SIGTERM stop it at any moment as `Interrupted`; once the sweep folder exists,
    results.csv is written and the resume command named first.
    """
    with signals_as_interrupts(), runners(request) as (pool, stack):
        job = _sweep_job(request)
        # Only now: a bad --ray address leaves no folder behind.
        runner = pool or cluster_for(request.ray, request.workers, stack)
        folder = job.folder or _new_folder(request, job)
        with saved_on_stop(folder, lambda: record_results(folder, job.sweep)):
            todo = _points_to_train(job.sweep, folder, request.resume, notice)
            paths = {number: e.data.path for number, e in job.experiments.items()}
            tasks = group_tasks(todo, folder, paths, job.plan, request)
            if pool is not None:
                pool.trim(len(tasks))
            try:
                check_points(todo, job.experiments, job.plan, folder.path, request, "sweep", pool)
            except DensecliError:
                if job.folder is None:  # nothing was trained: leave no empty folder behind
                    shutil.rmtree(folder.path, ignore_errors=True)
                raise
            if job.inference():
                notice(job.inference())
            already = len(job.sweep.points) - len(todo)
            with _display(job.sweep, folder, console, already, notice) as (on_start, on_done):
                train_groups(runner, tasks, on_start, on_done)
            stack.close()  # here: a stop while the workers or Ray end still names the folder
            rows = record_results(folder, job.sweep)
    return SweepOutcome(job.sweep, folder, rows)


def _sweep_job(request: SweepRequest) -> SweepJob:
    """The sweep's points, all validated against the data; the folder if it is resumed."""
    located = locate(
        request, "sweep", lambda definition: make_sweep(definition, request.max_points)
    )
    sweep, folder, plan, data = located.reading, located.folder, located.plan, located.data
    experiments = {point.number: prepare(point.spec, data) for point in sweep.points}
    if folder is not None:
        folder.check_same_data({e.data.sha256 for e in experiments.values()})
    return SweepJob(sweep, folder, plan, data, experiments)


def _new_folder(request: SweepRequest, job: SweepJob) -> SearchFolder:
    sweep = job.sweep
    sha256 = next(iter(job.experiments.values())).data.sha256
    record = {
        "definition": sweep.definition(),
        "protocol": asdict(job.plan),
        **data_record(job.data, sha256),
        "points": [
            {"point": p.label, "values": p.values, "name": p.spec.name} for p in sweep.points
        ],
    }
    return SearchFolder.create(request.runs_dir, "sweep", sweep.name, record)


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
