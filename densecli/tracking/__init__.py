"""MLflow tracking of finished run folders (an optional extra: `densecli[mlflow]`).

Each run folder becomes one MLflow run in experiment `densecli/<spec name>`: the resolved
spec as params, metrics.json's numbers as metrics, the history as metrics per epoch, the
folder itself as artifacts. A sweep folder becomes a parent run with its points nested.

The CLI needs three calls: `settings_for` (its options), `check_reachable` (before any
training) and `log_after` (once the run folder is written). `densecli mlflow` is
`log_runs`. Importing this package imports neither MLflow nor TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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

__all__ = [
    "URI_ENV",
    "MlflowOptions",
    "MlflowSettings",
    "TrackingError",
    "check_reachable",
    "default_uri",
    "log_after",
    "log_runs",
    "resolve_uri",
    "settings_for",
    "track",
    "track_nested",
]


def _reason(err: Exception) -> str:
    if isinstance(err, TrackingError):
        return "; ".join(err.problems)
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0][:200]}" if text else type(err).__name__


def log_after(path: Path, settings: MlflowSettings) -> str | None:
    """Log a run (or sweep) folder that is already written; returns the summary line.

    The folder is never touched: when logging fails the run is still saved, and the error
    (a warning with --mlflow-optional) says how to log it later.
    """
    if not settings.enabled:
        return None
    from densecli.tracking._log import log_folder

    try:
        report = log_folder(path, settings.uri)
    except Exception as err:
        problem = (
            f"{path}: saved, but not logged to MLflow ({_reason(err)}); log it later with "
            f"densecli mlflow {path} --mlflow-uri {settings.uri}"
        )
        if settings.optional:
            warn(problem)
            return None
        raise TrackingError(problem) from None
    for problem in report.problems:
        warn(f"not logged to MLflow: {problem}")
    return report.summary()


def track(folder: Path, settings: MlflowSettings | None, notice: Callable[[str], None]) -> None:
    """Log a finished run (or search) folder when asked to, and say so; it is written."""
    if settings is not None:
        said = log_after(folder, settings)
        if said:
            notice(said)


def log_runs(path: Path, uri: str | None) -> str:
    """`densecli mlflow PATH`: every finished run under PATH not yet in the store."""
    from densecli.tracking._log import log_folder, runs_dir_of

    if not path.is_dir():  # before the store is made: it would create the folder
        raise TrackingError(f"{path}: no such folder; give a run, sweep or runs folder")
    target = resolve_uri(uri, runs_dir_of(path))
    settings = check_reachable(MlflowSettings(True, target))
    try:
        report = log_folder(path, settings.uri)
    except Exception as err:
        raise TrackingError(f"{path}: not logged to MLflow ({_reason(err)})") from None
    for problem in report.problems:
        warn(f"not logged to MLflow: {problem}")
    return report.summary()


def track_nested(
    folder: Path, settings: MlflowSettings | None, notice: Callable[[str], None]
) -> None:
    """A nested tune's estimate, logged when asked to (`densecli.tracking._nested`); a
    failure is reported as `log_after` reports one (the tune folder is written anyway)."""
    if settings is None or not settings.enabled:
        return
    from densecli.tracking._nested import log_nested

    try:
        notice(log_nested(folder, settings.uri))
    except Exception as err:
        problem = (
            f"{folder}: saved, but its nested estimate was not logged to MLflow ({_reason(err)})"
        )
        if settings.optional:
            warn(problem)
            return
        raise TrackingError(problem) from None
