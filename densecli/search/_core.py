"""The search core, in the spirit of scikit-learn's `BaseSearchCV`: one driver for every
search, and a `Strategy` that only says which points to train and when to stop.

`run_search` finds the search a request names (a file, or a folder to resume), validates
the strategy's points against the data, makes the folder, and hands the strategy a `Search`:
its `check` is the same pre-run check `train` and `cv` make, its `train` bundles points into
groups and sends them to the runner (warm local workers, or Ray). A stop at any moment writes
the strategy's results and names the resume command.
"""

from __future__ import annotations

import contextlib
import shutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from densecli.errors import DensecliError
from densecli.experiment import (
    Candidate,
    Experiment,
    KerasCheck,
    Plan,
    check_before_training,
    prepare,
)
from densecli.runs.files import SearchKind
from densecli.search._file import Definition, Point, Reading
from densecli.search._folder import SearchFolder, data_record, locate
from densecli.search._groups import GroupKey, group_points, network_key
from densecli.search._local import (
    OnResult,
    OnStart,
    Pool,
    Refill,
    local_workers_unless,
    run_local,
)
from densecli.search._pruning import PruningPlan
from densecli.search._ray import cluster_for, run_ray
from densecli.search._request import SearchRequest
from densecli.search._worker import GroupTask, PointPlace
from densecli.signals import (
    Interrupted,
    as_stop,
    raise_if_stopped,
    signals_as_interrupts,
    signals_deferred,
)

R = TypeVar("R", bound=Reading)


class Strategy(ABC, Generic[R]):
    """How one kind of search proposes its points; the core does the rest."""

    kind: SearchKind

    @abstractmethod
    def read(self, definition: Definition) -> R:
        """The strategy's reading of the search file: its points, or its space."""

    @abstractmethod
    def to_validate(self, reading: R) -> list[Point]:
        """The points whose specs are checked against the data before anything trains."""

    @abstractmethod
    def record(self, reading: R) -> dict[str, Any]:
        """The strategy's own part of a new folder's record."""

    def before_folder(self, reading: R, folder: SearchFolder | None, plan: Plan) -> None:
        """The strategy's own checks once its points are valid, before a folder is made
        (`folder`: the one resumed, if any); none by default."""

    @abstractmethod
    def run(self, search: Search[R]) -> None:
        """Propose points and have `search` train them, until the strategy is done."""

    @abstractmethod
    def write_results(self, search: Search[R]) -> None:
        """results.csv and results.md as the folder is now (after a stop, too)."""


@dataclass(frozen=True)
class Search(Generic[R]):
    """A validated search in its folder: what a strategy's `run` works with."""

    request: SearchRequest
    reading: R
    folder: SearchFolder
    new: bool  # the folder was made by this command (removed again if the checks refuse)
    plan: Plan
    experiments: dict[int, Experiment]  # the validated points', by number
    runner: Any  # the local Pool, or the Ray module
    stack: contextlib.ExitStack[Any]  # ends the workers or the Ray session
    notice: Callable[[str], None]

    @contextlib.contextmanager
    def refusing(self) -> Iterator[None]:
        """A check that refuses leaves no folder this command made behind."""
        try:
            yield
        except DensecliError:
            if self.new:  # nothing was trained
                shutil.rmtree(self.folder.path, ignore_errors=True)
            raise

    def check(
        self,
        points: Sequence[Point],
        within: Sequence[np.ndarray | None] = (None,),
    ) -> None:
        """The checks `train` and `cv` make, for these points; Keras' in a warm worker (the
        search's own process imports no TensorFlow for it; with Ray, here). `within`: the
        rows of each study the points train in at once (a nested tune: every outer fold's
        training rows, and all rows), whose equal networks may share a bundle."""
        candidates = [
            Candidate(_within(self.experiments[p.number], rows), p.label, p.describe())
            for rows in within
            for p in points
        ]
        index = {p.number: i for i, p in enumerate(points)}
        bundles = [
            [copy * len(points) + index[p.number] for copy in range(len(within)) for p in group]
            for group in group_points(list(points), self.workers)
        ]
        pool = self.runner if isinstance(self.runner, Pool) else None
        keras: KerasCheck | None = None if pool is None else pool.check
        with self.refusing():
            check_before_training(
                candidates, self.plan, self.folder.path, bundles=bundles, at_once=self.workers,
                scope=self.folder.kind, keras=keras,
            )  # fmt: skip

    @property
    def workers(self) -> int:
        return self.request.workers

    def tasks(
        self,
        points: Sequence[Point],
        data_paths: dict[int, Path],
        pruning: PruningPlan | None = None,
        places: Mapping[int, PointPlace] | None = None,
        key: GroupKey = network_key,
    ) -> list[GroupTask]:
        """Equal networks as one bundle each; what a worker or a Ray task needs to train it.
        `places`: what points have of their own (a nested tune's), by number; `key`: which
        points may share a bundle."""
        request = self.request
        return [
            GroupTask(
                str(self.folder.path),
                [(p.number, p.spec) for p in group],
                str(data_paths[group[0].number]),  # equal within a group: data is in the key
                self.plan,
                command=request.command,
                pruning=pruning,
                plots=request.plots,
                places=() if places is None else tuple(places[p.number] for p in group),
            )
            for group in group_points(list(points), self.workers, key)
        ]

    def keep_workers(self, count: int) -> None:
        """No more local workers than `count` groups: the idle others end now."""
        if isinstance(self.runner, Pool):
            self.runner.trim(count)

    def train(
        self,
        tasks: list[GroupTask],
        on_start: OnStart,
        on_done: OnResult,
        more: Refill | None = None,
    ) -> None:
        """Every group on the runner; `on_done` hears each group's results. `more`, asked
        whenever a worker is free and no group waits, gives the next groups (none: the
        search ends once the running ones are done)."""
        raise_if_stopped()  # a stop that came before and that C code dropped: none starts
        if isinstance(self.runner, Pool):
            run_local(self.runner, tasks, on_start, on_done, more)
        else:
            run_ray(self.runner, tasks, on_start, on_done, more)

    def end_workers(self) -> None:
        """Here, not later: a stop while the workers or Ray end still names the folder."""
        self.stack.close()


def _within(experiment: Experiment, rows: np.ndarray | None) -> Experiment:
    return experiment if rows is None else experiment.within(rows)


def run_search(
    request: SearchRequest, strategy: Strategy[R], notice: Callable[[str], None]
) -> Search[R]:
    """Find or make the search's folder, validate its points, let the strategy run.

    SIGINT / SIGTERM stop it at any moment as `Interrupted`; once the folder exists, the
    results are written and the resume command named first.
    """
    with signals_as_interrupts(), contextlib.ExitStack() as stack:
        # Warm workers import TensorFlow while the points are validated.
        pool = stack.enter_context(local_workers_unless(request.ray, request.workers))
        located = locate(request, strategy.kind, strategy.read)
        reading, data = located.reading, located.data
        experiments = {p.number: prepare(p.spec, data) for p in strategy.to_validate(reading)}
        sha256s = {e.data.sha256 for e in experiments.values()}
        if located.folder is not None:
            located.folder.check_same_data(sha256s)
        strategy.before_folder(reading, located.folder, located.plan)
        runner = pool or cluster_for(request.ray, request.workers, stack)  # before any folder
        folder = located.folder
        if folder is None:
            record = {
                "definition": reading.definition(),
                "protocol": asdict(located.plan),
                **data_record(data, min(sha256s)),
                **strategy.record(reading),
            }
            folder = SearchFolder.create(request.runs_dir, strategy.kind, reading.name, record)
        search = Search(
            request, reading, folder, located.folder is None, located.plan, experiments,
            runner, stack, notice,
        )  # fmt: skip
        with saved_on_stop(folder, lambda: strategy.write_results(search)):
            strategy.run(search)
    return search


@contextlib.contextmanager
def saved_on_stop(folder: SearchFolder, write: Callable[[], Any]) -> Iterator[None]:
    """A stop writes the results (what finished) and says how to resume."""
    try:
        yield
    except BaseException as error:
        stop = as_stop(error)  # also an error a stop caused
        if stop is None:
            raise
        with signals_deferred(reraise=False), contextlib.suppress(Exception):
            write()  # a second Ctrl-C must not cut this short; a failure must not hide the stop
        if isinstance(stop, Interrupted):
            stop.saved = folder.resume_line()
        raise
