"""The command line: options are declared here and handed to one function in `commands`.

User errors (`DensecliError`) are caught at this edge and printed one line per problem,
with exit code 2 and no traceback. Nothing imports this module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from densecli import __version__, commands
from densecli.errors import DensecliError
from densecli.experiment import Plan
from densecli.watch import Interrupted, interrupted_message

app = typer.Typer(
    name="densecli",
    help="Honest, reproducible experiments with dense Keras networks on tabular data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

DEFAULT_CONFIG = Path("configs/pima.yaml")
DEFAULT_RUNS = Path("runs")

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
EngineOption = Annotated[
    str,
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


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except DensecliError as err:
        console = Console(stderr=True)
        for problem in err.problems:
            console.print(f"error: {problem}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(err.exit_code) from None
    except KeyboardInterrupt as stop:
        Console(stderr=True).print(interrupted_message(stop), highlight=False, soft_wrap=True)
        raise typer.Exit(stop.exit_code if isinstance(stop, Interrupted) else 130) from None


def _plan(engine: str, repeats: int, seeds: int) -> Plan:
    if engine not in ("compiled", "fit"):
        raise DensecliError(f"--engine: {engine!r} is not an engine; use compiled or fit")
    return Plan(engine, repeats, seeds, commands.notice)  # type: ignore[arg-type]


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
    engine: EngineOption = "compiled",
    seeds: SeedsOption = 1,
) -> None:
    """Train on the classic split (first `data.train_rows` rows) and score the rest.

    Example: `densecli train configs/pima.yaml --set train.epochs=20`
    """
    with user_errors():
        commands.train(config, set_ or [], runs_dir, data, _plan(engine, 1, seeds))


@app.command()
def cv(
    config: Annotated[Path, typer.Argument(help="YAML spec.")] = DEFAULT_CONFIG,
    set_: SetOption = None,
    runs_dir: RunsOption = DEFAULT_RUNS,
    data: DataOption = None,
    folds: Annotated[int | None, typer.Option(help="Shortcut for --set cv.folds=N.")] = None,
    repeats: Annotated[
        int, typer.Option(min=1, help="Repeated k-fold: R shuffles, fold seeds seed, seed+1, …")
    ] = 1,
    seeds: SeedsOption = 1,
    engine: EngineOption = "compiled",
) -> None:
    """Stratified k-fold cross-validation (`cv.folds`, default 10).

    Example: `densecli cv configs/pima.yaml --repeats 5 --set train.epochs=300`
    """
    overrides = [*(set_ or []), *([f"cv.folds={folds}"] if folds is not None else [])]
    with user_errors():
        commands.cv(config, overrides, runs_dir, data, _plan(engine, repeats, seeds))


@app.command()
def compare(
    runs_dir: Annotated[Path, typer.Argument(help="Folder of runs.")] = DEFAULT_RUNS,
) -> None:
    """One table of all runs, best first; also written as compare.csv and compare.md.

    Example: `densecli compare runs/`
    """
    with user_errors():
        commands.compare(runs_dir)


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
        commands.validate(config, set_ or [], data)


def main() -> None:
    app()
