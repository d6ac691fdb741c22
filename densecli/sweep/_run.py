"""`densecli sweep`: validate every point, make (or find) the sweep folder, train the groups,
write the results. The CLI only parses options and renders what this returns."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console

from densecli.engine import MemoryEstimate, check_fits, estimate
from densecli.errors import ConfigError, DensecliError
from densecli.experiment import Experiment, Plan, cv_folds, prepare
from densecli.runs import estimate_bytes, preflight
from densecli.signals import Interrupted, signals_as_interrupts, signals_deferred
from densecli.sweep._definition import Point, Sweep, load_sweep, sweep_from_record
from densecli.sweep._display import SweepDisplay
from densecli.sweep._folder import SweepFolder, find_sweep_to_resume
from densecli.sweep._groups import check_with_keras, group_points
from densecli.sweep._local import OnResult, OnStart, Pool, local_workers_unless, run_local
from densecli.sweep._ray import cluster_for, run_ray
from densecli.sweep._results import PointRow, write_results
from densecli.sweep._worker import GroupTask, PointResult, group_step_macs


@dataclass(frozen=True)
class SweepRequest:
    """What `densecli sweep` was asked for."""

    source: Path  # a sweep file, a spec (with grid_options), or a sweep folder to resume
    overrides: tuple[str, ...]
    grid_options: tuple[str, ...]
    runs_dir: Path
    data: Path | None
    plan: Plan
    workers: int
    resume: bool
    ray: str | None
    command: tuple[str, ...] = ()  # recorded in every point's env.json
    max_points: int = 10_000  # refuse a grid of more points than this, before making them
    plots: bool = False  # draw every point's pictures (else `densecli show RUN --plots`)


@dataclass(frozen=True)
class SweepJob:
    """A validated sweep, the folder it trains into, and where each point's data is."""

    sweep: Sweep
    folder: SweepFolder | None  # None until a new sweep's folder is made
    plan: Plan
    data_paths: dict[int, Path]  # point number → the data file prepare() found
    estimated_bytes: int  # the runs' size on disk, for the preflight check
    data_sha256: str
    command: tuple[str, ...]
    inference: str = ""  # the task inferred for the points, said once when training starts
    n_features: int = 0

    @property
    def sweep_folder(self) -> SweepFolder:
        assert self.folder is not None, "the sweep folder is made before training"
        return self.folder

    def task(self, group: list[Point], plots: bool) -> GroupTask:
        data_path = self.data_paths[group[0].number]  # equal within a group: data is in the key
        return GroupTask(
            str(self.sweep_folder.path),
            [(p.number, p.spec) for p in group],
            str(data_path),
            self.plan,
            command=self.command,
            plots=plots,
        )


@dataclass(frozen=True)
class SweepOutcome:
    sweep: Sweep
    folder: Path
    rows: list[PointRow]

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
    with signals_as_interrupts():
        return _run(request, console, notice)


def _run(request: SweepRequest, console: Console, notice: Callable[[str], None]) -> SweepOutcome:
    with contextlib.ExitStack() as runners:  # the local workers or the Ray session
        # Local workers start now and import TensorFlow while the points are validated.
        pool = runners.enter_context(local_workers_unless(request.ray, request.workers))
        job = _sweep_job(request)
        cluster = cluster_for(request.ray, request.workers, runners)
        # Only now: a bad --ray address leaves no empty sweep folder behind.
        new = job.folder is None
        job = _with_folder(job, request.runs_dir, request.data)
        with _stopping(job):  # in the folder's shadow, so that a stop from here can be resumed
            tasks = _tasks_to_train(job, request, notice)
            if pool is not None:
                pool.trim(len(tasks))
            try:
                _check_with_keras(job, tasks, pool)
            except ConfigError:
                if new:  # nothing was trained: leave no empty sweep folder behind
                    shutil.rmtree(job.sweep_folder.path, ignore_errors=True)
                raise
            if job.inference:
                notice(job.inference)
            already = len(job.sweep.points) - sum(len(t.points) for t in tasks)
            with _display(job, console, already, notice) as (on_start, on_done):
                if pool is not None:
                    run_local(pool, tasks, on_start, on_done)
                else:
                    run_ray(cluster, tasks, on_start, on_done)
            runners.close()  # here: a stop while the workers or Ray end still names the folder
            rows = write_results(job.sweep_folder, job.sweep)
    return SweepOutcome(job.sweep, job.sweep_folder.path, rows)


def _tasks_to_train(
    job: SweepJob, request: SweepRequest, notice: Callable[[str], None]
) -> list[GroupTask]:
    """The groups of every point not finished yet; half-finished runs are cleared."""
    finished = job.sweep_folder.finished()
    todo = [p for p in job.sweep.points if p.spec.name not in finished]
    removed = job.sweep_folder.clear_leftovers({p.spec.name for p in todo})
    if request.resume:
        notice(
            f"resume {job.sweep_folder.path}: {len(job.sweep.points) - len(todo)} of "
            f"{len(job.sweep.points)} points kept, {len(todo)} to train"
            + (f"; removed {len(removed)} half-finished run(s)" if removed else "")
        )
    return [job.task(group, request.plots) for group in group_points(todo, request.workers)]


def _check_with_keras(job: SweepJob, tasks: list[GroupTask], pool: Pool | None) -> None:
    """Keras resolves every point before anything trains: in a local worker, whose
    TensorFlow is imported anyway, else here. Nothing left to train: nothing to check."""
    if not tasks:
        return
    if pool is None:
        check_with_keras(job.sweep.points, job.n_features)
        return
    largest = max(group_step_macs(task, job.n_features) for task in tasks)
    pool.check(job.sweep.points, job.n_features, largest)


@contextlib.contextmanager
def _stopping(job: SweepJob) -> Iterator[None]:
    """An interruption writes results.csv (with what finished) and says how to resume."""
    try:
        yield
    except KeyboardInterrupt as stop:
        with signals_deferred(reraise=False):  # a second Ctrl-C must not cut this short
            write_results(job.sweep_folder, job.sweep)
        if isinstance(stop, Interrupted):
            path = job.sweep_folder.path
            stop.saved = f"{path}; finish it with: densecli sweep {path} --resume"
        raise


@contextlib.contextmanager
def _display(
    job: SweepJob, console: Console, already_done: int, notice: Callable[[str], None]
) -> Iterator[tuple[OnStart, OnResult]]:
    """The live display, and results.csv after every group."""

    def on_done(results: list[PointResult]) -> None:
        display.finished(results)
        write_results(job.sweep_folder, job.sweep)
        for result in results:
            if result.message:
                notice(f"p{result.number:03d}: {result.message}")

    with SweepDisplay(console, job.sweep, already_done) as display:
        yield display.started, on_done


def _sweep_job(request: SweepRequest) -> SweepJob:
    """The sweep's points, all validated against the data; the folder if it is resumed."""
    folder, plan, data = None, request.plan, request.data
    if request.source.is_dir():
        folder, sweep, plan, data = _resumed_folder(request)
    else:
        sweep = load_sweep(
            request.source, request.overrides, request.grid_options, request.max_points
        )
        if request.resume:
            folder = find_sweep_to_resume(request.runs_dir, sweep, plan)
    experiments = [prepare(point.spec, data) for point in sweep.points]
    if folder is not None:
        folder.check_same_data({e.data.sha256 for e in experiments})
    for point, experiment in zip(sweep.points, experiments, strict=True):
        try:  # a fold count the data cannot fill: refused before any worker starts
            cv_folds(experiment, plan)
        except DensecliError as err:
            raise ConfigError(f"point {point.label}: {err.problems[0]}") from None
    _check_memory(sweep, experiments, plan, request.workers)
    data_paths = {p.number: e.data.path for p, e in zip(sweep.points, experiments, strict=True)}
    size = sum(_run_bytes(e, plan) for e in experiments)
    sha256 = experiments[0].data.sha256
    task = experiments[0].task
    inferred = [experiments[0].data.inference_line() or ""]
    if task.reason:
        inferred.append(f"task: {task.name} ({task.reason}); set task: in the base spec to choose")
    return SweepJob(
        sweep, folder, plan, data_paths, size, sha256, request.command,
        "\n".join(line for line in inferred if line), experiments[0].data.n_features,
    )  # fmt: skip


def _check_memory(sweep: Sweep, experiments: list[Experiment], plan: Plan, workers: int) -> None:
    """The largest bundles that `workers` processes train at once must fit in memory."""
    models = plan.repeats * plan.seeds
    per_point = {
        p.number: estimate(e.spec, e.data.n_features, e.spec.cv.folds * models, e.data.n_rows)
        for p, e in zip(sweep.points, experiments, strict=True)
    }
    groups = []
    for group in group_points(sweep.points, workers):
        estimates = [per_point[p.number] for p in group]
        largest = max(estimates, key=lambda e: e.total)
        jobs = sum(e.jobs for e in estimates)
        total = sum(e.total for e in estimates)
        groups.append(MemoryEstimate(largest.widths, jobs, largest.params, total))
    at_once = sorted(groups, key=lambda g: g.total, reverse=True)[:workers]
    check_fits(at_once, "this sweep", "use fewer or narrower layers, or fewer --workers")


def _run_bytes(exp: Experiment, plan: Plan) -> int:
    """A point's run folder on disk, generously."""
    widths = [exp.data.n_features] + [layer.units for layer in exp.spec.model.layers]
    models = exp.spec.cv.folds * plan.repeats * plan.seeds
    return estimate_bytes(widths, models, exp.spec.train.epochs, exp.data.n_rows * plan.repeats)


def _resumed_folder(request: SweepRequest) -> tuple[SweepFolder, Sweep, Plan, Path | None]:
    """`densecli sweep FOLDER --resume`: the sweep, plan and data the folder records."""
    source = request.source
    record = SweepFolder(source).record()  # refuses a folder that is not a sweep's
    if not request.resume:
        raise ConfigError(
            f"{source}: this is a sweep folder; add --resume to finish it, or give a sweep file"
        )
    if request.overrides or request.grid_options:
        raise ConfigError(
            f"{source}: --set, --grid and --folds cannot change a sweep being resumed; "
            "start a new sweep instead"
        )
    recorded = Plan(**record["protocol"])
    if request.plan not in (Plan(), recorded):
        raise ConfigError(
            f"{source}: a resumed sweep keeps its own --repeats {recorded.repeats}, --seeds "
            f"{recorded.seeds} and --engine {recorded.engine}; leave those options out"
        )
    data = request.data or (Path(record["data"]) if record.get("data") else None)
    return SweepFolder(source), sweep_from_record(record["definition"]), recorded, data


def _with_folder(job: SweepJob, runs_dir: Path, data: Path | None) -> SweepJob:
    """A new sweep gets its folder once the runs folder is known to have room for it."""
    if job.folder is not None:
        return job
    preflight(runs_dir, job.estimated_bytes)
    created = SweepFolder.create(runs_dir, job.sweep, job.plan, data, job.data_sha256)
    return replace(job, folder=created)
