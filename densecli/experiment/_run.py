"""`densecli train` and `densecli cv`: every check that can refuse the run first, then
training under the progress bar, the run's tables, and MLflow when asked."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from densecli.experiment._checks import Candidate, check_before_training
from densecli.experiment._prepare import (
    DEFAULT_PLAN,
    Experiment,
    Output,
    Plan,
    announce_inferences,
    prepare_file,
)
from densecli.experiment._record import Outcome, run_cv, run_split
from densecli.report import EpochProgress, Terminal, render_run
from densecli.runs import DEFAULT_RUNS_DIR, this_command
from densecli.signals import signals_as_interrupts, stops_name
from densecli.tracking import MlflowOptions, track

DEFAULT_CONFIG = Path("configs/pima.yaml")  # the spec `densecli cv` runs when given none


@dataclass(frozen=True)
class RunRequest:
    """What `train` (cv False) and `cv` were asked for."""

    config: Path
    overrides: Sequence[str] = ()
    runs_dir: Path = DEFAULT_RUNS_DIR
    data: Path | None = None
    plan: Plan = DEFAULT_PLAN
    tracking: MlflowOptions = field(default_factory=MlflowOptions)
    cv: bool = False


def run_experiment(request: RunRequest, terminal: Terminal | None = None) -> Outcome:
    """The classic split (train on the first rows, score the rest) or (repeated) k-fold CV."""
    terminal = terminal or Terminal.open()
    tracking = request.tracking.reachable(request.runs_dir)
    plan, cv = request.plan, request.cv
    experiment = prepare_file(request.config, request.overrides, request.data)
    check_before_training([Candidate(experiment)], plan, request.runs_dir, cv=cv)
    announce(experiment, terminal.notice)
    folds = experiment.spec.cv.folds * plan.repeats if cv else 1
    score, epochs = experiment.task.score, experiment.spec.train.epochs
    run = run_cv if cv else run_split
    with (
        signals_as_interrupts(),
        EpochProgress(terminal.err, folds * plan.seeds, epochs, score) as progress,
    ):
        output = Output(request.runs_dir, progress, terminal.notice, this_command())
        outcome = run(experiment, plan, output)
    with stops_name(str(outcome.run_dir), finished=True):
        render_run(terminal.out, outcome.metrics, outcome.run_dir)
        track(outcome.run_dir, tracking, terminal.notice)
    return outcome


def announce(experiment: Experiment, notice: Callable[[str], None]) -> None:
    """Say once what was inferred about the file and the task, and why (after the checks
    that can refuse a run)."""
    announce_inferences(experiment, notice)
    task = experiment.task
    if task.reason:
        notice(f"task: {task.name} ({task.reason}); set task: in the spec to choose")
