"""Where runs are logged, whether logging may fail, and the check made before any training.

MLflow is an optional extra: nothing here imports it until a run is really to be logged,
so `--help` and every command without `--mlflow` start as fast as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType

from rich.console import Console

from densecli.errors import DensecliError

URI_ENV = "DENSECLI_MLFLOW_URI"
DB_NAME = "mlflow.db"
# Beside the SQLite file; hidden, so `compare` does not take it for a run folder.
ARTIFACTS_NAME = ".mlflow-artifacts"
INSTALL_HINT = "pip install 'densecli[mlflow]'"


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


def sqlite_folder(uri: str) -> Path | None:
    """The folder holding a `sqlite:///` store's file; None for other stores."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///")
    return None if not path or path == ":memory:" else Path(path).parent


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
    """Why the store at `uri` cannot be used, or None when it answers."""
    mlflow = import_mlflow()
    folder = sqlite_folder(uri)
    try:
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        with _fail_fast():
            mlflow.MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except Exception as err:
        text = str(err).strip()
        return text.splitlines()[0][:200] if text else type(err).__name__
    return None


def warn(message: str) -> None:
    Console(stderr=True).print(f"warning: {message}", markup=False, highlight=False, soft_wrap=True)


def check_reachable(settings: MlflowSettings) -> MlflowSettings:
    """Before any training: MLflow is installed and its store answers.

    With --mlflow-optional a problem is a warning and the returned settings are switched off;
    without it the command stops here, before any time goes into training.
    """
    if not settings.enabled:
        return settings
    try:
        reason = _unreachable(settings.uri)
    except TrackingError as missing:  # MLflow is not installed
        if not settings.optional:
            raise
        warn(f"{missing.problems[0]}; training without MLflow logging (--mlflow-optional)")
        return replace(settings, enabled=False)
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
