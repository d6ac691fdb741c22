"""Pictures of results: learning curves and folds per run, and the comparison of runs.

matplotlib's object-oriented API (`Figure`, no pyplot) renders headless with Agg and keeps no
global state, so plotting never needs a display and never touches TensorFlow. Everything is
read back from the run's files, so a plot shows exactly what was recorded.
"""

from __future__ import annotations

import csv
import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from densecli.compare import RunRow

TRAIN_COLOR = "#1f77b4"
EVAL_COLOR = "#d95f02"
BASELINE_COLOR = "#7f7f7f"
REPORTED_COLOR = "#1b9e77"
MEAN_COLOR = "#222222"
DPI = 110
# Behind value labels and notes, so a line passing under them does not cross the digits.
_LABEL_BOX = {"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8}


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def read_history(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            {k: (v if k == "job" else float(v)) for k, v in row.items()}
            for row in csv.DictReader(handle)
        ]


def _series(rows: list[dict[str, Any]], column: str) -> dict[str, np.ndarray]:
    """Per job, the column's values in epoch order."""
    jobs: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        if row.get(column) not in (None, ""):
            jobs.setdefault(row["job"], []).append((row["epoch"], row[column]))
    return {job: np.array([v for _, v in sorted(points)]) for job, points in jobs.items()}


def _accuracy_column(rows: list[dict[str, Any]]) -> str | None:
    names = rows[0].keys() if rows else ()
    return next((c for c in ("accuracy", "acc") if c in names), None)


def _reference_lines(ax: Axes, metrics: dict[str, Any], horizontal: bool = True) -> None:
    line = ax.axhline if horizontal else ax.axvline
    baseline = metrics.get("baseline_accuracy")
    if baseline is not None:
        line(100 * baseline, color=BASELINE_COLOR, linestyle="--", linewidth=1.2,
             label=f"majority-class baseline {100 * baseline:.1f} %")  # fmt: skip
    reported = metrics.get("reported_best_accuracy")
    if reported is not None:
        line(100 * reported, color=REPORTED_COLOR, linestyle=":", linewidth=1.6,
             label=f"best reported (10-fold) {100 * reported:.1f} %")  # fmt: skip


def _curves(
    ax: Axes,
    series: dict[str, np.ndarray],
    color: str,
    label: str,
    scale: float = 1.0,
    noun: str = "fold",
) -> None:
    """One line per job; with several jobs each is faint and their mean is bold."""
    if not series:
        return
    # With few epochs a line is a dot or a stub: markers keep every epoch visible.
    marker = "o" if max(v.size for v in series.values()) <= 15 else None
    if len(series) == 1:
        values = next(iter(series.values()))
        ax.plot(np.arange(1, values.size + 1), scale * values, color=color, lw=1.8,
                marker=marker, label=label)  # fmt: skip
        return
    for values in series.values():
        ax.plot(np.arange(1, values.size + 1), scale * values, color=color, lw=0.8, alpha=0.25)
    # Early stopping ends jobs at different epochs. The mean is drawn only while every job
    # is training: averaging the survivors would make the curve jump as jobs drop out.
    length = min(v.size for v in series.values())
    mean = np.mean([v[:length] for v in series.values()], axis=0)
    ragged = any(v.size > length for v in series.values())
    what = f"mean of {len(series)} {noun}s" + (" while all train" if ragged else "")
    ax.plot(np.arange(1, length + 1), scale * mean, color=color, lw=2.2, marker=marker,
            label=f"{label}, {what} (faint: each {noun})")  # fmt: skip


def learning_curves(rows: list[dict[str, Any]], metrics: dict[str, Any], path: Path) -> Path:
    """Loss and accuracy per epoch, training rows against evaluation rows."""
    from matplotlib.ticker import MaxNLocator

    accuracy = _accuracy_column(rows)
    fig = _figure(11.5 if accuracy else 6.5, 4.8)
    axes = fig.subplots(1, 2 if accuracy else 1, squeeze=False)[0]
    loss = axes[0]
    noun = "fold" if metrics.get("mode") == "cv" else "model"
    _curves(loss, _series(rows, "loss"), TRAIN_COLOR, "training rows", noun=noun)
    _curves(loss, _series(rows, "eval_loss"), EVAL_COLOR, "evaluation rows", noun=noun)
    _focus_on_later_epochs(loss, rows)
    loss.set_title("Loss per epoch (lower is better)")
    loss.set_xlabel("epoch")
    loss_name = metrics.get("loss_name")
    loss.set_ylabel("loss" + (f" ({loss_name})" if loss_name else ""))
    if accuracy:
        acc = axes[1]
        _curves(acc, _series(rows, accuracy), TRAIN_COLOR, "training rows", 100, noun)
        _curves(acc, _series(rows, f"eval_{accuracy}"), EVAL_COLOR, "evaluation rows", 100, noun)
        _reference_lines(acc, metrics)
        acc.set_title("Accuracy per epoch (higher is better)")
        acc.set_xlabel("epoch")
        acc.set_ylabel("accuracy (%)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = axes[-1].get_legend_handles_labels()
    if len(axes) == 2:
        handles, labels = _merged_legend(axes)
    # Below the panels, so it never covers a curve; one column when there is one narrow panel.
    fig.legend(handles, labels, loc="outside lower center", ncols=len(axes), frameon=False)
    fig.suptitle(_run_title(metrics, "learning curves"), fontweight="bold")
    fig.savefig(path)
    return path


def _focus_on_later_epochs(ax: Axes, rows: list[dict[str, Any]]) -> None:
    """Fit the loss axis to the epochs after the first tenth: the first epochs' losses are
    often ten times the rest and would flatten the part worth reading (the train/eval gap)."""
    epochs = int(max((row["epoch"] for row in rows), default=0))
    skip = max(1, epochs // 10)
    values = [
        (row["epoch"], row[key])
        for row in rows
        for key in ("loss", "eval_loss")
        if isinstance(row.get(key), float) and np.isfinite(row[key])
    ]
    late = [v for epoch, v in values if epoch > skip]
    if not late:
        return
    # The 99th percentile, so that one fold still falling at the cut does not undo the fit.
    low, high = min(late), float(np.percentile(late, 99))
    if max(v for _, v in values) <= 2 * high:
        return
    margin = 0.08 * (high - low or high or 1.0)
    ax.set_ylim(low - margin, high + margin)
    note = f"y axis fitted to epochs {skip + 1}–{epochs}; higher losses run off the top"
    ax.text(0.98, 0.97, note, transform=ax.transAxes, ha="right", va="top", fontsize=8,
            color="#555555", bbox=_LABEL_BOX)  # fmt: skip


def _merged_legend(axes: Sequence[Axes]) -> tuple[list[Any], list[str]]:
    seen: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    return list(seen.values()), list(seen)


def _run_title(metrics: dict[str, Any], what: str) -> str:
    name = metrics.get("name", "run")
    mode = "classic split" if metrics.get("mode") == "split" else f"{metrics.get('folds')}-fold CV"
    return f"{name} ({mode}, {metrics.get('epochs', '?')} epochs): {what}"


def folds_chart(metrics: dict[str, Any], path: Path) -> Path:
    """Accuracy of each CV fold against the mean and the two reference numbers."""
    accuracies = [100 * a for a in metrics["fold_accuracy"]]
    folds = np.arange(1, len(accuracies) + 1)
    fig = _figure(min(16.0, max(6.5, 0.55 * len(folds) + 3.5)), 4.8)
    ax = fig.subplots()
    ax.vlines(folds, 0, accuracies, color=TRAIN_COLOR, lw=1, alpha=0.4)
    ax.plot(folds, accuracies, "o", color=TRAIN_COLOR, markersize=8, label="fold accuracy")
    for x, y in zip(folds, accuracies, strict=True):
        ax.annotate(f"{y:.1f}", (x, y), textcoords="offset points", xytext=(0, 7),
                    ha="center", fontsize=8, bbox=_LABEL_BOX)  # fmt: skip
    mean, std = statistics.fmean(accuracies), 100 * metrics.get("accuracy_std", 0.0)
    ax.axhline(
        mean, color=MEAN_COLOR, lw=2, label=f"mean {mean:.1f} % (± {std:.1f} pts std over folds)"
    )
    _reference_lines(ax, metrics)
    values = [*accuracies, 100 * metrics["baseline_accuracy"]]
    if metrics.get("reported_best_accuracy") is not None:
        values.append(100 * metrics["reported_best_accuracy"])
    ax.set_ylim(max(0.0, min(values) - 8), min(100.0, max(values) + 6))
    labels = _fold_labels(metrics, len(folds))
    long = any(len(label) > 3 for label in labels)
    ax.set_xticks(folds, labels, rotation=90 if long else 0, fontsize=8 if long else None)
    ax.set_xlim(0.5, len(folds) + 0.5)
    ax.set_xlabel("fold" if not long else "model (repeat, fold, initialisation)")
    ax.set_ylabel("accuracy on the fold's test rows (%)")
    ax.grid(axis="y", alpha=0.3)
    fig.legend(loc="outside lower center", ncols=2, frameon=False)
    fig.suptitle(_run_title(metrics, "accuracy per fold"), fontweight="bold")
    fig.savefig(path)
    return path


def _fold_labels(metrics: dict[str, Any], count: int) -> list[str]:
    """Fold numbers; the job names when a run holds more than one model per fold."""
    jobs = metrics.get("job_metrics") or metrics.get("fold_metrics") or []
    names = [str(job.get("job", "")) for job in jobs]
    if len(names) != count or not all(names):
        return [str(k) for k in range(1, count + 1)]
    plain = [name.removeprefix("fold-") for name in names]
    return [str(int(p)) if p.isdigit() else name for p, name in zip(plain, names, strict=True)]


def write_run_plots(folder: Path) -> list[Path]:
    """learning_curves.png, and folds.png for CV, from the run's metrics.json and history.csv."""
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    config_loss = _loss_name(folder)
    if config_loss:
        metrics = {**metrics, "loss_name": config_loss}
    written = [learning_curves(read_history(folder / "history.csv"), metrics,
                               folder / "learning_curves.png")]  # fmt: skip
    if metrics.get("mode") == "cv":
        written.append(folds_chart(metrics, folder / "folds.png"))
    return written


def _loss_name(folder: Path) -> str | None:
    import yaml

    try:
        config = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
        return str(config["train"]["loss"])
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return None


def comparison_chart(rows: Sequence[RunRow], path: Path, title: str = "Runs, best first") -> Path:
    """Accuracy (± std over folds) per run, in the order given (best first), one per line."""
    fig = _figure(10, 1.6 + 0.42 * max(len(rows), 2))
    ax = fig.subplots()
    positions = np.arange(len(rows))[::-1]  # first row on top
    for mode, marker, color in (("split", "s", EVAL_COLOR), ("cv", "o", TRAIN_COLOR)):
        chosen = [(y, r) for y, r in zip(positions, rows, strict=True) if r.mode == mode]
        if not chosen:
            continue
        ax.errorbar(
            [100 * r.accuracy for _, r in chosen],
            [y for y, _ in chosen],
            xerr=[100 * (r.accuracy_std or 0.0) for _, r in chosen],
            fmt=marker,
            color=color,
            capsize=4,
            markersize=7,
            label="cross-validation (mean ± std over folds)" if mode == "cv" else "classic split",
        )
    for y, r in zip(positions, rows, strict=True):
        ax.annotate(f"{100 * r.accuracy:.1f} %", (100 * r.accuracy, y), textcoords="offset points",
                    xytext=(0, 8), ha="center", fontsize=8, bbox=_LABEL_BOX)  # fmt: skip
    references = _references(rows)
    _reference_lines(ax, references, horizontal=False)
    spread = [100 * (r.accuracy + s * (r.accuracy_std or 0.0)) for r in rows for s in (-1, 1)]
    spread += [100 * v for v in references.values() if v is not None]
    ax.set_xlim(max(0.0, min(spread) - 3), min(100.0, max(spread) + 3))  # lines off the frame
    ax.set_yticks(positions, [f"{r.run} ({r.epochs} epochs)" for r in rows], fontsize=8)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel("accuracy on held-out rows (%)")
    ax.grid(axis="x", alpha=0.3)
    fig.legend(loc="outside lower center", ncols=2, frameon=False)
    count = f"{len(rows)} run" + ("s" if len(rows) != 1 else "")
    fig.suptitle(f"{title} ({count})", fontweight="bold")
    fig.savefig(path)
    return path


def _references(rows: Sequence[RunRow]) -> dict[str, float | None]:
    """Reference lines only when every run shares them (runs on other data have others)."""
    baselines = {r.baseline for r in rows}
    reported = {r.reported_best for r in rows}
    return {
        "baseline_accuracy": baselines.pop() if len(baselines) == 1 else None,
        "reported_best_accuracy": reported.pop() if len(reported) == 1 else None,
    }


def write_comparison_plot(rows: Sequence[RunRow], path: Path, title: str) -> Path:
    """`compare --plot FILE`, with user errors for what the user can fix."""
    from densecli.errors import RunsError

    if not rows:
        raise RunsError(f"{path}: nothing to plot, no finished runs matched; train some first")
    if path.suffix.lower() not in {".png", ".svg", ".pdf"}:
        raise RunsError(f"{path}: unsupported picture type; name the file .png, .svg or .pdf")
    try:
        return comparison_chart(rows, path, title)
    except OSError as err:
        raise RunsError(f"{path}: cannot write the plot ({err.strerror})") from None
