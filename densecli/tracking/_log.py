"""Logging run folders into an MLflow tracking store, each at most once.

A folder already logged is recognised by the `densecli.run_key` tag (the sha256 of its
metrics.json, or of sweep.json for a sweep), so logging a whole runs folder again only adds
what is new. A run whose logging broke off is removed and logged again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from densecli.errors import DensecliError
from densecli.runs.files import METRICS, is_sweep, is_unfinished
from densecli.tracking._record import (
    RUN_KEY_TAG,
    Record,
    run_record,
    sweep_point_tag,
    sweep_record,
)
from densecli.tracking._settings import (
    ARTIFACTS_NAME,
    TrackingError,
    import_mlflow,
    sqlite_folder,
)

# MLflow's limits for one log_batch call.
MAX_PARAMS = 100
MAX_METRICS = 1000


@dataclass
class LogReport:
    uri: str
    logged: list[str] = field(default_factory=list)  # run folders logged now
    already: list[str] = field(default_factory=list)  # logged before: skipped
    problems: list[str] = field(default_factory=list)  # folders that could not be read
    experiments: set[str] = field(default_factory=set)

    def summary(self) -> str:
        where = ", ".join(sorted(self.experiments)) or "no experiment"
        return (
            f"MLflow: logged {len(self.logged)} run(s), {len(self.already)} already there "
            f"({where}) in {self.uri}"
        )


def _is_run(folder: Path) -> bool:
    return (folder / METRICS).is_file() and not is_unfinished(folder)


def _children(folder: Path) -> Iterator[Path]:
    for child in sorted(p for p in folder.iterdir() if p.is_dir()):
        if not child.name.startswith("."):
            yield child


def _point_folders(sweep: Path) -> list[Path]:
    return [p for p in _children(sweep) if _is_run(p)]


class _Store:
    """One tracking store: experiments by name, runs recognised by their key."""

    def __init__(self, uri: str) -> None:
        mlflow = import_mlflow()
        self.uri = uri
        self.client: Any = mlflow.MlflowClient(tracking_uri=uri)
        self.entities: Any = mlflow.entities
        self._experiments: dict[str, str] = {}

    def experiment_id(self, name: str) -> str:
        if name in self._experiments:
            return self._experiments[name]
        found = self.client.get_experiment_by_name(name)
        if found is None:
            folder = sqlite_folder(self.uri)
            # MLflow would put a SQLite store's artifacts under ./mlruns of wherever it runs.
            location = None if folder is None else (folder / ARTIFACTS_NAME).resolve().as_uri()
            try:
                self._experiments[name] = self.client.create_experiment(
                    name, artifact_location=location
                )
            except Exception:  # made meanwhile by another process
                self._experiments[name] = self.client.get_experiment_by_name(name).experiment_id
        else:
            self._experiments[name] = found.experiment_id
        return self._experiments[name]

    def logged(self, record: Record) -> str | None:
        """The finished MLflow run of this folder; half-logged leftovers are removed."""
        runs = self.client.search_runs(
            [self.experiment_id(record.experiment)],
            filter_string=f"tags.`{RUN_KEY_TAG}` = '{record.key}'",
        )
        done = [r.info.run_id for r in runs if r.info.status == "FINISHED"]
        for run in runs:
            if run.info.status != "FINISHED":
                self.client.delete_run(run.info.run_id)
        return done[0] if done else None

    def log(self, record: Record, parent: str | None = None) -> str:
        tags = {**record.tags, **({"mlflow.parentRunId": parent} if parent else {})}
        run = self.client.create_run(
            self.experiment_id(record.experiment),
            start_time=record.start_ms,
            tags=tags,
            run_name=record.name,
        )
        run_id: str = run.info.run_id
        try:
            self._log_values(run_id, record)
            if record.artifacts:
                for name in record.artifacts:
                    self.client.log_artifact(run_id, str(record.folder / name))
            else:
                self.client.log_artifacts(run_id, str(record.folder))
        except BaseException:
            self.client.set_terminated(run_id, "FAILED")
            raise
        self.client.set_terminated(run_id, "FINISHED", end_time=record.end_ms)
        return run_id

    def _log_values(self, run_id: str, record: Record) -> None:
        entities = self.entities
        params = [entities.Param(k, v) for k, v in record.params.items()]
        for start in range(0, len(params), MAX_PARAMS):
            self.client.log_batch(run_id, params=params[start : start + MAX_PARAMS])
        at = record.end_ms
        metrics = [entities.Metric(k, v, at, 0) for k, v in record.metrics.items()]
        metrics += [entities.Metric(s.key, s.value, at, s.step) for s in record.steps]
        for start in range(0, len(metrics), MAX_METRICS):
            self.client.log_batch(run_id, metrics=metrics[start : start + MAX_METRICS])


class _Logger:
    def __init__(self, uri: str) -> None:
        self.store = _Store(uri)
        self.report = LogReport(uri)
        self._parents: dict[Path, str] = {}

    def _once(self, record: Record, parent: str | None = None) -> str:
        self.report.experiments.add(record.experiment)
        existing = self.store.logged(record)
        if existing is not None:
            self.report.already.append(str(record.folder))
            return existing
        run_id = self.store.log(record, parent)
        self.report.logged.append(str(record.folder))
        return run_id

    def sweep_parent(self, sweep: Path) -> tuple[str, str]:
        """The sweep's own run (its points nest under it) and its experiment."""
        record = sweep_record(sweep)
        if sweep not in self._parents:
            self._parents[sweep] = self._once(record)
        return self._parents[sweep], record.experiment

    def run(self, folder: Path) -> None:
        try:
            if is_sweep(folder.parent):
                parent, experiment = self.sweep_parent(folder.parent)
                record = run_record(folder, experiment)
                point = sweep_point_tag(folder, folder.parent)
                if point:
                    record = replace(record, tags={**record.tags, "densecli.sweep_point": point})
                self._once(record, parent)
            else:
                self._once(run_record(folder))
        except DensecliError as err:  # an unreadable run record: named, the others go on
            self.report.problems.extend(err.problems)

    def sweep(self, folder: Path) -> None:
        self.sweep_parent(folder)
        for point in _point_folders(folder):
            self.run(point)


def log_folder(path: Path, uri: str) -> LogReport:
    """A run folder, a sweep folder, or a runs folder of both: every finished run in it."""
    if not path.is_dir():
        raise TrackingError(f"{path}: no such folder; give a run, sweep or runs folder")
    logger = _Logger(uri)
    if _is_run(path):
        logger.run(path)
    elif is_sweep(path):
        logger.sweep(path)
    else:
        for child in _children(path):
            if is_sweep(child):
                logger.sweep(child)
            elif _is_run(child):
                logger.run(child)
    return logger.report


def runs_dir_of(path: Path) -> Path:
    """The runs folder that holds `path` (a run, a sweep, a sweep's point, or itself)."""
    if is_sweep(path.parent):
        return path.parent.parent
    if _is_run(path) or is_sweep(path):
        return path.parent
    return path
