"""What every search shares once its strategy has proposed points: the checks before any of
them trains, bundling them into groups, sending the groups to the runner (local workers or
Ray), and what a stop leaves behind."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from densecli.experiment import (
    Candidate,
    Experiment,
    KerasCheck,
    Plan,
    Scope,
    check_before_training,
)
from densecli.search._file import Point
from densecli.search._folder import SearchFolder
from densecli.search._groups import group_points
from densecli.search._local import OnResult, OnStart, Pool, local_workers_unless, run_local
from densecli.search._pruning import PruningPlan
from densecli.search._ray import run_ray
from densecli.search._request import SearchRequest
from densecli.search._worker import GroupTask
from densecli.signals import Interrupted, signals_deferred


@contextlib.contextmanager
def runners(request: SearchRequest) -> Iterator[tuple[Pool | None, contextlib.ExitStack[Any]]]:
    """Warm local workers (unless the groups go to Ray), started at once so that they import
    TensorFlow while the points are validated; the stack also closes a Ray session."""
    with contextlib.ExitStack() as stack:
        yield stack.enter_context(local_workers_unless(request.ray, request.workers)), stack


def group_tasks(
    points: Sequence[Point],
    folder: SearchFolder,
    data_paths: dict[int, Path],
    plan: Plan,
    request: SearchRequest,
    pruning: PruningPlan | None = None,
) -> list[GroupTask]:
    """Equal networks as one bundle each; what a worker or a Ray task needs to train it."""
    return [
        GroupTask(
            str(folder.path),
            [(p.number, p.spec) for p in group],
            str(data_paths[group[0].number]),  # equal within a group: data is in the key
            plan,
            command=request.command,
            pruning=pruning,
            plots=request.plots,
        )
        for group in group_points(list(points), request.workers)
    ]


def train_groups(runner: Any, tasks: list[GroupTask], on_start: OnStart, on_done: OnResult) -> None:
    """Every group on the runner: the local pool, or the Ray module."""
    if isinstance(runner, Pool):
        run_local(runner, tasks, on_start, on_done)
    else:
        run_ray(runner, tasks, on_start, on_done)


def check_points(
    points: Sequence[Point],
    experiments: dict[int, Experiment],
    plan: Plan,
    runs_dir: Path,
    request: SearchRequest,
    scope: Scope,
    pool: Pool | None = None,
    threads_models: int | None = None,
) -> None:
    """The checks `train` and `cv` make, for every point about to train: in a warm worker
    for Keras when there is one (the search's own process then never imports TensorFlow)."""
    candidates = [Candidate(experiments[p.number], p.label, p.describe()) for p in points]
    index = {p.number: i for i, p in enumerate(points)}
    groups = group_points(list(points), request.workers)
    bundles = [[index[p.number] for p in group] for group in groups]
    keras: KerasCheck | None = None if pool is None else pool.check
    check_before_training(
        candidates, plan, runs_dir, bundles=bundles, at_once=request.workers, scope=scope,
        threads_models=threads_models, keras=keras,
    )  # fmt: skip


@contextlib.contextmanager
def saved_on_stop(folder: SearchFolder, write: Any) -> Iterator[None]:
    """A stop writes the results (what finished) and says how to resume."""
    try:
        yield
    except KeyboardInterrupt as stop:
        with signals_deferred(reraise=False), contextlib.suppress(Exception):
            write()  # a second Ctrl-C must not cut this short; a failure must not hide the stop
        if isinstance(stop, Interrupted):
            stop.saved = folder.resume_line()
        raise
