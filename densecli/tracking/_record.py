"""What one run folder becomes in MLflow: read from disk only, and read strictly.

Everything comes from the files a run keeps (config.yaml, metrics.json, the history,
env.json, inputs.json), so a run made long before MLflow was installed logs exactly like a
new one. A file that cannot be read as its format says is a damaged folder: `RunsError`
names the file and what is wrong, and the folder is skipped rather than logged half-right.
A run a search stopped (`.pruned`, `.failed`) is a run too: its spec, its history up to the
stop and its state. No MLflow and no TensorFlow here.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import shlex
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from densecli.errors import RunsError
from densecli.runs import load_run
from densecli.runs.files import (
    CONFIG,
    ENVIRONMENT,
    HISTORY,
    METRICS,
    STATUS,
    SavedRun,
    read_json,
    read_yaml,
)

RUN_KEY_TAG = "densecli.run_key"
STATE_TAG = "densecli.state"  # done, pruned or failed
HISTORY_PREFIX = "history"  # mean over the run's models; each model under its own job name
# MLflow's end state of a run, by densecli's state of the folder.
MLFLOW_STATUS = {"done": "FINISHED", "pruned": "KILLED", "failed": "FAILED"}


def _per_fold(key: str) -> bool:
    """Lists in metrics.json with one number per fold or repeat (fold_accuracy, fold_rmse,
    logistic_regression_fold_accuracy, ridge_fold_rmse, repeat_accuracy, …): a metric with
    step = fold number."""
    return key.startswith(("fold_", "repeat_")) or "_fold_" in key


@dataclass(frozen=True)
class Step:
    key: str
    value: float
    step: int


@dataclass(frozen=True)
class DataFacts:
    """The table a run was trained on, as its records name it (an MLflow dataset input)."""

    name: str
    path: str
    sha256: str
    columns: list[tuple[str, str]]  # (name, MLflow type) of the features and the target
    dropped: list[str]


@dataclass(frozen=True)
class Record:
    """One MLflow run to be: where it comes from, and everything logged into it."""

    folder: Path
    experiment: str
    key: str  # recognises a folder already logged: the sha256 of its own record file
    name: str
    params: dict[str, str]
    metrics: dict[str, float]
    steps: list[Step]
    tags: dict[str, str]
    start_ms: int
    end_ms: int
    artifacts: tuple[str, ...] = field(default=())  # files to log; empty: the whole folder
    status: str = "FINISHED"  # MLflow's end state: FINISHED, KILLED (pruned), FAILED
    data: DataFacts | None = None
    metrics_json: dict[str, Any] | None = None  # a finished run's scores (None: stopped)

    @property
    def state(self) -> str:
        return self.tags.get(STATE_TAG, "done")


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """`model.layers.0.units` → "12": mappings and lists become dotted keys, leaves text."""
    if isinstance(value, dict) and value:
        items: list[tuple[Any, Any]] = list(value.items())
    elif isinstance(value, list) and value:
        items = list(enumerate(value))
    else:
        return {prefix: param_text(value)}
    flat: dict[str, str] = {}
    for key, item in items:
        flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def param_text(value: Any) -> str:
    """Strings as they are; everything else as JSON (null, true, 0.001, [])."""
    return value if isinstance(value, str) else json.dumps(value)


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def final_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Every number at the top of metrics.json (accuracy, p_value, …), and the interval's ends."""
    found = {k: v for k, v in ((k, number(v)) for k, v in metrics.items()) if v is not None}
    interval = metrics.get("accuracy_interval_95")
    if isinstance(interval, list) and len(interval) == 2:
        found["accuracy_interval_95_low"] = float(interval[0])
        found["accuracy_interval_95_high"] = float(interval[1])
    return found


def fold_steps(metrics: dict[str, Any]) -> list[Step]:
    return [
        Step(key, float(value), n)
        for key in metrics
        if _per_fold(key) and isinstance(metrics[key], list)
        for n, value in enumerate(metrics[key], start=1)
        if number(value) is not None
    ]


def _history_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """history.csv's rows with their line numbers; anything but its format is damage."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = list(reader.fieldnames or [])
            rows = [(reader.line_num, row) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise RunsError(f"{path}: unreadable ({type(err).__name__}: {err})") from None
    if "job" not in header or "epoch" not in header:
        raise RunsError(f"{path}: no job and epoch columns (header {header[:4]}…)")
    for line, row in rows:
        if None in row or None in row.values():
            raise RunsError(f"{path}, line {line}: not {len(header)} cells as in its header")
    return rows


def _cell(path: Path, line: int, column: str, text: str) -> float | None:
    """A history cell: a number; empty (after early stopping) or not finite is nothing to plot."""
    if not text.strip():
        return None
    try:
        return number(float(text))
    except ValueError:
        raise RunsError(f"{path}, line {line}: {column} {text[:40]!r} is not a number") from None


def history_steps(path: Path) -> list[Step]:
    """The history as metrics with step = epoch: the mean over models under `history/`, and
    with several models each one under its job name (`fold-01/loss`)."""
    if not path.is_file():
        return []
    rows = _history_rows(path)
    jobs = {row["job"] for _, row in rows}
    by_epoch: dict[tuple[str, int], list[float]] = defaultdict(list)
    steps = []
    for line, row in rows:
        epoch = row["epoch"]
        if not epoch.strip().isdigit():
            raise RunsError(f"{path}, line {line}: epoch {epoch[:40]!r} is not a whole number")
        for column, cell in row.items():
            if column in ("job", "epoch"):
                continue
            value = _cell(path, line, column, cell)
            if value is None:
                continue
            by_epoch[(column, int(epoch))].append(value)
            if len(jobs) > 1:
                steps.append(Step(f"{row['job']}/{column}", value, int(epoch)))
    mean = [
        Step(f"{HISTORY_PREFIX}/{column}", statistics.fmean(values), epoch)
        for (column, epoch), values in sorted(by_epoch.items(), key=lambda kv: (kv[0][1], kv[0][0]))
    ]
    return mean + steps


def file_key(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def millis(iso: Any, fallback: float) -> int:
    try:
        return int(datetime.fromisoformat(str(iso)).timestamp() * 1000)
    except ValueError:
        return int(fallback * 1000)


def read_mapping(path: Path) -> dict[str, Any]:
    """A JSON or YAML record that must be there and hold a mapping; anything else is damage."""
    try:
        loaded = read_yaml(path) if path.suffix == ".yaml" else read_json(path)
    except FileNotFoundError:
        raise RunsError(f"{path}: missing") from None
    except Exception as err:  # JSON, YAML and decoding errors alike: the file is damaged
        text = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
        raise RunsError(f"{path}: unreadable ({type(err).__name__}: {text})") from None
    if not isinstance(loaded, dict):
        raise RunsError(f"{path}: holds no mapping ({type(loaded).__name__})")
    return loaded


def _lenient(path: Path) -> dict[str, Any]:
    """env.json only adds tags: a run without a readable one still logs."""
    try:
        loaded = read_json(path)
    except (OSError, ValueError, TypeError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def experiment_name(spec_name: str) -> str:
    return f"densecli/{spec_name}"


def _type_of(values: list[Any]) -> str:
    return (
        "long" if all(isinstance(v, int) and not isinstance(v, bool) for v in values) else "string"
    )


def data_facts(run: SavedRun) -> DataFacts | None:
    """The run's table: its file, checksum and the columns it used, by type."""
    sha256 = str(run.metrics.get("data_sha256") or "")
    source = run.inputs.get("source")
    if not sha256 or not source:
        return None
    text = {str(c) for c in run.inputs.get("categorical", [])}
    columns = [(f, "string" if f in text else "double") for f in run.features]
    if run.metrics.get("task") == "regression":
        columns.append((run.target, "double"))
    else:
        columns.append((run.target, _type_of(list(run.inputs.get("classes", [])))))
    return DataFacts(
        name=Path(str(source)).stem,
        path=str(Path(str(source)).resolve()),
        sha256=sha256,
        columns=columns,
        dropped=[str(c) for c in run.inputs.get("dropped_columns", [])],
    )


def _common_tags(folder: Path, env: dict[str, Any]) -> dict[str, str]:
    return {
        "densecli.run_folder": str(folder.resolve()),
        "densecli.version": str(env.get("densecli", "")),
        "densecli.command": shlex.join(str(part) for part in env.get("command") or []),
        "densecli.git_commit": str(env.get("git_commit") or ""),
        "mlflow.source.name": "densecli",
    }


def run_record(folder: Path, experiment: str | None = None) -> Record:
    """A finished run folder (`load_run` refuses anything else) as one MLflow run."""
    run = load_run(folder)
    metrics = run.metrics
    finished = (folder / METRICS).stat().st_mtime
    start = millis(metrics.get("created"), finished)
    tags = {
        RUN_KEY_TAG: file_key(folder / METRICS),
        STATE_TAG: "done",
        "densecli.mode": str(metrics.get("mode", "")),
        "densecli.engine": str(metrics.get("engine", "")),
        "densecli.data_sha256": str(metrics.get("data_sha256", "")),
        **_common_tags(folder, _lenient(folder / ENVIRONMENT)),
    }
    return Record(
        folder=folder,
        experiment=experiment or experiment_name(run.spec.name),
        key=tags[RUN_KEY_TAG],
        name=folder.name,
        params=flatten(run.config),
        metrics=final_metrics(metrics),
        steps=history_steps(folder / HISTORY) + fold_steps(metrics),
        tags={k: v for k, v in tags.items() if v},
        start_ms=start,
        end_ms=max(start, int(finished * 1000)),
        data=data_facts(run),
        metrics_json=metrics,
    )


def stopped_record(folder: Path, experiment: str) -> Record:
    """A search's run that its pruner stopped, or that failed: the spec, the history up to
    the stop, and why (status.json)."""
    config = read_mapping(folder / CONFIG)
    status = read_mapping(folder / STATUS)
    state = str(status.get("status") or folder.suffix.lstrip("."))
    if state not in MLFLOW_STATUS:
        raise RunsError(f"{folder / STATUS}: status {state!r} is not pruned or failed")
    stopped = (folder / STATUS).stat().st_mtime
    start = millis(status.get("created"), stopped)
    tags = {
        RUN_KEY_TAG: file_key(folder / STATUS),
        STATE_TAG: state,
        "densecli.reason": str(status.get("reason") or "")[:500],
        "densecli.mode": "cv",
        **_common_tags(folder, _lenient(folder / ENVIRONMENT)),
    }
    done = number(status.get("epochs_done"))
    return Record(
        folder=folder,
        experiment=experiment,
        key=tags[RUN_KEY_TAG],
        name=folder.name,
        params=flatten(config),
        metrics={} if done is None else {"epochs_done": done},
        steps=history_steps(folder / HISTORY),
        tags={k: v for k, v in tags.items() if v},
        start_ms=start,
        end_ms=max(start, millis(status.get("stopped"), stopped)),
        status=MLFLOW_STATUS[state],
    )
