"""`densecli tune`: the Optuna strategy. Points are asked from a study a batch at a time
(constant-liar TPE keeps a batch diverse), trained by the search core like a sweep's (the
same groups, workers and checks) with a pruner judging every trial at fixed checkpoint epochs
inside its bundle (`_pruning`), then told. The study lives in `study.db` in the tune folder
(or `--storage URL`); every trial is an ordinary CV run folder. After the search the best
trial is confirmed on CV seeds the search never saw (`_confirm`).
"""

from __future__ import annotations

import contextlib
import functools
import re
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from densecli.experiment import Plan, prepare
from densecli.search._choices import (
    BATCH,
    DEFAULT_CONFIRM_REPEATS,
    DEFAULT_PRUNER,
    DEFAULT_SAMPLER,
    DEFAULT_TRIALS,
    PrunerKind,
    SamplerKind,
)
from densecli.search._confirm import confirm_best
from densecli.search._core import check_points, group_tasks, runners, saved_on_stop, train_groups
from densecli.search._file import Point
from densecli.search._folder import SearchFolder, data_record, locate
from densecli.search._optuna import (
    check_sampler,
    counted,
    first_batch,
    import_optuna,
    open_study,
    study_name,
)
from densecli.search._pruning import PruningPlan, checkpoints_for
from densecli.search._ray import cluster_for
from densecli.search._request import SearchRequest
from densecli.search._results import Ranked
from densecli.search._space import Space, make_space
from densecli.search._tune_results import write_tune_results
from densecli.search._worker import PointResult
from densecli.signals import signals_as_interrupts


@dataclass(frozen=True)
class TuneRequest(SearchRequest):
    """What `densecli tune` was asked for: a search's options (`source` a tune file, a spec
    with grid_options, or a tune folder to resume) and the study's own."""

    trials: int = DEFAULT_TRIALS
    sampler: SamplerKind = DEFAULT_SAMPLER
    pruner: PrunerKind = DEFAULT_PRUNER
    timeout: float | None = None
    storage: str | None = None
    confirm_repeats: int = DEFAULT_CONFIRM_REPEATS
    batch: int | None = None  # after the first batch; None: BATCH, at least 2 per worker


@dataclass(frozen=True)
class TuneSetup:
    """A validated search, its folder and everything a batch needs."""

    space: Space
    folder: SearchFolder
    plan: Plan
    data_path: Path
    seed: int
    maximize: bool
    epochs: int
    validation: bool  # early stopping: the pruner reads the validation loss
    sampler: SamplerKind  # a resumed tune keeps its sampler and pruner
    pruner: PrunerKind


@dataclass(frozen=True)
class TuneOutcome:
    setup: TuneSetup
    study: Any
    confirmation: dict[str, Any] | None
    rows: list[Ranked]

    @property
    def exit_code(self) -> int:
        """3 when no trial completed, as a failed run's."""
        return 0 if any(r.status == "done" for r in self.rows) else 3


def run_tune(request: TuneRequest, console: Console, notice: Callable[[str], None]) -> TuneOutcome:
    """Search until --trials trials count (or --timeout), then confirm the best one."""
    import_optuna()
    with runners(request) as (pool, stack):
        setup = _checked(request)
        runner = pool or cluster_for(request.ray, request.workers, stack)
        study = _opened(setup, request, notice)
        write = functools.partial(write_tune_results, setup.space, setup.folder, study, setup.seed)
        with signals_as_interrupts(), saved_on_stop(setup.folder, write):
            _search(setup, study, request, runner, notice)
            stack.close()  # the workers end before the results are written
            write()
            confirmation = None
            if request.confirm_repeats > 0:
                confirmation = confirm_best(
                    study, setup.space, setup.folder, setup.plan, setup.data_path, setup.seed,
                    request.confirm_repeats, notice,
                )  # fmt: skip
    return TuneOutcome(setup, study, confirmation, write(confirmation))


def _opened(setup: TuneSetup, request: TuneRequest, notice: Callable[[str], None]) -> Any:
    """The study (the folder's own, or in --storage); a resumed one's stale trials recovered."""
    name = study_name(setup.folder, setup.space, setup.plan, request.storage)
    study = open_study(
        name, setup.folder, request.storage, setup.maximize, setup.seed, request.trials,
        setup.sampler, setup.pruner, setup.epochs,
    )  # fmt: skip
    if request.resume and request.storage is None:  # a shared storage's may be another machine's
        _recover_stale(study, setup, notice)
        notice(f"resume {setup.folder.path}: {counted(study)} of {request.trials} trials done")
    return study


# --- setting up ---------------------------------------------------------------------------


def _checked(request: TuneRequest) -> TuneSetup:
    """Everything validated against the data and Keras before a study or folder exists."""
    located = locate(request, "tune", make_space)
    space, folder, plan, data = located.reading, located.folder, located.plan, located.data
    sampler, pruner = request.sampler, request.pruner
    if folder is not None:
        options = folder.record()["options"]
        sampler, pruner = options["sampler"], options["pruner"]
    check_sampler(sampler)
    experiments = {p.number: prepare(p.spec, data) for p in space.corners}
    first = experiments[space.corners[0].number]
    if folder is not None:
        folder.check_same_data({first.data.sha256})
    # Keras checks here, not in a worker: its first op fixes this process's threads, which
    # the confirmation's CV uses, so they are chosen for that first.
    spec = first.spec
    confirming = spec.cv.folds * max(1, request.confirm_repeats) * plan.seeds
    runs_dir = request.runs_dir if folder is None else folder.path
    check_points(
        space.corners, experiments, plan, runs_dir, request, "tune", threads_models=confirming
    )
    if folder is None:
        folder = _new_folder(request, space, plan, data, first.data.sha256, sampler, pruner)
    return TuneSetup(
        space, folder, plan, first.data.path, spec.seed, first.task.score.higher_is_better,
        spec.train.epochs, spec.train.early_stopping is not None, sampler, pruner,
    )  # fmt: skip


def _new_folder(
    request: TuneRequest,
    space: Space,
    plan: Plan,
    data: Path | None,
    sha256: str,
    sampler: SamplerKind,
    pruner: PrunerKind,
) -> SearchFolder:
    storage = request.storage
    record = {
        "definition": space.definition(),
        "protocol": asdict(plan),
        **data_record(data, sha256),
        "options": {
            "trials": request.trials,
            "sampler": sampler,
            "pruner": pruner,
            "batch": request.batch,
            "confirm_repeats": request.confirm_repeats,
        },
        "storage": None
        if storage is None
        else re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", storage),
    }
    return SearchFolder.create(request.runs_dir, "tune", space.name, record)


def _recover_stale(study: Any, setup: TuneSetup, notice: Callable[[str], None]) -> None:
    """Trials left RUNNING by a killed session: a finished run is told; the rest fail and
    their params are asked again first."""
    from optuna.trial import TrialState

    from densecli.runs import read_run
    from densecli.runs.files import METRICS
    from densecli.tasks import view_for

    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if not stale:
        return
    runs = setup.folder.runs()
    for trial in stale:
        name = str(trial.user_attrs.get("run", ""))
        run = runs.get(name)
        if run is not None and (run / METRICS).is_file():
            metrics = read_run(run).metrics
            study.tell(
                trial.number, float(metrics[view_for(metrics).score.key]), skip_if_finished=True
            )
            continue
        setup.folder.clear_leftovers({name})
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
    notice(f"resume: {len(stale)} trial(s) a stopped session left running were recovered")


# --- the search ---------------------------------------------------------------------------


def _search(
    setup: TuneSetup,
    study: Any,
    request: TuneRequest,
    runner: Any,  # the local Pool, or the Ray module
    notice: Callable[[str], None],
) -> None:
    started = time.monotonic()
    session = uuid.uuid4().hex[:12]
    later = request.batch or max(2 * request.workers, BATCH)
    while True:
        done = counted(study)
        left = request.trials - done
        if left <= 0:
            return
        if request.timeout is not None and time.monotonic() - started > request.timeout:
            notice(f"--timeout {request.timeout:g} s reached: {done} trial(s) done")
            return
        size = first_batch(request.trials) if done == 0 else later
        _run_batch(setup, study, min(size, left), session, request, runner, notice)
        write_tune_results(setup.space, setup.folder, study, setup.seed)


def _run_batch(
    setup: TuneSetup,
    study: Any,
    size: int,
    session: str,
    request: TuneRequest,
    runner: Any,
    notice: Callable[[str], None],
) -> None:
    from optuna.trial import TrialState

    space = setup.space
    distributions = space.distributions()
    snapshot = study.get_trials(deepcopy=True, states=(TrialState.COMPLETE, TrialState.PRUNED))
    asked = [study.ask(distributions) for _ in range(size)]
    points: list[Point] = []
    for trial in asked:
        point = space.point(trial.number, trial.params)
        trial.set_user_attr("run", point.spec.name)
        trial.set_user_attr("session", session)
        points.append(point)
    pruning = PruningPlan(
        setup.pruner,
        setup.maximize,
        checkpoints_for(setup.epochs, setup.pruner),
        first_batch(request.trials),
        snapshot,
        setup.validation,
    )
    paths = dict.fromkeys((p.number for p in points), setup.data_path)
    tasks = group_tasks(points, setup.folder, paths, setup.plan, request, pruning)
    results: dict[int, PointResult] = {}

    def on_done(finished: list[PointResult]) -> None:
        for result in finished:
            results[result.number] = result
            shown = "" if result.score is None else f" {100 * result.score:.2f} %"
            extra = f" at epoch {result.pruned_at}" if result.pruned_at else ""
            notice(f"trial {result.number}: {result.status}{extra}{shown}")

    try:
        train_groups(runner, tasks, lambda task: None, on_done)
    except BaseException:
        _tell(study, setup.folder, asked, results, interrupted=True)
        raise
    _tell(study, setup.folder, asked, results, interrupted=False)


def _tell(
    study: Any,
    folder: SearchFolder,
    asked: list[Any],
    results: dict[int, PointResult],
    interrupted: bool,
) -> None:
    """Replay each trial's reports into the study and tell it, in trial order."""
    from optuna.trial import TrialState

    for trial in asked:
        result = results.get(trial.number)
        if result is None:  # not finished: asked again first by the next session
            with contextlib.suppress(Exception):
                folder.clear_leftovers({str(trial.user_attrs.get("run", ""))})
                trial.set_user_attr("status", "interrupted" if interrupted else "not trained")
                study.tell(trial, state=TrialState.FAIL)
                study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for step, value in result.reports:
                trial.report(value, step)
        trial.set_user_attr("status", result.status)
        if result.pruned_at is not None:
            trial.set_user_attr("pruned_at_epoch", result.pruned_at)
        if result.message:
            trial.set_user_attr("message", result.message[:500])
        if result.status == "done" and result.score is not None:
            study.tell(trial, result.score)
        elif result.status == "pruned":
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, state=TrialState.FAIL)
