"""The command line: options are declared here and handed to one library function each.

Every choice and default comes from the library. User errors (`DensecliError`) are caught
at this edge and printed one line per problem, with exit code 2 and no traceback; a stop
(or any error after one) as its line, with 130 / 143. Nothing but `densecli.cli` imports
this module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

import densecli.cli._commands as commands
from densecli import __version__, search
from densecli.engine import EngineName
from densecli.errors import DensecliError
from densecli.experiment import (
    DEFAULT_CONFIG,
    DEFAULT_PLAN,
    INIT_PATH,
    INIT_TARGET,
    Plan,
    RunRequest,
    run_experiment,
    validate_file,
)
from densecli.export import FormatName
from densecli.report import CompareRequest, compare_runs, show_run
from densecli.runs import DEFAULT_RUNS_DIR, Mode, OutputFormat, SortKey, this_command
from densecli.signals import as_stop, report_stop
from densecli.tracking import MlflowOptions

app = typer.Typer(
    name="densecli",
    help="Honest, reproducible experiments with dense Keras networks on tabular data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

DEFAULT_RUNS = DEFAULT_RUNS_DIR

SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        metavar="KEY=VALUE",
        help="Override a spec key before validation, e.g. train.epochs=20 (repeatable).",
    ),
]
RunsOption = Annotated[
    Path, typer.Option("--runs-dir", help="Folder that receives the run folder.")
]
PlotsOption = Annotated[
    bool,
    typer.Option(
        "--plots",
        help="Draw every point's pictures as it finishes (slower); without it, "
        "`densecli show RUN --plots` draws one run's when wanted.",
    ),
]
EngineOption = Annotated[
    EngineName,
    typer.Option(
        "--engine",
        help="compiled: all models in one TensorFlow graph (fast); "
        "fit: model.fit per model, the reference path.",
    ),
]
SeedsOption = Annotated[
    int,
    typer.Option(
        "--seeds", min=1, help="Weight initialisations per model (seeds derived from seed)."
    ),
]
DataOption = Annotated[
    Path | None,
    typer.Option("--data", help="CSV to train on instead of data.path / the built-in Pima file."),
]
FoldsOption = Annotated[int | None, typer.Option(help="Shortcut for --set cv.folds=N.")]
RepeatsOption = Annotated[
    int, typer.Option(min=1, help="Repeated k-fold: R shuffles, fold seeds seed, seed+1, …")
]
MlflowOption = Annotated[
    bool,
    typer.Option(
        "--mlflow",
        help="Log the finished run to MLflow (pip install 'densecli[mlflow]'): to --mlflow-uri, "
        "else $DENSECLI_MLFLOW_URI, else sqlite:///RUNS_DIR/mlflow.db (RUNS_DIR: --runs-dir).",
    ),
]
MlflowUriOption = Annotated[
    str | None,
    typer.Option("--mlflow-uri", metavar="URI", help="MLflow tracking URI; implies --mlflow."),
]
MlflowOptionalOption = Annotated[
    bool,
    typer.Option(
        "--mlflow-optional",
        help="If MLflow cannot be reached, warn and train anyway; implies --mlflow.",
    ),
]
WideOption = Annotated[
    bool,
    typer.Option("--wide", help="Every column, however wide the terminal (default: what fits)."),
]


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except BaseException as error:
        stop = as_stop(error)  # any error after a stop is the stop (TensorFlow may wrap it)
        if stop is not None:
            raise typer.Exit(report_stop(stop)) from None
        if not isinstance(error, DensecliError):
            raise
        console = Console(stderr=True)
        for problem in error.problems:
            console.print(f"error: {problem}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(error.exit_code) from None


def _with_folds(overrides: list[str] | None, folds: int | None) -> list[str]:
    """--set overrides, then --folds N as cv.folds=N."""
    return [*(overrides or []), *([f"cv.folds={folds}"] if folds is not None else [])]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"densecli {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Honest, reproducible experiments with dense Keras networks on tabular data."""


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="YAML spec.")],
    set_: SetOption = None,
    runs_dir: RunsOption = DEFAULT_RUNS,
    data: DataOption = None,
    engine: EngineOption = DEFAULT_PLAN.engine,
    seeds: SeedsOption = DEFAULT_PLAN.seeds,
    mlflow: MlflowOption = False,
    mlflow_uri: MlflowUriOption = None,
    mlflow_optional: MlflowOptionalOption = False,
) -> None:
    """Train on the classic split (first `data.train_rows` rows) and score the rest.

    Example: `densecli train configs/pima.yaml --set train.epochs=20`
    """
    tracking = MlflowOptions(mlflow, mlflow_uri, mlflow_optional)
    plan = Plan(engine, DEFAULT_PLAN.repeats, seeds)
    with user_errors():
        run_experiment(RunRequest(config, set_ or [], runs_dir, data, plan, tracking, cv=False))


@app.command()
def cv(
    config: Annotated[Path, typer.Argument(help="YAML spec.")] = DEFAULT_CONFIG,
    set_: SetOption = None,
    runs_dir: RunsOption = DEFAULT_RUNS,
    data: DataOption = None,
    folds: FoldsOption = None,
    repeats: RepeatsOption = DEFAULT_PLAN.repeats,
    seeds: SeedsOption = DEFAULT_PLAN.seeds,
    engine: EngineOption = DEFAULT_PLAN.engine,
    mlflow: MlflowOption = False,
    mlflow_uri: MlflowUriOption = None,
    mlflow_optional: MlflowOptionalOption = False,
) -> None:
    """Stratified k-fold cross-validation (`cv.folds`, default 10).

    Example: `densecli cv configs/pima.yaml --repeats 5 --set train.epochs=300`
    """
    tracking = MlflowOptions(mlflow, mlflow_uri, mlflow_optional)
    overrides = _with_folds(set_, folds)
    plan = Plan(engine, repeats, seeds)
    with user_errors():
        run_experiment(RunRequest(config, overrides, runs_dir, data, plan, tracking, cv=True))


@app.command()
def sweep(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="SWEEP",
            help="Sweep file (base + grid), a spec with --grid, or a sweep folder to --resume.",
        ),
    ],
    grid: Annotated[
        list[str] | None,
        typer.Option(
            "--grid",
            "-g",
            metavar="KEY=V1,V2",
            help="Vary a spec key over these values (repeatable; adds to the file's grid).",
        ),
    ] = None,
    set_: SetOption = None,
    runs_dir: RunsOption = DEFAULT_RUNS,
    data: DataOption = None,
    workers: Annotated[
        int,
        typer.Option(min=1, help="Processes training groups of points at once (default: cores)."),
    ] = search.DEFAULT_WORKERS,
    folds: FoldsOption = None,
    repeats: RepeatsOption = DEFAULT_PLAN.repeats,
    seeds: SeedsOption = DEFAULT_PLAN.seeds,
    engine: EngineOption = DEFAULT_PLAN.engine,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Finish an interrupted sweep: finished points are kept, the rest trained.",
        ),
    ] = False,
    ray: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            help="Run the groups as Ray tasks on this cluster, or 'local' for a local Ray "
            "runtime (needs pip install 'densecli[ray]').",
        ),
    ] = None,
    mlflow: MlflowOption = False,
    mlflow_uri: MlflowUriOption = None,
    mlflow_optional: MlflowOptionalOption = False,
    max_points: Annotated[
        int,
        typer.Option(
            min=1, help="Refuse a grid of more points than this (counted before they are made)."
        ),
    ] = search.MAX_POINTS,
    plots: PlotsOption = False,
    wide: WideOption = False,
) -> None:
    """Cross-validate every point of a grid or random search; one run folder per point.

    Example: `densecli sweep configs/sweep-pima.yaml` or
    `densecli sweep configs/pima.yaml --grid model.layers.0.units=8,12,16 --set train.epochs=300`
    """
    request = search.SweepRequest(
        source,
        tuple(_with_folds(set_, folds)),
        tuple(grid or []),
        runs_dir,
        data,
        Plan(engine, repeats, seeds),
        workers,
        resume,
        ray,
        this_command(),
        plots,
        max_points=max_points,
    )
    tracking = MlflowOptions(mlflow, mlflow_uri, mlflow_optional)
    with user_errors():
        code = search.sweep(request, tracking, wide)
    if code:
        raise typer.Exit(code)


@app.command()
def tune(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="SEARCH",
            help="Tune file (a sweep file: a list is a choice, {low, high, log} a range), a "
            "spec with --grid, or a tune folder to --resume.",
        ),
    ],
    trials: Annotated[
        int, typer.Option(min=1, help="Trials in the study in all (a resumed tune continues).")
    ] = search.DEFAULT_TRIALS,
    grid: Annotated[
        list[str] | None,
        typer.Option("--grid", "-g", metavar="KEY=V1,V2", help="Choose a spec key among values."),
    ] = None,
    set_: SetOption = None,
    sampler: Annotated[
        search.SamplerKind,
        typer.Option(
            help="tpe (seeded from the spec's seed, constant liar), random, gp (needs PyTorch), "
            "cmaes (ranges only: lists are drawn at random)."
        ),
    ] = search.DEFAULT_SAMPLER,
    pruner: Annotated[
        search.PrunerKind,
        typer.Option(
            help="Stop bad trials inside their bundle: median (at every 5 % of the epochs), "
            "wilcoxon (per fold at 25/50/75 %; its p-value is not nominal there), none."
        ),
    ] = search.DEFAULT_PRUNER,
    batch: Annotated[
        int | None,
        typer.Option(
            min=1,
            help=f"Trials asked at a time after the first batch (default {search.BATCH}, "
            "or two per worker).",
        ),
    ] = None,
    timeout: Annotated[
        float | None, typer.Option(min=0, help="No new batch after this many seconds.")
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="An Optuna storage (e.g. postgresql://…) instead of study.db in the folder.",
        ),
    ] = None,
    confirm_repeats: Annotated[
        int,
        typer.Option(
            min=0, help="Re-run the best trial with cv --repeats R on unseen CV seeds (0: skip)."
        ),
    ] = search.DEFAULT_CONFIRM_REPEATS,
    nested: Annotated[
        int | None,
        typer.Option(
            metavar="K",
            min=2,
            help="Nested CV of the whole search: the same search in each of K outer folds' "
            "training rows, each winner scored on its fold's rows; then the search on all rows.",
        ),
    ] = None,
    plots: PlotsOption = False,
    runs_dir: RunsOption = DEFAULT_RUNS,
    data: DataOption = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Processes training groups of trials at once.")
    ] = search.DEFAULT_WORKERS,
    folds: FoldsOption = None,
    repeats: RepeatsOption = DEFAULT_PLAN.repeats,
    seeds: SeedsOption = DEFAULT_PLAN.seeds,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue a stopped tune: its study, finished trials kept."),
    ] = False,
    ray: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            help="Run trial batches as Ray tasks on this cluster, or 'local' (the study stays "
            "here).",
        ),
    ] = None,
    mlflow: MlflowOption = False,
    mlflow_uri: MlflowUriOption = None,
    mlflow_optional: MlflowOptionalOption = False,
    wide: WideOption = False,
) -> None:
    """Adaptive search with Optuna: trials trained as compiled bundles, pruned, confirmed.

    Example: `densecli tune configs/tune-pima.yaml --trials 100`. Needs
    pip install 'densecli[tune]'.
    """
    request = search.TuneRequest(
        source,
        tuple(_with_folds(set_, folds)),
        tuple(grid or []),
        runs_dir,
        data,
        Plan(repeats=repeats, seeds=seeds),  # the compiled engine: trials are pruned inside it
        workers,
        resume,
        ray,
        this_command(),
        plots,
        trials=trials,
        sampler=sampler,
        pruner=pruner,
        timeout=timeout,
        storage=storage,
        confirm_repeats=confirm_repeats,
        batch=batch,
        nested=nested,
    )
    tracking = MlflowOptions(mlflow, mlflow_uri, mlflow_optional)
    with user_errors():
        code = search.tune(request, tracking, wide)
    if code:
        raise typer.Exit(code)


@app.command()
def compare(
    runs_dir: Annotated[Path, typer.Argument(help="Folder of runs.")] = DEFAULT_RUNS,
    fmt: Annotated[
        OutputFormat,
        typer.Option("--format", help="table for people; csv, markdown, json for tools."),
    ] = CompareRequest.fmt,
    sort: Annotated[
        SortKey | None,
        typer.Option(
            help="Order by this score, best first (loss, rmse, mae: lowest first). "
            "Default: each task's own score (accuracy; RMSE for regression)."
        ),
    ] = None,
    mode: Annotated[Mode | None, typer.Option(help="Only classic-split or only CV runs.")] = None,
    top: Annotated[int | None, typer.Option(min=1, help="Keep the first N runs.")] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="Also draw accuracy (± std) per run into this .png, .svg or .pdf."
        ),
    ] = None,
    wide: WideOption = False,
) -> None:
    """One table of all runs, best first; also written as compare.csv and compare.md.

    Example: `densecli compare runs/ --mode cv --top 5 --plot comparison.png`
    """
    with user_errors():
        compare_runs(CompareRequest(runs_dir, fmt, sort, mode, top, plot, wide))


@app.command()
def validate(
    config: Annotated[Path, typer.Argument(help="YAML spec.")],
    set_: SetOption = None,
    data: DataOption = None,
) -> None:
    """Check a spec, print it fully resolved and the model summary; trains nothing.

    Example: `densecli validate configs/pima.yaml --set model.layers.0.units=16`
    """
    with user_errors():
        validate_file(config, set_ or [], data)


@app.command()
def schema() -> None:
    """Print the spec's JSON Schema, for editors that complete and check YAML keys.

    Example: `densecli schema > densecli.schema.json`
    """
    with user_errors():
        commands.schema()


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the spec.")] = INIT_PATH,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            metavar="FILE",
            help="Fit the spec to this CSV: task, output layer, loss, columns to drop, "
            "text columns, imputation, a starting network; each choice explained.",
        ),
    ] = None,
    target: Annotated[
        str,
        typer.Option(
            "--target",
            metavar="COLUMN",
            help="With --data: the target column, by name or 0-based index (-1: the last).",
        ),
    ] = INIT_TARGET,
) -> None:
    """Write a commented starter spec; never overwrites a file.

    Without --data, the tutorial's network on the Pima data; with --data, a spec fitted to
    your CSV that `densecli cv` runs as it is.

    Example: `densecli init configs/mine.yaml --data mine.csv --target outcome`
    """
    with user_errors():
        commands.init(path, data, target)


@app.command()
def predict(
    run: Annotated[Path, typer.Argument(help="Run folder made by train or cv.")],
    input_csv: Annotated[
        Path, typer.Argument(metavar="INPUT.csv", help="Rows of feature values to score.")
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the CSV here instead of to the terminal."),
    ] = None,
) -> None:
    """Score new rows with a run's model (a CV run: the mean of its fold models).

    INPUT.csv holds the feature columns in training order; a header is optional and a target
    column, if present, is ignored. Each output row gives the input line, the probability of
    each class and the predicted class.

    Example: `densecli predict runs/20250101-120000-pima-tutorial-split new.csv -o scored.csv`
    """
    with user_errors():
        commands.predict(run, input_csv, output)


@app.command()
def show(
    run: Annotated[Path, typer.Argument(help="Run folder made by train or cv.")],
    plots: Annotated[
        bool,
        typer.Option(
            "--plots",
            help="Draw the run's pictures into its folder first (a sweep's points have none "
            "until asked).",
        ),
    ] = False,
) -> None:
    """Show a run: its resolved spec, the model with parameter counts, metrics and files.

    Example: `densecli show runs/20250101-120000-pima-tutorial-cv --plots`
    """
    with user_errors():
        show_run(run, plots)


@app.command("mlflow")
def mlflow_(
    path: Annotated[
        Path,
        typer.Argument(metavar="RUNS", help="A runs folder, or one run, sweep or tune folder."),
    ] = DEFAULT_RUNS,
    mlflow_uri: Annotated[
        str | None,
        typer.Option(
            "--mlflow-uri",
            metavar="URI",
            help="Tracking URI; default $DENSECLI_MLFLOW_URI, else sqlite:///RUNS/mlflow.db.",
        ),
    ] = None,
) -> None:
    """Log finished runs, sweeps and tunes to MLflow, each run with its model; runs logged
    before are left as they are (needs densecli[mlflow]). A damaged folder is named and
    skipped, and the exit code is then 1.

    Example: `densecli mlflow runs/` then `mlflow ui --backend-store-uri sqlite:///runs/mlflow.db`
    """
    with user_errors():
        code = commands.mlflow(path, mlflow_uri)
    if code:
        raise typer.Exit(code)


@app.command()
def export(
    run: Annotated[Path, typer.Argument(help="Run folder made by train or cv.")],
    fmt: Annotated[
        FormatName,
        typer.Option("--format", "-f", help="keras, saved_model (a folder), onnx or litert"),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the artifact (never replaced).")
    ],
    fold: Annotated[
        int | None,
        typer.Option(
            metavar="K", min=1, help="Export only the K-th model of a CV run (default: their mean)."
        ),
    ] = None,
) -> None:
    """One model file that takes raw feature rows, with the run's preprocessing built in.

    It returns the class probabilities `predict` shows (a CV run: the mean of its fold models);
    PATH.export.json beside it names the input columns and outputs.

    Example: `densecli export runs/20250101-120000-pima-tutorial-cv --format onnx -o pima.onnx`
    """
    with user_errors():
        commands.export(run, fmt, output, fold)
