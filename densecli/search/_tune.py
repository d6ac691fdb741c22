"""`densecli tune`: the Optuna strategy. Points are asked from a study a batch at a time
(constant-liar TPE keeps a batch diverse), trained by the search core like a sweep's (the
same groups, workers and checks) with a pruner judging every trial at fixed checkpoint epochs
inside its bundle (`_pruning`), then told. The study lives in `study.db` in the tune folder
(or `--storage URL`); every trial is an ordinary CV run folder. After the search the best
trial is confirmed on CV seeds the search never saw (`_confirm`).

With `--nested K` the same search runs in each of K outer folds' training rows as well, one
study per outer fold, in the same batches: trials of different studies that build the same
network train in one bundle. Each outer winner is then scored on rows its search never saw
(`_nested`).
"""

from __future__ import annotations

import contextlib
import itertools
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rich.console import Console

from densecli.errors import ConfigError
from densecli.experiment import Plan
from densecli.runs.files import SearchKind
from densecli.search._choices import (
    BATCH,
    DEFAULT_CONFIRM_REPEATS,
    DEFAULT_PRUNER,
    DEFAULT_SAMPLER,
    DEFAULT_TRIALS,
    PrunerKind,
    SamplerKind,
)
from densecli.search._confirm import best_trial, confirm_best, write_best
from densecli.search._core import Search, Strategy, run_search
from densecli.search._file import Definition, Point
from densecli.search._folder import SearchFolder
from densecli.search._nested import estimate_nested
from densecli.search._optuna import (
    check_folder_study,
    check_sampler,
    check_storage,
    check_storage_url,
    counted,
    first_batch,
    import_optuna,
    open_study,
    shown_url,
    study_name,
)
from densecli.search._outer import outer_folds, outer_search_folder
from densecli.search._pruning import PruningPlan, checkpoints_for
from densecli.search._request import SearchRequest
from densecli.search._results import Ranked
from densecli.search._space import Space, make_space
from densecli.search._study import TuneSetup, TuneStudy, bundle_rows_key
from densecli.search._tune_results import write_tune_results
from densecli.search._worker import GroupTask, PointPlace, PointResult

# While a tune runs, its importances and pictures are redrawn at most this often (seconds):
# drawing them takes a core from the workers for about two seconds.
PICTURES_EVERY = 60.0

UNCONFIRMED = (
    "--confirm-repeats 0: the best trial is not confirmed on unseen CV seeds, so its search "
    "score (the best of many trials on the same folds) is unconfirmed and biased upwards"
)


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
    nested: int | None = None  # K outer folds: nested CV of the whole search


@dataclass(frozen=True)
class TuneOutcome:
    setup: TuneSetup
    study: Any
    confirmation: dict[str, Any] | None
    rows: list[Ranked]
    nested: dict[str, Any] | None = None  # nested.json, when --nested gave an estimate

    @property
    def exit_code(self) -> int:
        """3 when no trial completed (or, nested, an outer fold's study has none), as a
        failed run's."""
        done = any(r.status == "done" for r in self.rows)
        return 0 if done and (self.setup.nested is None or self.nested is not None) else 3


def run_tune(
    request: TuneRequest,
    console: Console,
    notice: Callable[[str], None],
    after_batch: Callable[[Path], None] | None = None,
) -> TuneOutcome:
    """Search until --trials trials count (or --timeout), then confirm the best one (see
    `run_search`); with --nested, estimate the search on outer folds. `after_batch` hears
    the folder after each batch's results are written (MLflow logs what finished)."""
    import_optuna()
    if request.storage is not None:
        check_storage_url(request.storage)
    study = OptunaSearch(request, after_batch)
    run_search(request, study, notice)
    assert study.outcome is not None, "a tune that returns has its outcome"
    return study.outcome


class OptunaSearch(Strategy[Space]):
    """Points asked from Optuna studies a batch at a time, told when their bundle ends."""

    kind: SearchKind = "tune"

    def __init__(
        self, request: TuneRequest, after_batch: Callable[[Path], None] | None = None
    ) -> None:
        self.request = request
        self.after_batch = after_batch
        self.setup: TuneSetup | None = None
        self.studies: list[TuneStudy] = []  # the tune's own first, then the outer folds'
        self.outcome: TuneOutcome | None = None
        self.held: IO[str] | None = None  # the folder's lock file, while this tune runs

    def read(self, definition: Definition) -> Space:
        return make_space(definition)

    def to_validate(self, reading: Space) -> list[Point]:
        return reading.corners  # every value of every list, both ends of every range

    def record(self, reading: Space) -> dict[str, Any]:
        request, storage = self.request, self.request.storage
        options = {
            "trials": request.trials,
            "sampler": request.sampler,
            "pruner": request.pruner,
            "batch": request.batch,
            "confirm_repeats": request.confirm_repeats,
            "nested": request.nested,
        }
        return {"options": options, "storage": None if storage is None else shown_url(storage)}

    def before_folder(self, reading: Space, folder: SearchFolder | None, plan: Plan) -> None:
        """The study's storage: --storage reached and writable; a resumed tune's study there
        (its own study.db, or the --storage it ran with)."""
        storage = self.request.storage
        if folder is not None:
            _resumed_nesting(folder, folder.record()["options"].get("nested"), self.request.nested)
            _same_storage(folder, storage)
            if storage is None:
                self.hold(folder)
            name = study_name(folder, reading, plan, storage)
            if storage is None:
                check_folder_study(folder, name)
            else:
                check_storage(storage, name)
        elif storage is not None:
            check_storage(storage)

    def hold(self, folder: SearchFolder) -> None:
        """One process at a time on a folder's own study.db: Optuna does not support SQLite
        from several processes (trials would be told twice and fail)."""
        if self.held is None:
            self.held = folder.hold(
                "a study in the folder's SQLite study.db takes one tune at a time; wait for "
                "it to end, or tune from several processes with --storage on a database "
                "server (e.g. PostgreSQL)"
            )

    def run(self, search: Search[Space]) -> None:
        request, notice = self.request, search.notice
        if request.storage is None:
            self.hold(search.folder)
        self.setup = setup = _checked(search, request)
        self.studies = studies = _opened(setup, request, notice)
        _search(setup, studies, request, search, self.after_batch)
        search.end_workers()  # before the results are written and the best one confirmed
        self.write_results(search)
        main = studies[0]
        best = best_trial(main.study)
        if best is not None:  # confirmed or not, the configuration to use
            write_best(setup.space, setup.folder, best)
        confirmation = None
        if request.confirm_repeats == 0:
            notice(UNCONFIRMED)
        else:
            confirmation = confirm_best(
                main.study, setup.space, setup.folder, setup.plan, setup.data_path, setup.seed,
                request.confirm_repeats, notice,
            )  # fmt: skip
        nested = None
        if setup.nested:
            nested = estimate_nested(setup, studies, request.trials, request, notice)
        rows = write_tune_results(setup.space, setup.folder, main.study, setup.seed, confirmation)
        self.outcome = TuneOutcome(setup, main.study, confirmation, rows, nested)

    def write_results(self, search: Search[Space]) -> None:
        if self.setup is not None:
            for study in self.studies:
                write_tune_results(self.setup.space, study.folder, study.study, self.setup.seed)


def _same_storage(folder: SearchFolder, storage: str | None) -> None:
    """A resumed tune continues its study where it is: --storage as it ran, or none."""
    recorded = folder.record().get("storage")
    if recorded is None and storage is not None:
        raise ConfigError(
            f"{folder.path}: this tune's study is its own study.db; leave --storage out"
        )
    if recorded is not None and (storage is None or shown_url(storage) != recorded):
        raise ConfigError(
            f"{folder.path}: this tune's study is in --storage {recorded}; pass that --storage "
            "again (with its password)"
        )


def _checked(search: Search[Space], request: TuneRequest) -> TuneSetup:
    """The sampler's packages, the outer folds (--nested), then the checks `train` and `cv`
    make, for every corner in every study.

    Keras checks in a warm worker, as a sweep's: this process imports TensorFlow only to
    confirm the best trial (whose CV chooses its threads then), so a stop while the workers
    start is never held up by an import here."""
    space, folder, plan = search.reading, search.folder, search.plan
    sampler, pruner, nested = request.sampler, request.pruner, request.nested
    if not search.new:  # a resumed tune keeps its sampler, pruner and outer folds
        options = folder.record()["options"]
        sampler, pruner = options["sampler"], options["pruner"]
        nested = _resumed_nesting(folder, options.get("nested"), request.nested)
    first = search.experiments[space.corners[0].number]
    with search.refusing():
        check_sampler(sampler)
        outer = outer_folds(first, nested) if nested else []
    spec = first.spec
    search.check(space.corners, within=[None, *(fold.train for fold in outer)])
    return TuneSetup(
        space, folder, plan, first.data.path, spec.seed, first.task.score.higher_is_better,
        spec.train.epochs, spec.train.early_stopping is not None, sampler, pruner, first, outer,
    )  # fmt: skip


def _resumed_nesting(folder: SearchFolder, recorded: int | None, asked: int | None) -> int | None:
    """A resumed tune keeps its outer folds; --nested may only repeat them."""
    if asked is not None and asked != recorded:
        was = f"nested with {recorded} outer folds" if recorded else "not nested"
        raise ConfigError(
            f"{folder.path}: this tune is {was}; resume it without --nested (it keeps its "
            "own), or start a new tune"
        )
    return recorded


def _opened(
    setup: TuneSetup, request: TuneRequest, notice: Callable[[str], None]
) -> list[TuneStudy]:
    """The tune's study and each outer fold's (the folder's study.db, or --storage); a
    resumed one's stale trials recovered."""
    name = study_name(setup.folder, setup.space, setup.plan, request.storage)
    studies = [TuneStudy(_open(name, setup, request), setup.folder)]
    for outer in setup.outer:
        own = f"{name}-outer-{outer.fold}-of-{outer.folds}"
        folder = outer_search_folder(setup.folder, outer, own)
        studies.append(TuneStudy(_open(own, setup, request), folder, outer))
    if request.resume and request.storage is None:  # a shared storage's may be another machine's
        for study in studies:
            _recover_stale(study, notice)
        done = _progress(counted(studies[0].study), request.trials)
        if len(studies) > 1:
            done += " (outer folds: " + ", ".join(str(counted(s.study)) for s in studies[1:]) + ")"
        notice(f"resume {setup.folder.path}: {done}")
    return studies


def _open(name: str, setup: TuneSetup, request: TuneRequest) -> Any:
    return open_study(
        name, setup.folder, request.storage, setup.maximize, setup.seed, request.trials,
        setup.sampler, setup.pruner, setup.epochs,
    )  # fmt: skip


def _progress(done: int, trials: int) -> str:
    """How far a study is toward --trials, said as it is when it is already past them."""
    if done < trials:
        return f"{done} of {trials} trials done, {trials - done} to go"
    return (
        f"{done} trials done, as many as --trials {trials} or more: no new trial; "
        f"give --trials above {done} to continue"
    )


def _recover_stale(tune_study: TuneStudy, notice: Callable[[str], None]) -> None:
    """Trials left RUNNING by a killed session: a finished run is told; the rest fail and
    their params are asked again first."""
    from optuna.trial import TrialState

    from densecli.runs import read_run
    from densecli.runs.files import METRICS
    from densecli.tasks import view_for

    study, folder = tune_study.study, tune_study.folder
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if not stale:
        return
    runs = folder.runs()
    for trial in stale:
        name = str(trial.user_attrs.get("run", ""))
        run = runs.get(name)
        if run is not None and (run / METRICS).is_file():
            metrics = read_run(run).metrics
            study.tell(
                trial.number, float(metrics[view_for(metrics).score.key]), skip_if_finished=True
            )
            continue
        folder.clear_leftovers({name})
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
    where = "" if tune_study.outer is None else f" ({tune_study.outer.label})"
    notice(f"resume: {len(stale)} trial(s) a stopped session left running were recovered{where}")


# --- the search ---------------------------------------------------------------------------


def _search(
    setup: TuneSetup,
    studies: list[TuneStudy],
    request: TuneRequest,
    search: Search[Space],
    after_batch: Callable[[Path], None] | None = None,
) -> None:
    """Batches until every study counts --trials trials (or --timeout); the studies ask
    their batches together, so that their trials share bundles. See `_Flight` for how the
    workers stay busy between batches."""
    flight = _Flight(setup, studies, request, search, after_batch)
    try:
        search.train(flight.next_tasks(), lambda task: None, flight.on_done, flight.next_tasks)
    except BaseException:
        flight.end(interrupted=True)
        raise
    flight.end(interrupted=False)


class _Flight:
    """Two batches in flight (with more than one worker), so that no worker waits for the
    slowest bundle of a batch: when a worker is free and no bundle waits, batch k + 1 is
    asked while batch k trains.

    What each batch is asked from stays the same however the bundles' timings fall: batch
    k + 1 is asked once batch k - 1 has finished, and a batch is told (its results written,
    MLflow's `after_batch` called) just before the batch after the next one is asked, or at
    the end. So batch k + 1's sampler and pruner see exactly batches 0 … k - 1, and a tune
    gives the same trials on a fast machine, a loaded one and Ray.
    """

    def __init__(
        self,
        setup: TuneSetup,
        studies: list[TuneStudy],
        request: TuneRequest,
        search: Search[Space],
        after_batch: Callable[[Path], None] | None,
    ) -> None:
        self.setup, self.studies, self.request, self.search = setup, studies, request, search
        self.after_batch = after_batch
        self.started = time.monotonic()
        self.session = uuid.uuid4().hex[:12]
        self.later = request.batch or max(2 * request.workers, BATCH)
        self.batches: list[_Batch] = []  # asked and not yet told, oldest first
        # One worker has nothing to fill while a batch ends: each batch sees the one before.
        self.depth = 2 if request.workers > 1 else 1
        self.numbers = itertools.count()  # a nested tune's point numbers, unique in flight
        self.asking = True  # false once every trial is asked or --timeout is reached
        self.drawn = time.monotonic()  # when the importances and pictures were last drawn

    def next_tasks(self) -> list[GroupTask]:
        """The next batch's bundles; none while batch k - 1 trains (the caller asks again
        when a worker is free) or once nothing is left to ask."""
        if len(self.batches) >= self.depth:
            if not self.batches[-self.depth].finished:
                return []
            self._tell(self.batches[-self.depth])
        sizes = self._sizes()
        timeout = self.request.timeout
        if sizes and timeout is not None and time.monotonic() - self.started > timeout:
            done_all = sum(counted(s.study) for s in self.studies)
            self.search.notice(f"--timeout {timeout:g} s reached: {done_all} trial(s) done")
            sizes = []
        if not sizes or not self.asking:
            self.asking = False
            return []
        nested = len(self.studies) > 1
        batch = _ask(
            self.setup, sizes, self.session, self.request, self.numbers if nested else None
        )
        self.batches.append(batch)
        return _tasks(self.setup, batch, self.search, nested)

    def _sizes(self) -> list[tuple[TuneStudy, int]]:
        """How many trials each study asks now: the random start first, then batches."""
        sizes = []
        for study in self.studies:
            flying = sum(len(b.asked(study)) for b in self.batches)
            done = counted(study.study)
            size = first_batch(self.request.trials) if done + flying == 0 else self.later
            left = self.request.trials - done - flying
            if left > 0:
                sizes.append((study, min(size, left)))
        return sizes

    def on_done(self, finished: list[PointResult]) -> None:
        """A bundle's trials, said now and kept for their batch's turn to be told; once no
        batch is asked any more, each batch is told as soon as it has finished."""
        for result in finished:
            batch = next(b for b in self.batches if result.number in b.owners)
            study, trial = batch.owners[result.number]
            shown = _score_text(result)
            extra = f" at epoch {result.pruned_at}" if result.pruned_at else ""
            self.search.notice(f"{study.said(trial.number)}: {result.status}{extra}{shown}")
            batch.results[result.number] = result
        while not self.asking and self.batches and self.batches[0].finished:
            self._tell(self.batches[0])

    def _tell(self, batch: _Batch) -> None:
        """A finished batch into its studies, its results written."""
        self._into_studies(batch, interrupted=False)
        self.batches.remove(batch)
        self._write_results()
        if self.after_batch is not None:
            self.after_batch(self.setup.folder.path)

    def _write_results(self) -> None:
        """Each study's results as its trials are now; the importances and pictures, which
        take a core from the workers for about two seconds, at most every `PICTURES_EVERY`
        (and when the tune ends: `OptunaSearch.write_results`)."""
        full = time.monotonic() - self.drawn >= PICTURES_EVERY
        for study in self.studies:
            write_tune_results(
                self.setup.space, study.folder, study.study, self.setup.seed, pictures=full
            )
        if full:
            self.drawn = time.monotonic()

    def _into_studies(self, batch: _Batch, interrupted: bool) -> None:
        for study in self.studies:
            results = {
                trial.number: batch.results[n]
                for n, (owner, trial) in batch.owners.items()
                if owner is study and n in batch.results
            }
            asked = batch.asked(study)
            if asked:
                _tell(study.study, study.folder, asked, results, interrupted)

    def end(self, interrupted: bool) -> None:
        """Every batch still held told, in order: what finished as results, the rest (a
        stop, a lost reply) failed and asked again first by the next session."""
        for batch in list(self.batches):
            self._into_studies(batch, interrupted)
            self.batches.remove(batch)


@dataclass
class _Batch:
    """The trials one batch asked, as points: whose study and trial each point is."""

    points: list[Point]
    owners: dict[int, tuple[TuneStudy, Any]]  # point number → (its study, its trial)
    places: dict[int, PointPlace]
    results: dict[int, PointResult] = field(default_factory=dict)  # by point number

    @property
    def finished(self) -> bool:
        return len(self.results) == len(self.owners)

    def asked(self, study: TuneStudy) -> list[Any]:
        return [trial for owner, trial in self.owners.values() if owner is study]


def _ask(
    setup: TuneSetup,
    sizes: list[tuple[TuneStudy, int]],
    session: str,
    request: TuneRequest,
    numbers: Iterator[int] | None = None,
) -> _Batch:
    """Each study's trials of this batch, as points numbered by trial (a plain tune) or by
    `numbers` (a nested tune's studies share the numbers of the points in flight)."""
    from optuna.trial import TrialState

    space = setup.space
    distributions = space.distributions()
    batch = _Batch([], {}, {})
    for study, size in sizes:
        snapshot = study.study.get_trials(
            deepcopy=True, states=(TrialState.COMPLETE, TrialState.PRUNED)
        )
        pruning = PruningPlan(
            setup.pruner, setup.maximize, checkpoints_for(setup.epochs, setup.pruner),
            first_batch(request.trials), snapshot, setup.validation,
        )  # fmt: skip
        rows = None if study.outer is None else tuple(study.outer.train.tolist())
        for _ in range(size):
            trial = study.study.ask(distributions)
            number = trial.number if numbers is None else next(numbers)
            point = study.point(space, trial, number)
            trial.set_user_attr("run", point.spec.name)
            trial.set_user_attr("session", session)
            batch.points.append(point)
            batch.owners[number] = (study, trial)
            batch.places[number] = PointPlace(study.place, rows, pruning)
    return batch


def _tasks(setup: TuneSetup, batch: _Batch, search: Search[Space], nested: bool) -> list[GroupTask]:
    """The batch's trials as bundles, the pruner inside each."""
    paths = dict.fromkeys(batch.owners, setup.data_path)
    if nested:  # trials of every study, each its own folder, rows and pruner
        rows = {
            p.number: batch.owners[p.number][0].training_rows(setup, p.spec) for p in batch.points
        }
        return search.tasks(
            batch.points, paths, None, batch.places, lambda p: bundle_rows_key(p, rows[p.number])
        )
    return search.tasks(batch.points, paths, batch.places[batch.points[0].number].pruning)


def _score_text(result: PointResult) -> str:
    if result.score is None:
        return ""
    percent = result.ranked_by is None or result.ranked_by.percent
    return f" {100 * result.score:.2f} %" if percent else f" {result.score:.4g}"


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
