"""One plain function per command: load, run, render. The CLI layer only parses options."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from densecli.experiment import Experiment, Output, Plan, prepare, run_cv, run_split
from densecli.report import EpochProgress, render_compare, render_run, render_unfinished
from densecli.runs import (
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
from densecli.signals import signals_as_interrupts
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
from densecli.tasks import view_for

# A terminal table of a thousand runs takes longer to draw than to read them all, and nobody
# reads it; compare.csv and compare.md always hold every run.
TERMINAL_ROWS = 50


def _wide_console() -> Console:
    """A terminal sizes itself; piped output gets room for compare's twelve columns."""
    console = Console()
    return console if console.is_terminal else Console(width=max(console.width, 200))


def _stderr() -> Console:
    return Console(stderr=True)


def notice(message: str) -> None:
    print_line(_stderr(), message)


def _output(runs_dir: Path, progress: EpochProgress) -> Output:
    return Output(runs_dir, progress, notice, this_command())


def train(
    config: Path, overrides: Sequence[str], runs_dir: Path, data: Path | None, plan: Plan
) -> None:
    experiment = prepare(load_spec(config, overrides), data)
    _preflight(experiment, runs_dir, plan.seeds, experiment.data.n_rows)
    with (
        signals_as_interrupts(),
        _progress(experiment, plan.seeds) as progress,
    ):
        outcome = run_split(experiment, plan, _output(runs_dir, progress))
    render_run(Console(), outcome.metrics, outcome.run_dir)


def cv(
    config: Path, overrides: Sequence[str], runs_dir: Path, data: Path | None, plan: Plan
) -> None:
    experiment = prepare(load_spec(config, overrides), data)
    models = experiment.spec.cv.folds * plan.repeats * plan.seeds
    _preflight(experiment, runs_dir, models, experiment.data.n_rows * plan.repeats)
    with signals_as_interrupts(), _progress(experiment, models) as progress:
        outcome = run_cv(experiment, plan, _output(runs_dir, progress))
    render_run(Console(), outcome.metrics, outcome.run_dir)


def _progress(experiment: Experiment, models: int) -> EpochProgress:
    epochs = experiment.spec.train.epochs
    return EpochProgress(_stderr(), models=models, epochs=epochs, metric=experiment.task.score)


def _preflight(experiment: Experiment, runs_dir: Path, models: int, eval_rows: int) -> None:
    """Refuse an unwritable or full runs folder before any time goes into training."""
    spec = experiment.spec
    widths = [experiment.data.n_features] + [layer.units for layer in spec.model.layers]
    preflight(runs_dir, estimate_bytes(widths, models, spec.train.epochs, eval_rows))


def validate(config: Path, overrides: Sequence[str], data: Path | None) -> None:
    """Check the spec against the data, then let Keras resolve every name; trains nothing."""
    experiment = prepare(load_spec(config, overrides), data)
    summary = _model_summary(experiment.spec, experiment.data.n_features)
    console = Console()
    console.print(f"[bold]{config}[/bold]: valid. Resolved spec:")
    console.print(yaml.safe_dump(experiment.spec.resolved(), sort_keys=False), markup=False)
    console.print(summary)
    console.print(
        f"Data: {experiment.data.path} — {experiment.data.n_rows} rows, "
        f"{experiment.data.n_features} features, {experiment.task.describe_data()}.",
        markup=False,
        soft_wrap=True,
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


def init(path: Path) -> None:
    from densecli.spec import write_starter

    written = write_starter(path)
    print_line(
        Console(),
        f"Wrote {written}: the tutorial's 12-8-1 network. Next: densecli validate {written}",
    )


def predict(run_dir: Path, input_csv: Path, output: Path | None) -> None:
    from densecli.predict import model_outputs, predictions_csv, read_input_rows, write_predictions

    run = load_run(run_dir)
    rows = read_input_rows(input_csv, run)
    text = predictions_csv(run, rows, model_outputs(run, rows.features))
    if output is None:
        sys.stdout.write(text)
        return
    write_predictions(output, text)
    models = len(run.model_paths)
    how = f"mean of {models} fold models" if models > 1 else "the run's model"
    note = "; the target column was ignored" if rows.dropped_target else ""
    notice(f"Scored {len(rows.lines)} rows with {how}{note}. Written: {output}")


def show(run_dir: Path) -> None:
    from densecli.report import render_run_folder

    render_run_folder(Console(), load_run(run_dir))


def compare_runs(
    runs_dir: Path,
    fmt: str = "table",
    sort: str = "accuracy",
    mode: str | None = None,
    top: int | None = None,
    plot: Path | None = None,
) -> None:
    """`compare` with its options: which runs, in which order, in which format, and a plot."""
    rows, warnings = collect_runs(runs_dir)
    for warning in warnings:
        notice(f"warning: {warning}")
    rows = select_runs(rows, sort, mode, top)
    cells = table_rows(rows)
    unfinished = collect_unfinished(runs_dir)  # interrupted, failed, abandoned: never ranked
    written = write_tables(runs_dir, cells, unfinished)
    title = describe_order(sort, mode)
    if plot is not None:
        from densecli.report import write_comparison_plot

        written.append(write_comparison_plot(rows, plot, title))
    if fmt != "table":
        sys.stdout.write(render_text(cells, rows, fmt))  # stdout stays clean for pipes
        notice("Written: " + ", ".join(map(str, written)))
        return
    shown = title + (f" (top {top})" if top is not None else "")
    console = _wide_console()
    note = ""
    if rows:
        view = view_for(rows[0].metrics)
        note = view.compare_note(view.shared_references([r.metrics for r in rows]))
    render_compare(console, cells[:TERMINAL_ROWS], written, title=shown, note=note)
    if len(cells) > TERMINAL_ROWS:
        print_line(
            console,
            f"Showing the first {TERMINAL_ROWS} of {len(cells)} runs; all are in {written[1]}.",
        )
    render_unfinished(console, unfinished_cells(unfinished))
    for sweep in sweep_folders(runs_dir):
        print_line(
            console,
            f"Sweep {sweep.name}: its points are runs of their own; "
            f"see {sweep / RESULTS_MD} or densecli compare {sweep}",
        )


def sweep(request: SweepRequest) -> int:
    """Train every point of a sweep; returns the exit code (3 if a point failed)."""
    outcome = run_sweep(request, _stderr(), notice)
    render_results(_wide_console(), outcome.rows, outcome.sweep, outcome.folder)
    return outcome.exit_code


def tune(request: TuneRequest) -> int:
    """Search with Optuna, confirm the best trial; returns the exit code (3: none completed)."""
    outcome = run_tune(request, _stderr(), notice)
    render_tune(_wide_console(), outcome.folder, outcome.records, outcome.space.name)
    return outcome.exit_code
