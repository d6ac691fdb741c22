"""One plain function per command: load, run, render. The CLI layer only parses options."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from densecli import report
from densecli.compare import collect_runs, sweep_folders, table_rows, write_tables
from densecli.data import check_folds
from densecli.errors import ConfigError, DensecliError
from densecli.experiment import Experiment, Plan, prepare, run_cv, run_split
from densecli.runs import estimate_bytes, preflight
from densecli.spec import Spec, load_spec
from densecli.sweep import OnResult, OnStart, PointResult, SweepFolder, SweepJob, SweepRequest
from densecli.sweep import Protocol as SweepProtocol
from densecli.sweepfile import Sweep
from densecli.sweepreport import render_results, write_results
from densecli.unfinished import collect_unfinished, unfinished_cells
from densecli.watch import Interrupted, signals_as_interrupts


def _sized(console: Console, stderr: bool = False) -> Console:
    """A terminal sizes itself, and $COLUMNS sizes piped output; piped output without it gets
    room for compare's twelve columns and an uncut progress bar."""
    if console.is_terminal or os.environ.get("COLUMNS", "").isdigit():
        return console
    return Console(stderr=stderr, width=max(console.width, 200))


def _wide_console() -> Console:
    return _sized(Console())


def _stderr() -> Console:
    return _sized(Console(stderr=True), stderr=True)


def train(
    config: Path, overrides: Sequence[str], runs_dir: Path, data: Path | None, plan: Plan
) -> None:
    experiment = prepare(load_spec(config, overrides), data)
    epochs = experiment.spec.train.epochs
    _check_memory(experiment, plan.seeds)
    _preflight(experiment, runs_dir, plan.seeds, experiment.data.n_rows)
    _check_with_keras(experiment)
    with (
        signals_as_interrupts(),
        report.EpochProgress(_stderr(), models=plan.seeds, epochs=epochs) as progress,
    ):
        outcome = run_split(experiment, runs_dir, progress, plan)
    report.render_split(Console(), outcome.metrics, outcome.run_dir)


def cv(
    config: Path, overrides: Sequence[str], runs_dir: Path, data: Path | None, plan: Plan
) -> None:
    experiment = prepare(load_spec(config, overrides), data)
    spec = experiment.spec
    models = spec.cv.folds * plan.repeats * plan.seeds
    _check_memory(experiment, models)
    _preflight(experiment, runs_dir, models, experiment.data.n_rows * plan.repeats)
    check_folds(experiment.data, spec.cv.folds)
    _check_with_keras(experiment)
    with (
        signals_as_interrupts(),
        report.EpochProgress(_stderr(), models=models, epochs=spec.train.epochs) as progress,
    ):
        outcome = run_cv(experiment, runs_dir, progress, plan)
    report.render_cv(Console(), outcome.metrics, outcome.run_dir)


def _check_memory(experiment: Experiment, models: int) -> None:
    """Refuse a network the machine cannot hold before anything is allocated."""
    from densecli.memory import check_fits, estimate

    data = experiment.data
    needed = estimate(experiment.spec, data.n_features, models, data.n_rows)
    fix = "use fewer or narrower layers" + (", or fewer folds/seeds" if models > 1 else "")
    check_fits([needed], fix=fix)


def _check_with_keras(experiment: Experiment) -> None:
    """Keras checks optimizer and initializer parameters (SGD's momentum in [0, 1], a
    positive VarianceScaling scale) when it builds them: do that once before the progress
    bar, so a bad value is a one-line error and not a failure after it appeared."""
    from densecli.backend import import_keras
    from densecli.model import build_model, compile_model

    spec = experiment.spec
    compile_model(build_model(spec, experiment.data.n_features), spec)
    import_keras().backend.clear_session()  # training starts from a fresh Keras state


def _preflight(experiment: Experiment, runs_dir: Path, models: int, eval_rows: int) -> None:
    """Refuse an unwritable or full runs folder before any time goes into training."""
    preflight(runs_dir, _run_bytes(experiment, models, eval_rows))


def _run_bytes(experiment: Experiment, models: int, eval_rows: int) -> int:
    spec = experiment.spec
    widths = [experiment.data.n_features] + [layer.units for layer in spec.model.layers]
    return estimate_bytes(widths, models, spec.train.epochs, eval_rows)


def notice(message: str) -> None:
    _stderr().print(message, markup=False, highlight=False, soft_wrap=True)


# A terminal table of a thousand runs takes longer to draw than to read them all, and nobody
# reads it; compare.csv and compare.md always hold every run.
TERMINAL_ROWS = 50


def validate(config: Path, overrides: Sequence[str], data: Path | None) -> None:
    """Check the spec against the data, then let Keras resolve every name; trains nothing."""
    experiment = prepare(load_spec(config, overrides), data)
    memory = _memory_line(experiment)  # before building the model: it may not fit
    summary = _model_summary(experiment.spec, experiment.data.n_features)
    console = Console()
    console.print(f"[bold]{config}[/bold]: valid. Resolved spec:")
    console.print(yaml.safe_dump(experiment.spec.resolved(), sort_keys=False), markup=False)
    console.print(summary)
    console.print(memory, markup=False, soft_wrap=True)
    console.print(
        f"Data: {experiment.data.path} — {experiment.data.n_rows} rows, "
        f"{experiment.data.n_features} features, classes {experiment.data.classes.tolist()}, "
        f"{experiment.encoding.kind} labels.",
        markup=False,
        soft_wrap=True,
    )


def _memory_line(experiment: Experiment) -> str:
    """The memory estimates for `train` and `cv`; refuses a model too large to build."""
    from densecli.memory import available_bytes, check_fits, describe_bytes, estimate

    spec, data = experiment.spec, experiment.data
    one = estimate(spec, data.n_features, 1, data.n_rows)
    check_fits([one], "one model")
    folds = estimate(spec, data.n_features, spec.cv.folds, data.n_rows)
    available = available_bytes()
    room = "" if available is None else f"; {describe_bytes(available)} available"
    return (
        f"Memory: about {describe_bytes(one.total)} to train (train), "
        f"{describe_bytes(folds.total)} for {spec.cv.folds} folds (cv){room}."
    )


def _model_summary(spec: Spec, n_features: int) -> Table:
    """Every Keras layer the spec builds (a spec layer may become Dense, batch norm,
    activation, maxout and dropout), with Keras' own parameter counts."""
    from densecli.model import build_model, compile_model

    model = build_model(spec, n_features)
    compile_model(model, spec)  # resolves loss, optimizer and metrics names too
    table = report.titled_table(f"Model {spec.name!r}: {n_features} inputs")
    for column in ("layer", "kind", "outputs", "params"):
        table.add_column(column, justify="right" if column in {"outputs", "params"} else "left")
    for layer in model.layers:
        table.add_row(
            layer.name,
            type(layer).__name__,
            str(layer.output.shape[-1]),
            f"{layer.count_params():,}",
        )
    table.add_section()
    table.add_row("total", "", "", f"{model.count_params():,}", style="bold")
    return table


def schema() -> None:
    from densecli.schema import schema_text

    sys.stdout.write(schema_text())  # plain bytes: redirected into a file, never wrapped


def init(path: Path) -> None:
    from densecli.starter import write_starter

    written = write_starter(path)
    Console(highlight=False).print(
        f"Wrote {written}: the tutorial's 12-8-1 network. Next: densecli validate {written}",
        markup=False,
        soft_wrap=True,
    )


def predict(run_dir: Path, input_csv: Path, output: Path | None) -> None:
    from densecli.predict import (
        missing_models,
        model_outputs,
        predictions_csv,
        read_input_rows,
        write_atomically,
    )
    from densecli.runfiles import load_run

    run = load_run(run_dir)
    warning = missing_models(run)
    if warning is not None:
        notice(f"warning: {warning}")
    rows = read_input_rows(input_csv, run)
    text = predictions_csv(run, rows, model_outputs(run, rows.features))
    if output is None:
        sys.stdout.write(text)
        return
    write_atomically(output, text)
    models = len(run.model_paths)
    how = f"mean of {models} fold models" if models > 1 else "the run's model"
    note = "; the target column was ignored" if rows.dropped_target else ""
    _stderr().print(
        f"Scored {len(rows.lines)} rows with {how}{note}. Written: {output}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def show(run_dir: Path) -> None:
    from densecli.runfiles import load_run
    from densecli.show import render_run

    render_run(Console(), load_run(run_dir))


def compare_runs(
    runs_dir: Path,
    fmt: str = "table",
    sort: str = "accuracy",
    mode: str | None = None,
    top: int | None = None,
    plot: Path | None = None,
    wide: bool = False,
) -> None:
    """`compare` with its options: which runs, in which order, in which format, and a plot."""
    from densecli.selection import describe_order, render_text, select_runs

    rows, warnings = collect_runs(runs_dir)
    for warning in warnings:
        _stderr().print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    rows = select_runs(rows, sort, mode, top)
    cells = table_rows(rows)
    unfinished = collect_unfinished(runs_dir)  # interrupted, failed, abandoned: never ranked
    written = write_tables(runs_dir, cells, unfinished)
    title = describe_order(sort, mode)
    if plot is not None:
        from densecli.plots import write_comparison_plot

        written.append(write_comparison_plot(rows, plot, title))
    if fmt == "table":
        shown = title + (f" (top {top})" if top is not None else "")
        console = Console(width=100_000) if wide else _wide_console()
        report.render_compare(console, cells[:TERMINAL_ROWS], written, shown, wide)
        if len(cells) > TERMINAL_ROWS:
            note = (
                f"Showing the first {TERMINAL_ROWS} of {len(cells)} runs; all are in {written[1]}."
            )
            console.print(note, highlight=False, soft_wrap=True)
        report.render_unfinished(console, unfinished_cells(unfinished))
        for sweep in sweep_folders(runs_dir):
            console.print(
                f"Sweep {sweep.name}: its points are runs of their own; "
                f"see {sweep / 'results.md'} or densecli compare {sweep}",
                highlight=False,
                soft_wrap=True,
            )
        return
    sys.stdout.write(render_text(cells, rows, fmt))  # stdout stays clean for pipes
    _stderr().print("Written: " + ", ".join(map(str, written)), highlight=False, soft_wrap=True)


def sweep(request: SweepRequest) -> int:
    """Train every point of a sweep; returns the exit code (3 if a point failed).

    SIGINT / SIGTERM stop it at any moment as `Interrupted`; once the sweep folder exists,
    results.csv is written and the resume command named first.
    """
    with signals_as_interrupts():
        return _sweep(request)


def _sweep(request: SweepRequest) -> int:
    from densecli.sweep import check_with_keras, plan_groups, ray_session, run_local, run_ray

    job = _sweep_job(request)
    workers = request.workers
    with contextlib.ExitStack() as stack:
        cluster = None
        if request.ray is not None:
            cluster = stack.enter_context(ray_session(request.ray, workers))
        # Only now: a bad --ray address leaves no empty sweep folder behind.
        new = job.folder is None
        job = _with_folder(job, request.runs_dir, request.data)
        with _sweep_stopping(job):
            try:  # in the folder's shadow, so that an interruption here can be resumed
                check_with_keras(job.sweep.points, job.n_features)
            except ConfigError:
                if new:  # nothing was trained: leave no empty sweep folder behind
                    shutil.rmtree(job.sweep_folder.path, ignore_errors=True)
                raise
            finished = job.sweep_folder.finished()
            todo = [p for p in job.sweep.points if p.spec.name not in finished]
            removed = job.sweep_folder.clear_leftovers({p.spec.name for p in todo})
            if request.resume:
                notice(
                    f"resume {job.sweep_folder.path}: {len(job.sweep.points) - len(todo)} of "
                    f"{len(job.sweep.points)} points kept, {len(todo)} to train"
                    + (f"; removed {len(removed)} half-finished run(s)" if removed else "")
                )
            tasks = [job.task(group) for group in plan_groups(todo, workers)]
            with _sweep_display(job, len(job.sweep.points) - len(todo)) as (on_start, on_done):
                if cluster is None:
                    run_local(tasks, workers, on_start, on_done)
                else:
                    run_ray(cluster, tasks, on_start, on_done)
            rows = write_results(job.sweep_folder, job.sweep)
    render_results(_wide_console(), rows, job.sweep, job.sweep_folder.path)
    return 3 if any(r.status != "done" for r in rows) else 0


@contextlib.contextmanager
def _sweep_stopping(job: SweepJob) -> Iterator[None]:
    """An interruption writes results.csv (with what finished) and says how to resume."""
    from densecli.watch import signals_deferred

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
def _sweep_display(job: SweepJob, already_done: int) -> Iterator[tuple[OnStart, OnResult]]:
    """The live display, and results.csv after every group."""
    from densecli.sweepreport import SweepDisplay, write_results

    def on_done(results: list[PointResult]) -> None:
        display.finished(results)
        write_results(job.sweep_folder, job.sweep)
        for result in results:
            if result.message:
                notice(f"p{result.number:03d}: {result.message}")

    with SweepDisplay(_stderr(), job.sweep, already_done) as display:
        yield display.started, on_done


def _sweep_job(request: SweepRequest) -> SweepJob:
    """The sweep's points, all validated against the data; the folder if it is resumed."""
    from densecli.sweep import find_sweep_to_resume
    from densecli.sweepfile import load_sweep

    folder, protocol, data = None, request.protocol, request.data
    if request.source.is_dir():
        folder, sweep, protocol, data = _resumed_folder(request)
    else:
        sweep = load_sweep(
            request.source, request.overrides, request.grid_options, request.max_points
        )
        if request.resume:
            folder = find_sweep_to_resume(request.runs_dir, sweep, protocol)
    experiments = [prepare(point.spec, data) for point in sweep.points]
    if folder is not None:
        folder.check_same_data({e.data.sha256 for e in experiments})
    for point, experiment in zip(sweep.points, experiments, strict=True):
        try:
            check_folds(experiment.data, experiment.spec.cv.folds)
        except DensecliError as err:
            raise ConfigError(f"point {point.label}: {err.problems[0]}") from None
    _check_sweep_memory(sweep, experiments, protocol, request.workers)
    data_paths = {p.number: e.data.path for p, e in zip(sweep.points, experiments, strict=True)}
    models = protocol.repeats * protocol.seeds
    size = sum(_run_bytes(e, e.spec.cv.folds * models, e.data.n_rows) for e in experiments)
    sha256 = experiments[0].data.sha256
    n_features = experiments[0].data.n_features
    return SweepJob(sweep, folder, protocol, data_paths, size, sha256, n_features)


def _check_sweep_memory(
    sweep: Sweep, experiments: list[Experiment], protocol: SweepProtocol, workers: int
) -> None:
    """The largest bundles that `workers` processes train at once must fit in memory."""
    from densecli.memory import MemoryEstimate, check_fits, estimate
    from densecli.sweep import plan_groups

    per_point = {
        p.number: estimate(
            e.spec,
            e.data.n_features,
            e.spec.cv.folds * protocol.repeats * protocol.seeds,
            e.data.n_rows,
        )
        for p, e in zip(sweep.points, experiments, strict=True)
    }
    groups = []
    for group in plan_groups(sweep.points, workers):
        estimates = [per_point[p.number] for p in group]
        largest = max(estimates, key=lambda e: e.total)
        jobs = sum(e.jobs for e in estimates)
        total = sum(e.total for e in estimates)
        groups.append(MemoryEstimate(largest.widths, jobs, largest.params, total))
    at_once = sorted(groups, key=lambda g: g.total, reverse=True)[:workers]
    check_fits(at_once, "this sweep", "use fewer or narrower layers, or fewer --workers")


def _resumed_folder(request: SweepRequest) -> tuple[SweepFolder, Sweep, SweepProtocol, Path | None]:
    """`densecli sweep FOLDER --resume`: the sweep, protocol and data the folder records."""
    from densecli.sweep import Protocol, SweepFolder
    from densecli.sweepfile import sweep_from_record

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
    recorded = Protocol(**record["protocol"])
    if request.protocol not in (Protocol(), recorded):
        raise ConfigError(
            f"{source}: a resumed sweep keeps its own --repeats {recorded.repeats}, --seeds "
            f"{recorded.seeds} and --engine {recorded.engine}; leave those options out"
        )
    data = request.data or (Path(record["data"]) if record.get("data") else None)
    return SweepFolder(source), sweep_from_record(record["definition"]), recorded, data


def _with_folder(job: SweepJob, runs_dir: Path, data: Path | None) -> SweepJob:
    """A new sweep gets its folder once the runs folder is known to have room for it."""
    from dataclasses import replace

    from densecli.sweep import SweepFolder

    if job.folder is not None:
        return job
    preflight(runs_dir, job.estimated_bytes)
    created = SweepFolder.create(runs_dir, job.sweep, job.protocol, data, job.data_sha256)
    return replace(job, folder=created)
