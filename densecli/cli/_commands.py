"""One plain function per command: load, run, render. The CLI layer only parses options."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import yaml
from rich.console import Console
from rich.table import Table

from densecli.experiment import (
    Experiment,
    Output,
    Plan,
    announce_inferences,
    cv_folds,
    prepare,
    run_cv,
    run_split,
    step_macs,
)
from densecli.report import EpochProgress, render_compare, render_run, render_unfinished
from densecli.runs import (
    RunRow,
    by_task,
    collect_runs,
    collect_unfinished,
    describe_order,
    estimate_bytes,
    load_run,
    preflight,
    render_text,
    select_runs,
    sweep_folders,
    table_rows,
    this_command,
    unfinished_cells,
    write_tables,
)
from densecli.runs.files import RESULTS_MD
from densecli.signals import (
    STOP_SIGNALS,
    Interrupted,
    interrupted_message,
    signals_as_interrupts,
)
from densecli.spec import Spec, load_spec
from densecli.sweep import (
    SweepRequest,
    TuneRequest,
    render_results,
    render_tune,
    run_sweep,
    run_tune,
)
from densecli.tables import print_line, titled_table
from densecli.tracking import MlflowSettings, log_after

# A terminal table of a thousand runs takes longer to draw than to read them all, and nobody
# reads it; compare.csv and compare.md always hold every run.
TERMINAL_ROWS = 50


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


def notice(message: str) -> None:
    print_line(_stderr(), message)


def notice_inference(experiment: Experiment) -> None:
    """Say once what was inferred about the file and the task, and why (after the checks
    that can refuse a run)."""
    announce_inferences(experiment, notice)
    task = experiment.task
    if task.reason:
        notice(f"task: {task.name} ({task.reason}); set task: in the spec to choose")


def _output(runs_dir: Path, progress: EpochProgress) -> Output:
    return Output(runs_dir, progress, notice, this_command())


def _spec_for(config: Path, overrides: Sequence[str], data: Path | None) -> Spec:
    """The spec; `--data FILE` on a spec written for a built-in data set drops its
    data.train_rows (Pima's 700), so the file gets its own default unless --set gives one."""
    spec = load_spec(config, overrides)
    chosen = any(o.startswith(("data.train_rows=", "data=")) for o in overrides)
    if data is None or spec.data.path is not None or chosen:
        return spec
    return spec.model_copy(update={"data": spec.data.model_copy(update={"train_rows": None})})


def _prepared(config: Path, overrides: Sequence[str], data: Path | None) -> Experiment:
    """The spec checked against its data."""
    return prepare(_spec_for(config, overrides, data), data)


@dataclass(frozen=True)
class Request:
    """What `train` and `cv` were asked for."""

    config: Path
    overrides: Sequence[str]
    runs_dir: Path
    data: Path | None
    plan: Plan
    tracking: MlflowSettings | None = None


def train(request: Request) -> None:
    """The classic split: train on the first rows, score the rest."""
    _run(request, cv=False)


def cv(request: Request) -> None:
    """(Repeated) k-fold cross-validation."""
    _run(request, cv=True)


def _run(request: Request, cv: bool) -> None:
    """Every check that can refuse the run first, then training under the progress bar."""
    plan = request.plan
    experiment = _prepared(request.config, request.overrides, request.data)
    folds = experiment.spec.cv.folds * plan.repeats if cv else 1
    _check_memory(experiment, folds * plan.seeds)
    eval_rows = experiment.data.n_rows * (plan.repeats if cv else 1)
    _preflight(experiment, request.runs_dir, folds * plan.seeds, eval_rows)
    if cv:
        cv_folds(experiment, plan)  # a fold count the data cannot fill: refused before the bar
    _check_with_keras(experiment, folds * plan.seeds)
    notice_inference(experiment)
    run = run_cv if cv else run_split
    with signals_as_interrupts(), _progress(experiment, folds * plan.seeds) as progress:
        outcome = run(experiment, plan, _output(request.runs_dir, progress))
    render_run(Console(), outcome.metrics, outcome.run_dir)
    _track(outcome.run_dir, request.tracking)


def _progress(experiment: Experiment, models: int) -> EpochProgress:
    epochs = experiment.spec.train.epochs
    return EpochProgress(_stderr(), models=models, epochs=epochs, metric=experiment.task.score)


def _check_memory(experiment: Experiment, models: int) -> None:
    """Refuse a network the machine cannot hold before anything is allocated."""
    from densecli.engine import check_fits, estimate

    data = experiment.data
    needed = estimate(experiment.spec, data.n_features, models, data.n_rows)
    fix = "use fewer or narrower layers" + (", or fewer folds/seeds" if models > 1 else "")
    check_fits([needed], fix=fix)


def _check_with_keras(experiment: Experiment, models: int) -> None:
    """Keras checks optimizer and initializer parameters (SGD's momentum in [0, 1], a
    positive VarianceScaling scale) when it builds them: do that once before the progress
    bar, so a bad value is a one-line error and not a failure after it appeared.

    Building runs TensorFlow's first op, after which its threads are fixed: they are chosen
    for the training ahead first."""
    from densecli.backend import import_keras, prefer_threads_for
    from densecli.engine import build_model, compile_model

    spec, n_features = experiment.spec, experiment.data.n_features
    prefer_threads_for(step_macs(spec, n_features, models))
    compile_model(build_model(spec, n_features), spec)
    import_keras().backend.clear_session()  # training starts from a fresh Keras state


def _preflight(experiment: Experiment, runs_dir: Path, models: int, eval_rows: int) -> None:
    """Refuse an unwritable or full runs folder before any time goes into training."""
    spec = experiment.spec
    widths = [experiment.data.n_features] + [layer.units for layer in spec.model.layers]
    preflight(runs_dir, estimate_bytes(widths, models, spec.train.epochs, eval_rows))


def validate(config: Path, overrides: Sequence[str], data: Path | None) -> None:
    """Check the spec against the data, then let Keras resolve every name; trains nothing."""
    experiment = _prepared(config, overrides, data)
    memory = _memory_line(experiment)  # before building the model: it may not fit
    summary = _model_summary(experiment.spec, experiment.data.n_features)
    notice_inference(experiment)
    console = Console()
    console.print(f"[bold]{config}[/bold]: valid. Resolved spec:")
    console.print(yaml.safe_dump(experiment.spec.resolved(), sort_keys=False), markup=False)
    console.print(summary)
    print_line(console, memory)
    found = experiment.data
    print_line(
        console,
        f"Data: {found.path} — {found.n_rows} rows, "
        f"{found.n_features} features, {experiment.task.describe_data()}.",
    )


def _memory_line(experiment: Experiment) -> str:
    """The memory estimates for `train` and `cv`; refuses a model too large to build."""
    from densecli.engine import available_bytes, check_fits, describe_bytes, estimate

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
    from densecli.engine import build_model, compile_model

    model = build_model(spec, n_features)
    compile_model(model, spec)  # resolves loss, optimizer and metrics names too
    table = titled_table(f"Model {spec.name!r}: {n_features} inputs")
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
    from densecli.spec import schema_text

    sys.stdout.write(schema_text())  # plain bytes: redirected into a file, never wrapped


def init(path: Path, data: Path | None = None, target: str = "-1") -> None:
    if data is None:
        from densecli.spec import write_starter

        written = write_starter(path)
        print_line(
            Console(),
            f"Wrote {written}: the tutorial's 12-8-1 network. Next: densecli validate {written}",
        )
        return
    from densecli.experiment import write_fitted_spec

    written, fitted = write_fitted_spec(path, data, target)
    print_line(Console(), f"Wrote {written}: {fitted}. Next: densecli cv {written}")


def predict(run_dir: Path, input_csv: Path, output: Path | None) -> None:
    from densecli.predict import (
        missing_models,
        model_outputs,
        predictions_csv,
        read_input_rows,
        write_predictions,
    )

    run = load_run(run_dir)
    warning = missing_models(run)
    if warning is not None:
        notice(f"warning: {warning}")
    rows = read_input_rows(input_csv, run)
    outputs = model_outputs(run, rows, lambda w: notice(f"warning: {w}"))
    text = predictions_csv(run, rows, outputs)
    if output is None:
        sys.stdout.write(text)
        return
    write_predictions(output, text)
    models = len(run.model_paths)
    how = f"mean of {models} fold models" if models > 1 else "the run's model"
    ignored = f"; ignored column(s) {', '.join(rows.ignored)}" if rows.ignored else ""
    notice(f"Scored {rows.n_rows} rows with {how}{ignored}. Written: {output}")


def show(run_dir: Path, plots: bool = False) -> None:
    """The run's summary; with `plots`, its pictures are drawn into its folder first."""
    from densecli.report import render_run_folder

    run = load_run(run_dir)
    if plots:
        from densecli.report import write_run_plots

        written = write_run_plots(run.folder)
        notice("Drawn: " + ", ".join(str(path) for path in written))
    render_run_folder(Console(), run)


def compare_runs(
    runs_dir: Path,
    fmt: str = "table",
    sort: str | None = None,
    mode: str | None = None,
    top: int | None = None,
    plot: Path | None = None,
    wide: bool = False,
) -> None:
    """`compare` with its options: which runs, in which order, in which format, and a plot.

    Runs of different tasks (classification, regression) are listed apart; without --sort
    each task's runs are ranked by its own score.
    """
    rows, warnings = collect_runs(runs_dir)
    for warning in warnings:
        notice(f"warning: {warning}")
    groups = [select_runs(group, sort, mode, top) for group in by_task(rows)]
    groups = [group for group in groups if group]
    cells = [table_rows(group) for group in groups]
    unfinished = collect_unfinished(runs_dir)  # interrupted, failed, abandoned: never ranked
    written = write_tables(runs_dir, cells, unfinished)
    titles = [_order_title(group, sort, mode, len(groups) > 1) for group in groups]
    if plot is not None:
        from densecli.report import write_comparison_plot

        chosen = groups[0] if groups else []
        written.append(write_comparison_plot(chosen, plot, titles[0] if titles else ""))
    if fmt != "table":
        shown_rows = [row for group in groups for row in group]
        sys.stdout.write(render_text(cells, shown_rows, fmt))  # stdout stays clean for pipes
        notice("Written: " + ", ".join(map(str, written)))
        return
    console = Console(width=100_000) if wide else _wide_console()
    if not groups:
        render_compare(console, [], written)
    for group, group_cells, title in zip(groups, cells, titles, strict=True):
        shown = title + (f" (top {top})" if top else "")
        _render_group(console, group, group_cells, shown, wide)
    if groups:
        print_line(console, "Written: " + ", ".join(str(p) for p in written))
    render_unfinished(console, unfinished_cells(unfinished))
    for sweep in sweep_folders(runs_dir):
        print_line(
            console,
            f"Sweep {sweep.name}: its points are runs of their own; "
            f"see {sweep / RESULTS_MD} or densecli compare {sweep}",
        )


def _order_title(rows: list[RunRow], sort: str | None, mode: str | None, named: bool) -> str:
    view = rows[0].view
    return describe_order(sort or view.score.key, mode, view.name if named else "")


def _render_group(
    console: Console, rows: list[RunRow], cells: list[dict[str, str]], title: str, wide: bool
) -> None:
    view = rows[0].view
    note = view.compare_note(view.shared_references([r.metrics for r in rows]))
    scores = list(view.compare_cells(rows[0].metrics, {}))[:3]  # what matters when narrow
    narrow = ("run", "mode", *[c for c in cells[0] if c in scores or c.startswith("vs ")][:3])
    render_compare(console, cells[:TERMINAL_ROWS], [], title, note, narrow, wide)
    if len(cells) > TERMINAL_ROWS:
        print_line(
            console,
            f"Showing the first {TERMINAL_ROWS} of {len(cells)} runs; all are in the "
            "compare files.",
        )


def sweep(request: SweepRequest, tracking: MlflowSettings | None = None) -> int:
    """Train every point of a sweep; returns the exit code (3 if a point failed).

    A stop signal while the results are shown still ends the sweep as `Interrupted` (exit
    143 / 130), never by the signal's default action.
    """
    with signals_as_interrupts():
        outcome = run_sweep(request, _stderr(), notice)
        try:
            render_results(_wide_console(), outcome.rows, outcome.sweep, outcome.folder)
            _track(outcome.folder, tracking)  # the points that finished, even if some failed
        except Interrupted as stop:
            stop.saved = _resume_line(outcome.folder)
            raise
        _late_stops_exit(outcome.folder)
    return outcome.exit_code


def _resume_line(folder: Path) -> str:
    return f"{folder}; finish it with: densecli sweep {folder} --resume"


def _late_stops_exit(folder: Path) -> None:
    """Everything is written and shown: a stop from now until the process ends has nothing
    left to save. It ends the process at once with the stop's exit code and the usual line,
    never by the signal's default action."""

    def stop(signum: int, frame: FrameType | None) -> None:
        interrupted = Interrupted(signum)
        interrupted.saved = _resume_line(folder)
        notice(interrupted_message(interrupted))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(interrupted.exit_code)

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop)


def tune(request: TuneRequest) -> int:
    """Search with Optuna, confirm the best trial; returns the exit code (3: none completed)."""
    outcome = run_tune(request, _stderr(), notice)
    render_tune(_wide_console(), outcome.folder, outcome.records, outcome.space.name)
    return outcome.exit_code


def _track(folder: Path, tracking: MlflowSettings | None) -> None:
    """Log a finished run (or sweep) folder to MLflow when asked to; the folder is written."""
    if tracking is not None:
        said = log_after(folder, tracking)
        if said:
            notice(said)


def mlflow(path: Path, uri: str | None) -> None:
    """Log existing run folders to MLflow; runs logged before are skipped."""
    from densecli.tracking import log_runs

    notice(log_runs(path, uri))


def export(run: Path, fmt: str, output: Path, fold: int | None) -> None:
    """One model file taking raw rows, with the run's preprocessing built in."""
    from densecli.export import export_run

    notice(export_run(run, fmt, output, fold))
