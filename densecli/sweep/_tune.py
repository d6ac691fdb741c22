"""`densecli tune`: an adaptive search with Optuna, trials trained as compiled bundles.

The search backend beside grid/random sweeps: the points are asked from an Optuna study a
batch at a time (constant-liar TPE keeps a batch diverse), grouped by network like a sweep's,
trained by the same workers (local processes or Ray tasks) with a pruner judging every trial
at fixed checkpoint epochs inside its bundle, then told. The study lives in `study.db` in the
tune folder (or `--storage URL`); every trial is an ordinary CV run folder. After the search
the best trial is confirmed on CV seeds the search never saw.
"""

from __future__ import annotations

import contextlib
import shutil
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from rich.console import Console

from densecli.backend import prefer_threads_for
from densecli.errors import ConfigError, RunsError
from densecli.experiment import Plan, prepare, step_macs
from densecli.runs.files import (
    METRICS,
    PRUNED_SUFFIX,
    STUDY_DB,
    TUNE,
    read_run,
    spec_name,
    write_json,
)
from densecli.signals import Interrupted, signals_as_interrupts
from densecli.sweep._definition import Point
from densecli.sweep._groups import check_with_keras, group_points
from densecli.sweep._local import Pool, local_workers_unless, run_local
from densecli.sweep._pruning import PrunerKind, PruningPlan, checkpoints_for, make_pruner
from densecli.sweep._ray import cluster_for, run_ray
from densecli.sweep._run import SweepRequest
from densecli.sweep._space import Space, load_space, space_from_record
from densecli.sweep._tune_folder import TuneSetup, read_record, trial_folders
from densecli.sweep._tune_results import confirm_best, write_tune_results
from densecli.sweep._worker import GroupTask, PointResult

SamplerKind = Literal["tpe", "random", "gp", "cmaes"]
SAMPLERS: tuple[SamplerKind, ...] = ("tpe", "random", "gp", "cmaes")


@dataclass(frozen=True)
class TuneRequest(SweepRequest):
    """What `densecli tune` was asked for: a sweep's options (`source` a tune file, a spec
    with grid_options, or a tune folder to resume) and the search's own."""

    trials: int = 20
    sampler: SamplerKind = "tpe"
    pruner: PrunerKind = "median"
    timeout: float | None = None
    storage: str | None = None
    confirm_repeats: int = 3
    batch: int | None = None


def import_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ConfigError(
            "densecli tune needs Optuna; install it with pip install 'densecli[tune]'"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def check_sampler(kind: SamplerKind) -> None:
    """GP and CMA-ES construct without their packages and fail only after trials trained."""
    needs = {"gp": ("torch", "PyTorch (a CPU build is enough)"), "cmaes": ("cmaes", "cmaes")}
    if kind not in needs:
        return
    module, package = needs[kind]
    try:
        __import__(module)
    except ImportError:
        raise ConfigError(
            f"--sampler {kind} needs {package}; install it (pip install {module}), "
            "or use --sampler tpe"
        ) from None


def make_sampler(kind: SamplerKind, seed: int, startup: int) -> Any:
    import optuna

    samplers = optuna.samplers
    if kind == "random":
        return samplers.RandomSampler(seed=seed)
    if kind == "cmaes":
        return samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if kind == "gp":
        return samplers.GPSampler(seed=seed)
    return samplers.TPESampler(seed=seed, constant_liar=True, n_startup_trials=startup)


def first_batch(trials: int) -> int:
    """The sampler's random start; no trial can be pruned before these complete."""
    return max(2, min(10, trials // 4))


# --- the tune folder ----------------------------------------------------------------------


def _new_folder(runs_dir: Path, name: str) -> Path:
    stamp = f"{datetime.now().astimezone():%Y%m%d-%H%M%S}-{name}-tune"
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, 1000):
            path = runs_dir / (stamp if attempt == 1 else f"{stamp}-{attempt}")
            with contextlib.suppress(FileExistsError):
                path.mkdir()
                return path
    except OSError as err:
        raise RunsError(
            f"{runs_dir}: cannot create the tune folder ({err.strerror}); "
            "pick another folder with --runs-dir"
        ) from None
    raise RunsError(f"{runs_dir}: could not find a free name for {stamp}")


def _find_to_resume(runs_dir: Path, space: Space, plan: Plan) -> Path:
    import json

    wanted = json.loads(json.dumps({"d": space.definition(), "p": asdict(plan)}))
    candidates = sorted(runs_dir.glob("*-tune*"), reverse=True) if runs_dir.is_dir() else []
    for path in candidates:
        if (path / TUNE).is_file():
            record = read_record(path)
            if {"d": record.get("definition"), "p": record.get("protocol")} == wanted:
                return path
    raise RunsError(
        f"{runs_dir}: no tune folder of {space.source} with these options to resume; "
        "run without --resume to start it, or pass the tune folder itself"
    )


def storage_url(folder: Path, storage: str | None) -> str:
    return storage or f"sqlite:///{(folder / STUDY_DB).resolve()}"


# --- setting up ---------------------------------------------------------------------------


def _setup(request: TuneRequest) -> tuple[Space, Path | None, Plan, Path | None, dict[str, Any]]:
    """The space, the folder being resumed (if any), the plan, the data, the options."""
    options = {
        "trials": request.trials,
        "sampler": request.sampler,
        "pruner": request.pruner,
        "batch": request.batch,
        "confirm_repeats": request.confirm_repeats,
    }
    if request.source.is_dir():
        record = read_record(request.source)
        if not request.resume:
            raise ConfigError(
                f"{request.source}: this is a tune folder; add --resume to continue it, or "
                "give a tune file"
            )
        if request.overrides or request.grid_options:
            raise ConfigError(
                f"{request.source}: --set, --grid and --folds cannot change a tune being "
                "resumed; start a new tune instead"
            )
        plan = Plan(**record["protocol"])
        data = request.data or (Path(record["data"]) if record.get("data") else None)
        space = space_from_record(record["definition"])
        return space, request.source, plan, data, _kept_options(request.source, options)
    space = load_space(request.source, request.overrides, request.grid_options)
    if not request.resume:
        return space, None, request.plan, request.data, options
    folder = _find_to_resume(request.runs_dir, space, request.plan)
    return space, folder, request.plan, request.data, _kept_options(folder, options)


def _kept_options(folder: Path, options: dict[str, Any]) -> dict[str, Any]:
    """A resumed search keeps its sampler and pruner; --trials, --batch and
    --confirm-repeats are the new session's."""
    recorded = read_record(folder)["options"]
    return {**options, **{k: recorded[k] for k in ("sampler", "pruner")}}


def _checked(request: TuneRequest) -> TuneSetup:
    """Everything validated against the data and Keras before a study or folder exists."""
    import_optuna()
    space, folder, plan, data, options = _setup(request)
    check_sampler(options["sampler"])
    from densecli.sweep._space import corner_points

    corners = corner_points(space.base, space.grid, space.source)
    experiment = prepare(corners[0].spec, data)
    for point in corners[1:]:
        prepare(point.spec, data)
    # Keras' check runs TensorFlow's first op here: threads for the confirmation's CV first.
    confirming = experiment.spec.cv.folds * max(1, request.confirm_repeats) * plan.seeds
    prefer_threads_for(step_macs(experiment.spec, experiment.data.n_features, confirming))
    check_with_keras(corners, experiment.data.n_features)
    if folder is not None:
        recorded = read_record(folder).get("data_sha256")
        if recorded is not None and recorded != experiment.data.sha256:
            raise ConfigError(
                f"{folder}: this tune trained on data with sha256 {recorded[:12]}…, not on the "
                "file found now; resume with the same --data (or DENSECLI_DATA_DIR)"
            )
    spec = experiment.spec
    setup = TuneSetup(
        space,
        folder or Path(),
        plan,
        experiment.data.path,
        spec.seed,
        experiment.task.score.higher_is_better,
        spec.train.epochs,
        spec.train.early_stopping is not None,
        options,
    )
    if folder is None:
        created = _new_folder(request.runs_dir, space.name)
        record = {
            "definition": space.definition(),
            "protocol": asdict(plan),
            "data": None if data is None else str(data.resolve()),
            "data_sha256": experiment.data.sha256,
            "options": options,
            "storage": None if request.storage is None else _no_password(request.storage),
            "created": datetime.now().astimezone().isoformat(),
        }
        write_json(created / TUNE, record)
        setup = TuneSetup(**{**setup.__dict__, "folder": created})
    return setup


def _no_password(url: str) -> str:
    import re

    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


# --- the study ----------------------------------------------------------------------------


def open_study(setup: TuneSetup, storage: str | None, sampler: SamplerKind) -> Any:
    optuna = import_optuna()
    url = storage_url(setup.folder, storage)
    name = study_name(setup, storage)
    startup = first_batch(int(setup.options["trials"]))
    probe = optuna.create_study(
        study_name=name,
        storage=url,
        load_if_exists=True,
        direction="maximize" if setup.maximize else "minimize",
    )
    # The sampler's random state is not stored: a resumed study seeds it anew, moved on by
    # the trials it has, or a random sampler would repeat the first session's draws.
    seed = setup.seed + len(probe.trials)
    checkpoints = checkpoints_for(setup.epochs, setup.options["pruner"])
    return optuna.load_study(
        study_name=name,
        storage=url,
        sampler=make_sampler(sampler, seed, startup),
        pruner=make_pruner(setup.options["pruner"], startup, checkpoints),
    )


def study_name(setup: TuneSetup, storage: str | None) -> str:
    """The folder's name for its own study.db; for a shared --storage, a name every machine
    running the same search with the same protocol derives alike."""
    if storage is None:
        return setup.folder.name
    import hashlib
    import json

    same = json.dumps([setup.space.definition(), asdict(setup.plan)], sort_keys=True)
    return f"{setup.space.name}-{hashlib.sha256(same.encode()).hexdigest()[:12]}"


def counted(trial: Any, retried: set[int]) -> bool:
    """Trials that count toward --trials: finished ones, except interrupted ones retried."""
    from optuna.trial import TrialState

    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and trial.number not in retried


def _retried(study: Any) -> set[int]:
    return {int(t.user_attrs["retry_of"]) for t in study.trials if "retry_of" in t.user_attrs}


def recover_stale(study: Any, setup: TuneSetup, notice: Callable[[str], None]) -> None:
    """Trials left RUNNING by a killed session: a finished run is told; the rest fail and
    their params are asked again first."""
    from optuna.trial import TrialState

    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if not stale:
        return
    folders = trial_folders(setup.folder)
    key = None
    for trial in stale:
        name = str(trial.user_attrs.get("run", ""))
        run = folders.get(name)
        if run is not None and (run / METRICS).is_file():
            metrics = read_run(run).metrics
            key = key or _score_key(metrics)
            study.tell(trial.number, float(metrics[key]), skip_if_finished=True)
            continue
        _remove_leftovers(setup.folder, name)
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
    notice(f"resume: {len(stale)} trial(s) a stopped session left running were recovered")


def _score_key(metrics: dict[str, Any]) -> str:
    from densecli.tasks import view_for

    return view_for(metrics).score.key


def _remove_leftovers(folder: Path, name: str) -> None:
    """What a trial that is asked again left: its interrupted (or pruned, if the stop came
    before it was told) run, and scratch folders of dead processes."""
    from densecli.runs import collect_unfinished

    for leftover in collect_unfinished(folder):
        path = folder / leftover.run
        if leftover.status == "abandoned" or (
            leftover.status != "failed" and spec_name(path) == name
        ):
            shutil.rmtree(path, ignore_errors=True)


# --- the search ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TuneOutcome:
    folder: Path
    study: Any
    space: Space
    confirmation: dict[str, Any] | None
    records: list[dict[str, str]]

    @property
    def exit_code(self) -> int:
        """3 when no trial completed, as a failed run's."""
        return 0 if any(r["state"] == "done" for r in self.records) else 3


def run_tune(request: TuneRequest, console: Console, notice: Callable[[str], None]) -> TuneOutcome:
    """Search until --trials trials count (or --timeout), then confirm the best one."""
    setup = _checked(request)
    with contextlib.ExitStack() as stack:
        cluster = cluster_for(request.ray, request.workers, stack)
        study = open_study(setup, request.storage, setup.options["sampler"])
        if request.resume and request.storage is None:
            recover_stale(study, setup, notice)  # a shared storage's may be another machine's
            retried = _retried(study)
            done = sum(counted(t, retried) for t in study.trials)
            notice(f"resume {setup.folder}: {done} of {request.trials} trials done")
        with (  # warm workers kept from batch to batch; they end before the results are written
            signals_as_interrupts(),
            _saved_on_stop(setup, study),
            local_workers_unless(request.ray, request.workers) as pool,
        ):
            _search(setup, study, request, cluster or pool, notice)
        write_tune_results(setup, study)
        confirmation = None
        if request.confirm_repeats > 0:
            with signals_as_interrupts(), _saved_on_stop(setup, study):
                confirmation = confirm_best(setup, study, request.confirm_repeats, notice)
        records = write_tune_results(setup, study, confirmation)
    return TuneOutcome(setup.folder, study, setup.space, confirmation, records)


@contextlib.contextmanager
def _saved_on_stop(setup: TuneSetup, study: Any) -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt as stop:
        with contextlib.suppress(Exception):
            write_tune_results(setup, study)
        if isinstance(stop, Interrupted):
            stop.saved = f"{setup.folder}; continue it with: densecli tune {setup.folder} --resume"
        raise


def _search(
    setup: TuneSetup,
    study: Any,
    request: TuneRequest,
    runner: Any,  # the local Pool, or the Ray module
    notice: Callable[[str], None],
) -> None:
    started = time.monotonic()
    session = uuid.uuid4().hex[:12]
    later = request.batch or max(2 * request.workers, 8)
    while True:
        retried = _retried(study)
        done = sum(counted(t, retried) for t in study.trials)
        left = request.trials - done
        if left <= 0:
            return
        if request.timeout is not None and time.monotonic() - started > request.timeout:
            notice(f"--timeout {request.timeout:g} s reached: {done} trial(s) done")
            return
        size = first_batch(request.trials) if done == 0 else later
        _run_batch(setup, study, min(size, left), session, request, runner, notice)
        write_tune_results(setup, study)


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
        setup.options["pruner"],
        setup.maximize,
        checkpoints_for(setup.epochs, setup.options["pruner"]),
        first_batch(int(setup.options["trials"])),
        snapshot,
        setup.validation,
    )
    tasks = [
        GroupTask(
            str(setup.folder),
            [(p.number, p.spec) for p in group],
            str(setup.data_path),
            setup.plan,
            command=request.command,
            pruning=pruning,
            plots=request.plots,
        )
        for group in group_points(points, request.workers)
    ]
    results: dict[int, PointResult] = {}

    def on_done(finished: list[PointResult]) -> None:
        for result in finished:
            results[result.number] = result
            shown = "" if result.score is None else f" {100 * result.score:.2f} %"
            extra = f" at epoch {result.pruned_at}" if result.pruned_at else ""
            notice(f"trial {result.number}: {result.status}{extra}{shown}")

    try:
        if isinstance(runner, Pool):
            run_local(runner, tasks, lambda task: None, on_done)
        else:
            run_ray(runner, tasks, lambda task: None, on_done)
    except BaseException:
        _tell(study, setup.folder, asked, results, interrupted=True)
        raise
    _tell(study, setup.folder, asked, results, interrupted=False)


def _tell(
    study: Any,
    folder: Path,
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
                _remove_leftovers(Path(folder), str(trial.user_attrs.get("run", "")))
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


def pruned_folder(folder: Path, name: str) -> Path | None:
    run = trial_folders(folder).get(name)
    return run if run is not None and run.name.endswith(PRUNED_SUFFIX) else None
