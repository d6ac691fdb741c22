"""MLflow tracking of finished run folders (an optional extra: `densecli[mlflow]`).

Each run folder becomes one MLflow run in experiment `densecli/<spec name>`: the resolved
spec as params, metrics.json's numbers as metrics, the history as metrics per epoch, the
table as a dataset input, the folder itself as artifacts, and the run's model as an MLflow
Model at `model`. A sweep or tune folder becomes a parent run spanning the search with its
points or trials nested (pruned and failed ones too); its best carries the model. A nested
tune's estimate is a parent run of its own, with one run per outer fold.

The commands need: `MlflowOptions.reachable` (before any training), then `track` once the
folder is written (a tune also `Tracking.batch` after each batch). `densecli mlflow` is
`log_runs`. Importing this package imports neither MLflow nor TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from densecli.tracking._settings import (
    URI_ENV,
    MlflowOptions,
    MlflowSettings,
    TrackingError,
    check_reachable,
    default_uri,
    resolve_uri,
    settings_for,
    warn,
)

if TYPE_CHECKING:
    from densecli.tracking._log import Logger, LogReport

__all__ = [
    "URI_ENV",
    "MlflowOptions",
    "MlflowSettings",
    "Tracking",
    "TrackingError",
    "check_reachable",
    "default_uri",
    "log_after",
    "log_runs",
    "resolve_uri",
    "settings_for",
    "track",
]


def _reason(err: Exception) -> str:
    if isinstance(err, TrackingError):
        return "; ".join(err.problems)
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0][:200]}" if text else type(err).__name__


class Tracking:
    """One command's logging into one store. Kept across calls, so that a search's batches
    are logged as they end and what was seen logged is not asked for again.

    The folders are never touched: when logging fails the runs are still saved, and the
    error (a warning with --mlflow-optional) says how to log them later.
    """

    def __init__(self, settings: MlflowSettings) -> None:
        self.settings = settings
        self._logger: Logger | None = None
        self._warned: set[str] = set()

    def _log(self, path: Path) -> LogReport:
        from densecli.tracking._log import Logger, runs_dir_of

        if self._logger is None:
            self._logger = Logger(self.settings.uri, runs_dir_of(path))
        return self._logger.folder(path)

    def batch(self, path: Path) -> None:
        """While a search runs: what finished so far; a problem is a warning (once), and the
        search goes on (`done` logs the rest, or says how to)."""
        if not self.settings.enabled:
            return
        try:
            self._log(path)
        except Exception as err:
            reason = _reason(err)
            if reason not in self._warned:
                self._warned.add(reason)
                warn(f"{path}: not logged to MLflow yet ({reason}); tried again after each batch")

    def done(self, path: Path) -> str | None:
        """Log a finished run or search folder; returns the summary line."""
        if not self.settings.enabled:
            return None
        try:
            report = self._log(path)
        except Exception as err:
            problem = (
                f"{path}: saved, but not logged to MLflow ({_reason(err)}); log it later with "
                f"densecli mlflow {path} --mlflow-uri {self.settings.uri}"
            )
            if self.settings.optional:
                warn(problem)
                return None
            raise TrackingError(problem) from None
        for problem in report.problems:
            warn(f"not logged to MLflow: {problem}")
        return report.summary()


def log_after(path: Path, settings: MlflowSettings) -> str | None:
    """Log a run (or search) folder that is already written; returns the summary line."""
    return Tracking(settings).done(path)


def track(
    folder: Path, settings: MlflowSettings | Tracking | None, notice: Callable[[str], None]
) -> None:
    """Log a finished run (or search) folder when asked to, and say so; it is written."""
    if settings is None:
        return
    tracking = settings if isinstance(settings, Tracking) else Tracking(settings)
    said = tracking.done(folder)
    if said:
        notice(said)


def log_runs(path: Path, uri: str | None) -> LogReport:
    """`densecli mlflow PATH`: every finished run under PATH not yet in the store; damaged
    folders are named in the report and skipped."""
    from densecli.tracking._log import log_folder, runs_dir_of

    if not path.is_dir():  # before the store is made: it would create the folder
        raise TrackingError(f"{path}: no such folder; give a run, sweep, tune or runs folder")
    target = resolve_uri(uri, runs_dir_of(path))
    settings = check_reachable(MlflowSettings(True, target))
    try:
        return log_folder(path, settings.uri)
    except TrackingError:
        raise
    except Exception as err:
        raise TrackingError(f"{path}: not logged to MLflow ({_reason(err)})") from None
