"""Collect finished runs into one table, best first. Reads files only: no TensorFlow, no pandas.

A run is a folder holding metrics.json and config.yaml. Hidden folders are runs still being
written (or that died while writing) and are not results; any other folder that cannot be
read is named in a warning and skipped. Runs that stopped early are never among the
results; `densecli.unfinished` lists them apart.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from densecli.errors import RunsError
from densecli.unfinished import UnfinishedRun, is_unfinished, unfinished_cells

# A C parser when PyYAML has one: a thousand config.yaml files parse in a tenth of the time.
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class RunRow:
    run: str  # folder name
    name: str
    mode: str
    accuracy: float
    accuracy_std: float | None
    baseline: float
    reported_best: float | None
    roc_auc: float | None
    epochs: int
    batch_size: int
    layers: list[int]
    train_seconds: float
    created: str
    # Every recorded score, for sorting by any of them (`compare --sort`).
    metrics: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


# Scores that are fractions; a value outside [0, 1] (or NaN) is a damaged record, not a result.
_FRACTIONS = ("accuracy", "accuracy_std", "baseline_accuracy", "reported_best_accuracy", "roc_auc")


def _fraction(metrics: dict[str, Any], key: str) -> float | None:
    if metrics.get(key) is None and key not in ("accuracy", "baseline_accuracy"):
        return None
    number = float(metrics[key])  # KeyError / TypeError / ValueError / OverflowError: unreadable
    if not (math.isfinite(number) and 0.0 <= number <= 1.0):
        raise ValueError(f"metrics.json: {key} is {number:.6g}, outside its possible range [0, 1]")
    return number


def read_run(folder: Path) -> RunRow:
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    config = yaml.load((folder / "config.yaml").read_text(encoding="utf-8"), _YAML_LOADER)
    scores = {key: _fraction(metrics, key) for key in _FRACTIONS}
    return RunRow(
        run=folder.name,
        name=str(config["name"]),
        mode=str(metrics["mode"]),
        accuracy=float(metrics["accuracy"]),
        accuracy_std=scores["accuracy_std"],
        baseline=float(metrics["baseline_accuracy"]),
        reported_best=scores["reported_best_accuracy"],
        roc_auc=scores["roc_auc"],
        epochs=int(config["train"]["epochs"]),
        batch_size=int(config["train"]["batch_size"]),
        layers=[int(layer["units"]) for layer in config["model"]["layers"]],
        train_seconds=float(metrics["train_seconds"]),
        created=str(metrics.get("created", ""))[:19].replace("T", " "),
        metrics=metrics,
    )


def collect_runs(runs_dir: Path) -> tuple[list[RunRow], list[str]]:
    """All readable runs, best accuracy first, and a warning per unreadable folder."""
    if not runs_dir.is_dir():
        raise RunsError(f"{runs_dir}: no such runs folder; train something first or pass its path")
    rows, warnings = [], []
    for folder in sorted(p for p in runs_dir.iterdir() if p.is_dir()):
        if folder.name.startswith(".") or is_unfinished(folder) or is_sweep(folder):
            continue
        try:
            rows.append(read_run(folder))
        except FileNotFoundError as err:
            warnings.append(f"{folder}: skipped, {Path(str(err.filename)).name} is missing")
        except (OSError, ValueError, KeyError, TypeError, OverflowError, yaml.YAMLError) as err:
            warnings.append(
                f"{folder}: skipped, unreadable run record ({type(err).__name__}: {err})"
            )
    rows.sort(key=lambda r: (-r.accuracy, r.run))
    return rows, warnings


def is_sweep(folder: Path) -> bool:
    """A sweep folder holds runs rather than being one; compare it on its own."""
    return (folder / "sweep.json").is_file()


def sweep_folders(runs_dir: Path) -> list[Path]:
    return sorted(p for p in runs_dir.iterdir() if p.is_dir() and is_sweep(p))


def _points(value: float, reference: float | None) -> str:
    return "" if reference is None else f"{100 * (value - reference):+.1f}"


def table_rows(rows: list[RunRow]) -> list[dict[str, str]]:
    """The comparison as text cells, shared by the terminal table, CSV and Markdown."""
    return [
        {
            "run": r.run,
            "name": r.name,
            "mode": r.mode,
            "accuracy %": f"{100 * r.accuracy:.2f}"
            + (f" ± {100 * r.accuracy_std:.2f}" if r.accuracy_std is not None else ""),
            "vs baseline (pts)": _points(r.accuracy, r.baseline),
            "vs 77.7 % (pts)": _points(r.accuracy, r.reported_best),
            "AUC": "" if r.roc_auc is None else f"{r.roc_auc:.3f}",
            "epochs": str(r.epochs),
            "batch": str(r.batch_size),
            "layers": "-".join(map(str, r.layers)),
            "train s": f"{r.train_seconds:.1f}",
            "date": r.created,
        }
        for r in rows
    ]


def write_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of it."""
    scratch = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    scratch.write_text(text, encoding="utf-8")
    os.replace(scratch, path)


def to_csv(cells: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(cells[0]) if cells else ["run"])
    writer.writeheader()
    writer.writerows(cells)
    return buffer.getvalue()


def to_markdown(cells: list[dict[str, str]]) -> str:
    if not cells:
        return "_no runs_\n"
    header = list(cells[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row[h] for h in header) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def write_tables(
    runs_dir: Path, cells: list[dict[str, str]], unfinished: list[UnfinishedRun] | None = None
) -> list[Path]:
    """compare.csv holds results only; compare.md lists unfinished runs under them, apart."""
    paths = [runs_dir / "compare.csv", runs_dir / "compare.md"]
    markdown = to_markdown(cells)
    if unfinished:
        markdown += "\n## Not results: interrupted, failed or abandoned runs\n\n"
        markdown += to_markdown(unfinished_cells(unfinished))
    try:
        write_atomically(paths[0], to_csv(cells))
        write_atomically(paths[1], markdown)
    except OSError as err:
        raise RunsError(
            f"{runs_dir}: cannot write the comparison tables ({err.strerror})"
        ) from None
    return paths
