"""What one finished run folder, or one sweep folder, becomes in MLflow: read from disk only.

Everything comes from the files a run keeps (config.yaml, metrics.json, the history,
env.json), so a run made long before MLflow was installed logs exactly like a new one.
No MLflow and no TensorFlow here.
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

import yaml

from densecli.runs import load_run
from densecli.runs.files import (
    CONFIG,
    ENVIRONMENT,
    HISTORY,
    METRICS,
    RESULTS_CSV,
    RESULTS_MD,
    SWEEP,
)

RUN_KEY_TAG = "densecli.run_key"
HISTORY_PREFIX = "history"  # mean over the run's models; each model under its own job name
SWEEPS = (SWEEP, RESULTS_CSV, RESULTS_MD)


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


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _cell(text: str | None) -> float | None:
    try:
        return _number(float(text or ""))
    except ValueError:
        return None


def final_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Every number at the top of metrics.json (accuracy, p_value, …), and the interval's ends."""
    found = {k: v for k, v in ((k, _number(v)) for k, v in metrics.items()) if v is not None}
    interval = metrics.get("accuracy_interval_95")
    if isinstance(interval, list) and len(interval) == 2:
        found["accuracy_interval_95_low"] = float(interval[0])
        found["accuracy_interval_95_high"] = float(interval[1])
    return found


def fold_steps(metrics: dict[str, Any]) -> list[Step]:
    return [
        Step(key, float(value), number)
        for key in metrics
        if _per_fold(key) and isinstance(metrics[key], list)
        for number, value in enumerate(metrics[key], start=1)
        if _number(value) is not None
    ]


def history_steps(path: Path) -> list[Step]:
    """The history as metrics with step = epoch: the mean over models under `history/`, and
    with several models each one under its job name (`fold-01/loss`)."""
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    jobs = {row["job"] for row in rows}
    by_epoch: dict[tuple[str, int], list[float]] = defaultdict(list)
    steps = []
    for row in rows:
        epoch = int(row["epoch"])
        for column, cell in row.items():
            if column in ("job", "epoch"):
                continue
            value = _cell(cell)
            if value is None:  # empty after early stopping, or not finite: nothing to plot
                continue
            by_epoch[(column, epoch)].append(value)
            if len(jobs) > 1:
                steps.append(Step(f"{row['job']}/{column}", value, epoch))
    mean = [
        Step(f"{HISTORY_PREFIX}/{column}", statistics.fmean(values), epoch)
        for (column, epoch), values in sorted(by_epoch.items(), key=lambda kv: (kv[0][1], kv[0][0]))
    ]
    return mean + steps


def _file_key(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _millis(iso: str | None, fallback: float) -> int:
    try:
        return int(datetime.fromisoformat(str(iso)).timestamp() * 1000)
    except ValueError:
        return int(fallback * 1000)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return {}


def experiment_name(spec_name: str) -> str:
    return f"densecli/{spec_name}"


def run_record(folder: Path, experiment: str | None = None) -> Record:
    """A finished run folder (`load_run` refuses anything else) as one MLflow run."""
    run = load_run(folder)
    config = yaml.safe_load((folder / CONFIG).read_text(encoding="utf-8"))
    env = _read_json(folder / ENVIRONMENT)
    metrics = run.metrics
    finished = (folder / METRICS).stat().st_mtime
    start = _millis(metrics.get("created"), finished)
    tags = {
        RUN_KEY_TAG: _file_key(folder / METRICS),
        "densecli.run_folder": str(folder.resolve()),
        "densecli.mode": str(metrics.get("mode", "")),
        "densecli.engine": str(metrics.get("engine", "")),
        "densecli.data_sha256": str(metrics.get("data_sha256", "")),
        "densecli.version": str(env.get("densecli", "")),
        "densecli.command": shlex.join(str(part) for part in env.get("command") or []),
        "densecli.git_commit": str(env.get("git_commit") or ""),
        "mlflow.source.name": "densecli",
    }
    return Record(
        folder=folder,
        experiment=experiment or experiment_name(run.spec.name),
        key=tags[RUN_KEY_TAG],
        name=folder.name,
        params=flatten(config),
        metrics=final_metrics(metrics),
        steps=history_steps(folder / HISTORY) + fold_steps(metrics),
        tags={k: v for k, v in tags.items() if v},
        start_ms=start,
        end_ms=max(start, int(finished * 1000)),
    )


def sweep_record(folder: Path) -> Record:
    """A sweep folder as the parent run of its points: the grid and protocol as params."""
    record = _read_json(folder / SWEEP)
    definition = record.get("definition") or {}
    name = str(definition.get("name") or folder.name)
    params = {
        **flatten(record.get("protocol") or {}, "protocol"),
        **{f"grid.{k}": param_text(v) for k, v in (definition.get("grid") or {}).items()},
        **flatten(definition.get("random"), "random"),
        "points": str(len(record.get("points") or [])),
    }
    created = (folder / SWEEP).stat().st_mtime
    start = _millis(record.get("created"), created)
    tags = {
        RUN_KEY_TAG: _file_key(folder / SWEEP),
        "densecli.run_folder": str(folder.resolve()),
        "densecli.mode": "sweep",
        "densecli.data_sha256": str(record.get("data_sha256") or ""),
        "mlflow.source.name": "densecli",
    }
    return Record(
        folder=folder,
        experiment=experiment_name(name),
        key=tags[RUN_KEY_TAG],
        name=folder.name,
        params=params,
        metrics={},
        steps=[],
        tags={k: v for k, v in tags.items() if v},
        start_ms=start,
        end_ms=start,
        artifacts=tuple(f for f in SWEEPS if (folder / f).is_file()),
    )


def sweep_point_tag(folder: Path, sweep: Path) -> str | None:
    """The point's label (p001) from sweep.json, by the point's spec name."""
    points = _read_json(sweep / SWEEP).get("points") or []
    config = _read_json(folder / METRICS)
    for point in points:
        if point.get("name") == config.get("name"):
            return str(point.get("point"))
    return None
