"""Logging run and search folders into an MLflow tracking store, each run at most once.

A folder already logged is recognised by the `densecli.run_key` tag (the sha256 of its
metrics.json, of a stopped run's status.json, or of a search's record file), checked and
logged under the store's lock, so two densecli processes logging the same folder into the
same store log it once. A run whose logging broke off is removed and logged again. A folder
that cannot be read is named and skipped; the others are logged.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from densecli.errors import DensecliError
from densecli.runs.files import METRICS, NESTED, is_unfinished
from densecli.tracking._record import RUN_KEY_TAG, Record, run_record
from densecli.tracking._searches import read_search, search_kind
from densecli.tracking._settings import (
    ARTIFACTS_NAME,
    TrackingError,
    import_mlflow,
    sqlite_folder,
    store_lock,
)

# MLflow's limits for one log_batch call.
MAX_PARAMS = 100
MAX_METRICS = 1000
LOGGED_TAG = "densecli.logged"  # set last: a run without it (and not FINISHED) is a leftover


@dataclass
class LogReport:
    """What one or more passes logged, by folder (a folder counts once, as it first did)."""

    uri: str
    logged: dict[str, None] = field(default_factory=dict)  # logged by this process
    already: dict[str, None] = field(default_factory=dict)  # found in the store
    skipped: dict[str, list[str]] = field(default_factory=dict)  # folder → what is wrong
    models: dict[str, None] = field(default_factory=dict)  # models added to runs logged before
    experiments: set[str] = field(default_factory=set)

    def skip(self, folder: Path, problems: list[str]) -> None:
        self.skipped.setdefault(str(folder), []).extend(problems)

    @property
    def problems(self) -> list[str]:
        return [problem for problems in self.skipped.values() for problem in problems]

    @property
    def exit_code(self) -> int:
        """1 when a folder was skipped, as a command that did only part of its work."""
        return 1 if self.skipped else 0

    def summary(self) -> str:
        where = ", ".join(sorted(self.experiments)) or "no experiment"
        already = [f for f in self.already if f not in self.logged]
        added = f" ({len(self.models)} given its model now)" if self.models else ""
        return (
            f"MLflow: logged {len(self.logged)} run(s), {len(already)} already there{added}, "
            f"{len(self.skipped)} skipped ({where}) in {self.uri}"
        )


def _is_run(folder: Path) -> bool:
    return (folder / METRICS).is_file() and not is_unfinished(folder)


def _children(folder: Path) -> Iterator[Path]:
    for child in sorted(p for p in folder.iterdir() if p.is_dir()):
        if not child.name.startswith("."):
            yield child


def _reason(err: Exception) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0][:200]}" if text else type(err).__name__


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

    def find(self, record: Record) -> Any | None:
        """The logged MLflow run of this folder; half-logged leftovers are removed."""
        runs = self.client.search_runs(
            [self.experiment_id(record.experiment)],
            filter_string=f"tags.`{RUN_KEY_TAG}` = '{record.key}'",
        )
        done = [r for r in runs if r.info.status == "FINISHED" or LOGGED_TAG in r.data.tags]
        for run in runs:
            if run not in done:
                self.client.delete_run(run.info.run_id)
        return done[0] if done else None

    def log(self, record: Record, parent: str | None, model: Any | None) -> str:
        from densecli.tracking._model import MODEL_TAG, log_model

        tags = {**record.tags, **({"mlflow.parentRunId": parent} if parent else {})}
        experiment = self.experiment_id(record.experiment)
        run = self.client.create_run(
            experiment, start_time=record.start_ms, tags=tags, run_name=record.name
        )
        run_id: str = run.info.run_id
        try:
            self._log_values(run_id, record)
            if model is not None:  # before the history: MLflow copies the run's metrics
                model_id = log_model(self.uri, experiment, run_id, model)
                self.client.set_tag(run_id, MODEL_TAG, model_id)
            self._log_steps(run_id, record)
            self._log_artifacts(run_id, record)
            if record.data is not None:
                from densecli.tracking._dataset import dataset_input

                self.client.log_inputs(run_id, datasets=[dataset_input(record.data)])
        except BaseException:
            self.client.set_terminated(run_id, "FAILED")
            raise
        self.client.set_terminated(run_id, record.status, end_time=record.end_ms)
        self.client.set_tag(run_id, LOGGED_TAG, "1")
        return run_id

    def add_model(self, run: Any, model: Any) -> None:
        """A model for a run logged before (by an older densecli, or while its search ran)."""
        from densecli.tracking._model import MODEL_TAG, log_model

        run_id = run.info.run_id
        model_id = log_model(self.uri, run.info.experiment_id, run_id, model)
        self.client.set_tag(run_id, MODEL_TAG, model_id)

    def refresh(self, run: Any, record: Record) -> None:
        """A search's parent run as its folder is now: the best so far, the files, its end."""
        entities = self.entities
        run_id = run.info.run_id
        changed = {k: v for k, v in record.metrics.items() if run.data.metrics.get(k) != v}
        if changed:
            metrics = [entities.Metric(k, v, record.end_ms, 0) for k, v in changed.items()]
            self.client.log_batch(run_id, metrics=metrics)
        tags = {k: v for k, v in record.tags.items() if run.data.tags.get(k) != v}
        if tags:
            self.client.log_batch(run_id, tags=[entities.RunTag(k, v) for k, v in tags.items()])
        if (run.info.end_time or 0) < record.end_ms:
            self._log_artifacts(run_id, record)
            self.client.set_terminated(run_id, record.status, end_time=record.end_ms)

    def _log_artifacts(self, run_id: str, record: Record) -> None:
        if record.artifacts:
            for name in record.artifacts:
                self.client.log_artifact(run_id, str(record.folder / name))
        else:
            self.client.log_artifacts(run_id, str(record.folder))

    def _log_values(self, run_id: str, record: Record) -> None:
        """The params and the final metrics (step 0: the ones a logged model is linked to)."""
        entities = self.entities
        params = [entities.Param(k, v) for k, v in record.params.items()]
        for start in range(0, len(params), MAX_PARAMS):
            self.client.log_batch(run_id, params=params[start : start + MAX_PARAMS])
        at = record.end_ms
        self._log_metrics(run_id, [entities.Metric(k, v, at, 0) for k, v in record.metrics.items()])

    def _log_steps(self, run_id: str, record: Record) -> None:
        """The history by epoch and the scores by fold."""
        at = record.end_ms
        steps = [self.entities.Metric(s.key, s.value, at, s.step) for s in record.steps]
        self._log_metrics(run_id, steps)

    def _log_metrics(self, run_id: str, metrics: list[Any]) -> None:
        for start in range(0, len(metrics), MAX_METRICS):
            self.client.log_batch(run_id, metrics=metrics[start : start + MAX_METRICS])


class Logger:
    """Logs folders into one store; kept across calls (a tune's batches), it remembers what
    it has seen logged and does not ask the store again."""

    def __init__(self, uri: str, runs_dir: Path) -> None:
        self.uri = uri
        self.runs_dir = runs_dir
        self.store = _Store(uri)
        self.report = LogReport(uri)
        self._seen: dict[str, tuple[str, bool]] = {}  # key → (run id, carries its model)

    def _once(self, record: Record, parent: str | None = None, wants_model: bool = False) -> str:
        """The record's MLflow run, logged now unless it is there; under the store's lock."""
        self.report.experiments.add(record.experiment)
        seen = self._seen.get(record.key)
        if seen is not None and (seen[1] or not wants_model):
            self.report.already.setdefault(str(record.folder))
            return seen[0]
        from densecli.tracking._model import MODEL_TAG

        with store_lock(self.uri, self.runs_dir), contextlib.ExitStack() as scratch:
            existing = self.store.find(record)
            if existing is not None:
                has_model = MODEL_TAG in existing.data.tags
                if wants_model and not has_model:
                    self.store.add_model(existing, _prepare(record, scratch))
                    has_model = True
                    if str(record.folder) not in self.report.logged:  # logged before: said
                        self.report.models.setdefault(str(record.folder))
                self.report.already.setdefault(str(record.folder))
                self._seen[record.key] = (existing.info.run_id, has_model)
                return str(existing.info.run_id)
            model = _prepare(record, scratch) if wants_model else None  # before the run exists
            run_id = self.store.log(record, parent, model)
        self.report.logged.setdefault(str(record.folder))
        self._seen[record.key] = (run_id, wants_model)
        return run_id

    def run(self, folder: Path) -> None:
        """A train or cv run: with its model."""
        try:
            self._once(run_record(folder), wants_model=True)
        except DensecliError as err:
            self.report.skip(folder, err.problems)
        except Exception as err:  # the store refused it: named, the others go on
            self.report.skip(folder, [f"{folder}: not logged to MLflow ({_reason(err)})"])

    def search(self, folder: Path) -> None:
        """A sweep or tune: its parent run, each point or trial nested, the best's model."""
        try:
            reading = read_search(folder)
            parent = self._once(reading.parent)
        except DensecliError as err:
            self.report.skip(folder, [f"{p}; none of its runs logged" for p in err.problems])
            return
        except Exception as err:
            self.report.skip(folder, [f"{folder}: not logged to MLflow ({_reason(err)})"])
            return
        for damaged, problems in reading.problems.items():
            self.report.skip(damaged, problems)
        for member in reading.members:
            try:
                self._once(member, parent, wants_model=member.folder == reading.best)
            except DensecliError as err:
                self.report.skip(member.folder, err.problems)
            except Exception as err:
                self.report.skip(member.folder, [f"{member.folder}: not logged ({_reason(err)})"])
        try:
            with store_lock(self.uri, self.runs_dir):
                self.store.refresh(self.store.client.get_run(parent), reading.parent)
        except Exception as err:
            self.report.skip(folder, [f"{folder}: its run not brought up to date ({_reason(err)})"])
        if reading.kind == "tune" and (folder / NESTED).is_file():
            self.nested(folder)

    def nested(self, folder: Path) -> None:
        """A nested tune's estimate: a parent run of its own, one nested run per outer fold."""
        from densecli.tracking._nested import nested_records

        try:
            parent, children = nested_records(folder)
            parent_id = self._once(parent)
        except DensecliError as err:
            self.report.skip(folder, err.problems)
            return
        except Exception as err:
            problem = f"{folder}: its nested estimate not logged to MLflow ({_reason(err)})"
            self.report.skip(folder, [problem])
            return
        for child in children:
            try:
                self._once(child, parent_id)
            except Exception as err:
                self.report.skip(child.folder, [f"{child.folder}: not logged ({_reason(err)})"])

    def folder(self, path: Path) -> LogReport:
        """A run folder, a search folder, or a runs folder of both: everything finished in it."""
        if not path.is_dir():
            raise TrackingError(f"{path}: no such folder; give a run, sweep, tune or runs folder")
        if search_kind(path) is not None:
            self.search(path)
        elif search_kind(path.parent) is not None:  # a point or trial: its whole search
            self.search(path.parent)
        elif _is_run(path):
            self.run(path)
        else:
            for child in _children(path):
                if search_kind(child) is not None:
                    self.search(child)
                elif _is_run(child):
                    self.run(child)
        return self.report


def _prepare(record: Record, scratch: contextlib.ExitStack[Any]) -> Any:
    """The run's model, exported into a scratch folder that lasts until it is logged."""
    from densecli.tracking._model import prepare_model

    folder = scratch.enter_context(tempfile.TemporaryDirectory(prefix="densecli-mlflow-"))
    return prepare_model(record.folder, Path(folder))


def runs_dir_of(path: Path) -> Path:
    """The runs folder that holds `path` (a run, a search, a search's run, or itself)."""
    if search_kind(path.parent) is not None:
        return path.parent.parent
    if _is_run(path) or search_kind(path) is not None:
        return path.parent
    return path


def log_folder(path: Path, uri: str) -> LogReport:
    """Every finished run in `path` not yet in the store at `uri`."""
    return Logger(uri, runs_dir_of(path)).folder(path)
