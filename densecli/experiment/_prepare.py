"""An experiment before it trains: the spec checked against its data and task, and the plan."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from densecli.data import (
    Dataset,
    TableOptions,
    check_missing_cells,
    classic_split,
    dataset_for,
    resolve_columns,
)
from densecli.engine import EngineName, Progress, Silent, check_input_dim
from densecli.errors import ConfigError
from densecli.spec import DEFAULT_THRESHOLD, Spec, TrainSpec, load_spec
from densecli.tasks import Task, task_for


@dataclass(frozen=True)
class Experiment:
    spec: Spec  # resolved: data.train_rows filled in from the data
    data: Dataset
    task: Task
    # The rows its CV folds are made of (a nested tune's outer training rows); None: all.
    rows: np.ndarray | None = field(default=None, compare=False)

    def within(self, rows: np.ndarray) -> Experiment:
        """The same experiment, its CV made over these rows only."""
        return replace(self, rows=np.asarray(rows, dtype=np.int64))


@dataclass(frozen=True)
class Plan:
    """How to train: which engine, how many CV repeats, how many initialisations per model.

    Plain data, so a sweep's worker process gets the same plan as `densecli cv`.
    """

    engine: EngineName = "compiled"
    repeats: int = 1
    seeds: int = 1


DEFAULT_PLAN = Plan()  # the command line's defaults of --engine, --repeats and --seeds


@dataclass(frozen=True)
class Output:
    """Where runs go and who hears about training: the runs folder, the progress display,
    notices, the command line each run records, and whether runs draw their pictures (a
    sweep's points leave them to `densecli show RUN --plots`)."""

    runs_dir: Path
    progress: Progress = field(default_factory=Silent)
    notice: Callable[[str], None] = print
    command: Sequence[str] = ()
    plots: bool = True


def prepare(spec: Spec, data_path: Path | None = None) -> Experiment:
    """Load the data and check the spec against it; every check that needs no training."""
    if data_path is not None:  # --data replaces the spec's file or built-in data set
        spec = spec.model_copy(
            update={"data": spec.data.model_copy(update={"path": str(data_path), "name": None})}
        )
    if spec.data.path and spec.data.name:
        raise ConfigError(
            f"data: both path ({spec.data.path}) and name ({spec.data.name}) are set; "
            "keep one of them"
        )
    data = load_data(spec)
    check_missing_cells(spec.preprocess, data)
    task = task_for(spec, data)
    check_input_dim(spec, data.n_features)
    resolve_columns(spec.preprocess, data.feature_names)  # names must exist before training
    train_rows = spec.data.train_rows or data.default_train_rows()
    classic_split(data.n_rows, train_rows)  # fails early if it leaves no test rows
    resolved_data = spec.data.model_copy(update={"train_rows": train_rows})
    resolved = spec.model_copy(update={"data": resolved_data, "train": _task_train(spec, task)})
    return Experiment(resolved, data, task)


def _task_train(spec: Spec, task: Task) -> TrainSpec:
    """train.metrics and train.threshold as the task reads them: its own metric by default,
    and a decision threshold only where there is a decision."""
    train = spec.train
    if task.name == "regression" and train.threshold is not None:
        raise ConfigError(
            "train.threshold: a regression has no decision threshold; remove train.threshold"
        )
    update: dict[str, object] = {}
    if train.metrics is None:
        update["metrics"] = list(task.default_metrics)
    if task.name == "classification" and train.threshold is None:
        update["threshold"] = DEFAULT_THRESHOLD
    return train.model_copy(update=update)


def spec_for(config: Path, overrides: Sequence[str], data: Path | None) -> Spec:
    """The spec file with its overrides; `--data FILE` on a spec written for a built-in data
    set drops its data.train_rows (that data set's classic split), so the file gets its own
    default unless --set gives one."""
    spec = load_spec(config, overrides)
    chosen = any(o.startswith(("data.train_rows=", "data=")) for o in overrides)
    if data is None or spec.data.path is not None or chosen:
        return spec
    return spec.model_copy(update={"data": spec.data.model_copy(update={"train_rows": None})})


def prepare_file(config: Path, overrides: Sequence[str], data: Path | None) -> Experiment:
    """A spec file (with --set and --data) checked against its data."""
    return prepare(spec_for(config, overrides, data), data)


def load_data(spec: Spec) -> Dataset:
    """The spec's data set, read as its data and preprocess sections say."""
    data = spec.data
    options = TableOptions(
        target=data.target,
        header=data.header,
        categorical=spec.preprocess.categorical,
        features=data.features,
        drop=data.drop,
        missing_target=data.missing_target,
        delimiter=data.delimiter,
    )
    return dataset_for(data.path, options, data.name)


def announce_inferences(exp: Experiment, notice: Callable[[str], None]) -> None:
    """Say once, in one line, what was inferred about the data (header, categorical columns)."""
    line = exp.data.inference_line()
    if line:
        notice(line)
