"""Where runs are logged, whether logging may fail, and the check made before any training.

MLflow is an optional extra: nothing here imports it until a run is really to be logged,
so `--help` and every command without `--mlflow` start as fast as before.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from rich.console import Console

from densecli.errors import DensecliError

URI_ENV = "DENSECLI_MLFLOW_URI"
DB_NAME = "mlflow.db"
# Beside the SQLite file; hidden, so `compare` does not take it for a run folder.
ARTIFACTS_NAME = ".mlflow-artifacts"
INSTALL_HINT = "pip install 'densecli[mlflow]'"
# Besides MLflow: the lock, the ONNX conversion of each run's model and the check of it.
LOGGING_NEEDS = ("filelock", "tf2onnx", "onnx", "onnxruntime")
# Everything densecli logs into one store is logged under one lock (a file that is never
# removed; the lock is the operating system's, released when its process ends): beside a
# SQLite store's file, or in the runs folder for a server.
RUNS_LOCK = ".mlflow.lock"
WAIT_NOTICE_AFTER = 1.0  # seconds; then say that another process holds the lock
# A SQLite store another program is creating answers with one of these for a moment.
BUSY_STORE = ("database is locked", "Online migration", "already exists", "duplicate column")
CREATE_ATTEMPTS = 5


class TrackingError(DensecliError):
    """MLflow is missing, cannot be reached, or refused what was logged."""


@dataclass(frozen=True)
class MlflowSettings:
    enabled: bool
    uri: str
    optional: bool = False  # a tracking problem warns instead of failing the command


@dataclass(frozen=True)
class MlflowOptions:
    """The command line's --mlflow, --mlflow-uri URI and --mlflow-optional, as given (the
    store's default lives in the runs folder, known only when the command runs)."""

    enabled: bool = False
    uri: str | None = None
    optional: bool = False

    def reachable(self, runs_dir: Path) -> MlflowSettings:
        """The settings for this runs folder, MLflow checked before any training."""
        return check_reachable(settings_for(self.enabled, self.uri, self.optional, runs_dir))


def default_uri(runs_dir: Path) -> str:
    """`sqlite:///<runs-dir>/mlflow.db`, absolute so the run's working folder does not matter."""
    return f"sqlite:///{(runs_dir.resolve() / DB_NAME).as_posix()}"


def resolve_uri(uri: str | None, runs_dir: Path) -> str:
    """--mlflow-uri, else $DENSECLI_MLFLOW_URI, else the SQLite file in the runs folder."""
    return uri or os.environ.get(URI_ENV) or default_uri(runs_dir)


def settings_for(enabled: bool, uri: str | None, optional: bool, runs_dir: Path) -> MlflowSettings:
    """The CLI's three options: --mlflow, --mlflow-uri URI and --mlflow-optional (either of
    the last two also turns logging on)."""
    on = enabled or uri is not None or optional
    return MlflowSettings(on, resolve_uri(uri, runs_dir), optional)


def sqlite_file(uri: str) -> Path | None:
    """A `sqlite:///` store's file; None for other stores."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///")
    return None if not path or path == ":memory:" else Path(path)


def sqlite_folder(uri: str) -> Path | None:
    """The folder holding a `sqlite:///` store's file; None for other stores."""
    found = sqlite_file(uri)
    return None if found is None else found.parent


def lock_path(uri: str, runs_dir: Path | None) -> Path | None:
    database = sqlite_file(uri)
    if database is not None:
        return database.with_name(f".{database.name}.lock")
    return None if runs_dir is None else runs_dir / RUNS_LOCK


_LOCKS: dict[Path, Any] = {}  # one FileLock per file: it counts nested holds in this process


@contextlib.contextmanager
def store_lock(uri: str, runs_dir: Path | None = None) -> Iterator[None]:
    """Held while a store is created and while one run is checked and logged, so that two
    densecli processes never log one run twice nor create one SQLite store at once."""
    from filelock import FileLock, Timeout

    path = lock_path(uri, runs_dir)
    if path is None or not path.parent.is_dir():
        yield
        return
    lock = _LOCKS.setdefault(path, FileLock(path))
    try:
        try:
            lock.acquire(timeout=WAIT_NOTICE_AFTER)
        except Timeout:
            say(f"waiting for another densecli process logging into {uri} …")
            lock.acquire()
    except OSError:  # the lock file cannot be made here: log as before, unguarded
        yield
        return
    try:
        yield
    finally:
        lock.release()


def import_mlflow() -> ModuleType:
    try:
        import mlflow
    except ImportError:
        raise TrackingError(
            f"--mlflow: MLflow is not installed; install it with {INSTALL_HINT}"
        ) from None
    # Its store migrations and notices would bury densecli's own output.
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    module: ModuleType = mlflow  # typed, whether or not mlflow ships type hints
    return module


def check_installed() -> None:
    """MLflow and what logging a run's model takes (the `mlflow` extra), before any training."""
    import_mlflow()
    missing = [name for name in LOGGING_NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        raise TrackingError(
            f"--mlflow: a logged run's model needs {', '.join(missing)}, not installed here; "
            f"install them with {INSTALL_HINT}"
        )


@contextlib.contextmanager
def _fail_fast() -> Iterator[None]:
    """An unreachable server answers at once instead of after MLflow's minutes of retries."""
    keys = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: v for k, v in keys.items() if saved[k] is None})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)


def _unreachable(uri: str) -> str | None:
    """Why the store at `uri` cannot be used, or None when it answers.

    A new SQLite store is created here, under the store's lock: another densecli process
    creating the same one is waited for; another program creating it is retried a few times.
    """
    mlflow = import_mlflow()
    folder = sqlite_folder(uri)
    try:
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        why = "a file is in the way" if folder is not None and folder.exists() else err.strerror
        return f"cannot create the folder {folder} ({why})"
    with store_lock(uri):
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                with _fail_fast():
                    mlflow.MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
            except Exception as err:
                text = str(err).strip()
                reason = text.splitlines()[0][:200] if text else type(err).__name__
                if folder is None or attempt == CREATE_ATTEMPTS or not _busy(text):
                    return reason
                time.sleep(0.5 * attempt)
            else:
                return None
    return None


def _busy(text: str) -> bool:
    return any(marker in text for marker in BUSY_STORE)


def say(message: str) -> None:
    Console(stderr=True).print(message, markup=False, highlight=False, soft_wrap=True)


def warn(message: str) -> None:
    say(f"warning: {message}")


def _check_scheme(uri: str) -> None:
    """A URI whose scheme names no kind of tracking store MLflow has, refused in one line."""
    mlflow = import_mlflow()
    try:
        from mlflow.tracking._tracking_service.utils import _tracking_store_registry
    except ImportError:  # moved in another MLflow: its own error says it later
        return
    registry: Any = _tracking_store_registry
    try:
        registry.get_store_builder(uri)
    except mlflow.exceptions.MlflowException:
        known = ", ".join(s for s in sorted(registry._registry) if s)
        raise TrackingError(
            f"--mlflow-uri {uri}: not a tracking store MLflow knows (schemes: {known}, or a "
            "folder); e.g. sqlite:///runs/mlflow.db or http://127.0.0.1:5000"
        ) from None


def check_reachable(settings: MlflowSettings) -> MlflowSettings:
    """Before any training: MLflow is installed and its store answers.

    With --mlflow-optional a problem is a warning and the returned settings are switched off;
    without it the command stops here, before any time goes into training.
    """
    if not settings.enabled:
        return settings
    try:
        check_installed()
    except TrackingError as missing:  # MLflow, or what its models need, is not installed
        if not settings.optional:
            raise
        warn(f"{missing.problems[0]}; training without MLflow logging (--mlflow-optional)")
        return replace(settings, enabled=False)
    _check_scheme(settings.uri)  # a typo is refused, even with --mlflow-optional
    reason = _unreachable(settings.uri)
    if reason is None:
        return settings
    problem = f"--mlflow-uri {settings.uri}: cannot reach the MLflow tracking store ({reason})"
    if not settings.optional:
        raise TrackingError(
            f"{problem}; start the server or fix the URI, or add --mlflow-optional to train "
            "without logging"
        )
    warn(f"{problem}; training without MLflow logging (--mlflow-optional)")
    return replace(settings, enabled=False)
