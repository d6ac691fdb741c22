"""What `densecli sweep` and `densecli tune` do, from the request to the last line on the
terminal: the search, its ranked table, MLflow when asked."""

from __future__ import annotations

from densecli.report import Terminal, render_nested
from densecli.search._sweep import SweepRequest, render_sweep, run_sweep
from densecli.search._tune import TuneRequest, run_tune
from densecli.search._tune_results import render_tune
from densecli.signals import Interrupted, exit_on_late_stops, signals_as_interrupts
from densecli.tracking import MlflowOptions, track, track_nested


def sweep(
    request: SweepRequest,
    mlflow: MlflowOptions | None = None,
    wide: bool = False,
    terminal: Terminal | None = None,
) -> int:
    """Train every point of a sweep; returns the exit code (3 if a point failed).

    A stop signal while the results are shown still ends the sweep as `Interrupted` (exit
    143 / 130), never by the signal's default action.
    """
    terminal = terminal or Terminal.open()
    home = request.source.parent if request.source.is_dir() else request.runs_dir
    tracking = (mlflow or MlflowOptions()).reachable(home)  # a resumed sweep's runs folder
    with signals_as_interrupts():
        outcome = run_sweep(request, terminal.err, terminal.notice)
        try:
            render_sweep(terminal.wide, outcome, wide)
            track(outcome.folder.path, tracking, terminal.notice)  # what finished, even if not all
        except Interrupted as stop:
            stop.saved = outcome.folder.resume_line()
            raise
        exit_on_late_stops(outcome.folder.resume_line(), terminal.notice)
    return outcome.exit_code


def tune(
    request: TuneRequest,
    wide: bool = False,
    terminal: Terminal | None = None,
    mlflow: MlflowOptions | None = None,
) -> int:
    """Search with Optuna, confirm the best trial; with --nested, the nested estimate of
    the search. Returns the exit code (3: no trial completed)."""
    terminal = terminal or Terminal.open()
    home = request.source.parent if request.source.is_dir() else request.runs_dir
    tracking = (mlflow or MlflowOptions()).reachable(home)  # before anything trains
    outcome = run_tune(request, terminal.err, terminal.notice)
    setup = outcome.setup
    render_tune(terminal.wide, setup.space.name, setup.folder.path, outcome.rows, wide)
    if outcome.nested is not None:
        render_nested(terminal.wide, outcome.nested)
        track_nested(setup.folder.path, tracking, terminal.notice)
    elif tracking.enabled:
        terminal.notice("--mlflow: a tune logs its nested estimate (tune --nested K) to MLflow")
    return outcome.exit_code
