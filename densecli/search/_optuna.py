"""The Optuna strategy's study: its storage checked before anything exists, opening it (the
folder's study.db or a shared storage), its sampler and pruner, and which trials count.
Optuna is imported only when a tune runs."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from densecli.errors import ConfigError, RunsError
from densecli.experiment import Plan
from densecli.runs.files import STUDY_DB
from densecli.search._choices import PrunerKind, SamplerKind
from densecli.search._folder import SearchFolder
from densecli.search._pruning import checkpoints_for, make_pruner
from densecli.search._space import Space


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


CONNECT_SECONDS = 5  # a database server that does not answer in this time is unreachable
CREATE_RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0)  # while another tune creates the same tables
EXAMPLE_URLS = "sqlite:///path/study.db or postgresql+psycopg://user:password@host/database"


def shown_url(url: str) -> str:
    """The URL as messages and records show it: its password masked."""
    return re.sub(r"//([^:/@]+):[^/]*@", r"//\1:***@", url)  # up to the host's @


def folder_storage(folder: SearchFolder) -> str:
    """The URL of a tune folder's own study.db."""
    return f"sqlite:///{(folder.path / STUDY_DB).resolve()}"


def check_storage(url: str, study: str | None = None) -> None:
    """--storage URL, before any folder exists and in the order a spec is checked: the URL
    parsed, its driver, the database opened (a server reached), a write to it; with `study`
    (a resumed tune), that study in it. Each refusal is one line naming the URL."""
    shown = shown_url(url)
    _parsed(url, shown)
    with _opened_storage(url, f"--storage {shown}") as storage:
        _check_writable(storage, f"--storage {shown}")
        if study is not None:
            _check_study(storage, study, f"--storage {shown}", "pass the --storage it ran with")


def check_folder_study(folder: SearchFolder, study: str) -> None:
    """A tune folder to resume: its study.db there, readable, writable, holding its study."""
    db = folder.path / STUDY_DB
    source = folder.record()["definition"].get("source") or "the tune file"
    afresh = f"start afresh from {source}: the same command without --resume makes a new folder"
    if not db.is_file():
        raise RunsError(f"{db}: missing, so this tune cannot be continued; {afresh}")
    with _opened_storage(folder_storage(folder), str(db), afresh) as storage:
        _check_writable(storage, str(db))
        _check_study(storage, study, str(db), afresh)


def check_storage_url(url: str) -> None:
    """--storage URL parsed and its kind of database known: checked first, as a spec's syntax."""
    _parsed(url, shown_url(url))


def _parsed(url: str, shown: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        make_url(url).get_dialect()
    except NoSuchModuleError:  # before ArgumentError, its base class
        scheme = url.partition(":")[0]
        raise ConfigError(
            f"--storage {shown}: no database '{scheme}' is known; expected e.g. {EXAMPLE_URLS}"
        ) from None
    except ArgumentError:
        raise ConfigError(
            f"--storage {shown}: not a database URL; expected e.g. {EXAMPLE_URLS}"
        ) from None


@contextlib.contextmanager
def _opened_storage(url: str, name: str, fix: str = "") -> Iterator[Any]:
    """Optuna's storage on `url` (its tables made if new), closed after the block."""
    import_optuna()
    fix = fix or "check the URL, that the server runs and that this user may write there"
    try:
        storage = _rdb_storage(url)
    except ImportError as err:
        raise ConfigError(
            f"{name}: its database driver is not installed ({err}); install the one the URL "
            "names, e.g. pip install 'psycopg[binary]' for postgresql+psycopg://"
        ) from None
    except Exception as err:  # SQLAlchemy's errors, or Optuna's on a foreign schema
        raise ConfigError(f"{name}: cannot open the database ({_first_line(err)}); {fix}") from None
    try:
        yield storage
    finally:
        storage.engine.dispose()


def _rdb_storage(url: str) -> Any:
    """Optuna's RDBStorage on `url`. Tunes started together on a new database create its
    tables at the same moment and all but one hit the others' (a duplicate key): the tables
    are then there, and the next try opens them."""
    from optuna.storages import RDBStorage
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    arguments = {"connect_timeout": CONNECT_SECONDS} if url.startswith("postgresql") else {}
    for wait in (*CREATE_RETRY_SECONDS, None):
        try:
            return RDBStorage(url, engine_kwargs={"connect_args": arguments})
        except (IntegrityError, ProgrammingError):
            if wait is None:
                raise
            time.sleep(wait)


def _check_writable(storage: Any, name: str) -> None:
    """One write, rolled back: a read-only file or a user without rights is refused now."""
    from sqlalchemy import text

    try:
        with storage.engine.connect() as connection, connection.begin() as transaction:
            connection.execute(text("UPDATE version_info SET library_version = library_version"))
            transaction.rollback()
    except Exception as err:
        raise ConfigError(
            f"{name}: the database cannot be written ({_first_line(err)}); "
            "give a database this user may write"
        ) from None


def _check_study(storage: Any, study: str, name: str, fix: str) -> None:
    try:
        storage.get_study_id_from_name(study)
    except KeyError:
        raise RunsError(f"{name}: holds no study '{study}' to continue; {fix}") from None


def _first_line(error: BaseException) -> str:
    """A database error's own message, without SQLAlchemy's SQL and background links."""
    cause = getattr(error, "orig", None) or error
    return str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__


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


def study_name(folder: SearchFolder, space: Space, plan: Plan, storage: str | None) -> str:
    """The folder's name for its own study.db; for a shared --storage, a name every machine
    running the same search with the same protocol derives alike."""
    if storage is None:
        return folder.path.name
    same = json.dumps([space.definition(), asdict(plan)], sort_keys=True)
    return f"{space.name}-{hashlib.sha256(same.encode()).hexdigest()[:12]}"


def open_study(
    name: str,
    folder: SearchFolder,
    storage: str | None,
    maximize: bool,
    seed: int,
    trials: int,
    sampler: SamplerKind,
    pruner: PrunerKind,
    epochs: int,
) -> Any:
    optuna = import_optuna()
    url = storage or folder_storage(folder)
    startup = first_batch(trials)
    probe = optuna.create_study(
        study_name=name,
        storage=url,
        load_if_exists=True,
        direction="maximize" if maximize else "minimize",
    )
    # The sampler's random state is not stored: a resumed study seeds it anew, moved on by
    # the trials it has, or a random sampler would repeat the first session's draws.
    moved = seed + len(probe.trials)
    return optuna.load_study(
        study_name=name,
        storage=url,
        sampler=make_sampler(sampler, moved, startup),
        pruner=make_pruner(pruner, startup, checkpoints_for(epochs, pruner)),
    )


def retried(study: Any) -> set[int]:
    """Trials a later one asked again (interrupted ones)."""
    return {int(t.user_attrs["retry_of"]) for t in study.trials if "retry_of" in t.user_attrs}


def counted(study: Any) -> int:
    """Trials that count toward --trials: finished ones, except interrupted ones retried."""
    from optuna.trial import TrialState

    again = retried(study)
    return sum(
        t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        or (t.state == TrialState.FAIL and t.number not in again)
        for t in study.trials
    )
