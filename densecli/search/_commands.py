"""What `densecli sweep` and `densecli tune` do, from the request to the last line on the
terminal: the search, its ranked table, MLflow when asked."""

from __future__ import annotations

from densecli.report import Terminal, render_nested
from densecli.search._sweep import SweepRequest, render_sweep, run_sweep
from densecli.search._tune import TuneRequest, run_tune
from densecli.search._tune_results import render_tune
from densecli.signals import exit_on_late_stops, signals_as_interrupts, stops_name
from densecli.tracking import MlflowOptions, Tracking, track


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
        with stops_name(outcome.folder.resume_line()):
            render_sweep(terminal.wide, outcome, wide)
            track(outcome.folder.path, tracking, terminal.notice)  # what finished, even if not all
        exit_on_late_stops(outcome.folder.resume_line(), terminal.notice)
    return outcome.exit_code


def tune(
    request: TuneRequest,
    mlflow: MlflowOptions | None = None,
    wide: bool = False,
    terminal: Terminal | None = None,
) -> int:
    """Search with Optuna, confirm the best trial; with --nested, the nested estimate of
    the search. Returns the exit code (3: no trial completed).

    With MLflow, each batch's trials are logged as the batch ends, and the confirmation,
    the confirmed trial's model and a nested estimate once the tune is done. As a sweep's,
    a stop while the results are shown or logged still names the folder.
    """
    terminal = terminal or Terminal.open()
    home = request.source.parent if request.source.is_dir() else request.runs_dir
    tracking = Tracking((mlflow or MlflowOptions()).reachable(home))  # before anything trains
    with signals_as_interrupts():
        outcome = run_tune(request, terminal.err, terminal.notice, tracking.batch)
        setup = outcome.setup
        with stops_name(setup.folder.resume_line()):
            render_tune(terminal.wide, setup.space.name, setup.folder.path, outcome.rows, wide)
            if outcome.nested is not None:
                render_nested(terminal.wide, outcome.nested)
            track(setup.folder.path, tracking, terminal.notice)
        exit_on_late_stops(setup.folder.resume_line(), terminal.notice)
    return outcome.exit_code
