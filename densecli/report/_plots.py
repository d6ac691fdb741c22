"""Pictures of results: learning curves and folds per run, and the comparison of runs.

matplotlib's object-oriented API (`Figure`, no pyplot) renders headless with Agg and keeps no
global state, so plotting never needs a display and never touches TensorFlow. Everything is
read back from the run's files, so a plot shows exactly what was recorded.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from densecli.runs import RunRow
from densecli.runs.files import (
    CONFIG,
    FOLDS_CHART,
    LEARNING_CURVES,
    METRICS,
    PREDICTED_CHART,
    read_history,
    read_json,
    read_predictions,
    read_yaml,
    written_atomically,
)
from densecli.tasks import TaskView, view_for

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

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


def _series(rows: list[dict[str, Any]], column: str) -> dict[str, np.ndarray]:
    """Per job, the column's values in epoch order."""
    jobs: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        if row.get(column) not in (None, ""):
            jobs.setdefault(row["job"], []).append((row["epoch"], row[column]))
    return {job: np.array([v for _, v in sorted(points)]) for job, points in jobs.items()}


def _metric_column(rows: list[dict[str, Any]], view: TaskView) -> str | None:
    names = rows[0].keys() if rows else ()
    return next((c for c in view.history_columns if c in names), None)


_LINE_STYLES = (
    {"color": BASELINE_COLOR, "linestyle": "--", "linewidth": 1.2},
    {"color": REPORTED_COLOR, "linestyle": ":", "linewidth": 1.6},
)


def _reference_lines(
    ax: Axes, view: TaskView, metrics: dict[str, Any], horizontal: bool = True
) -> list[float]:
    """The task's reference lines for this run (in %, when its score is); their values."""
    line = ax.axhline if horizontal else ax.axvline
    scale = _scale(view)
    drawn = []
    for (label, value), style in zip(view.reference_lines(metrics), _LINE_STYLES, strict=False):
        line(scale * value, label=label, **style)  # type: ignore[arg-type]
        drawn.append(scale * value)
    return drawn


def _scale(view: TaskView) -> float:
    return 100.0 if view.score.percent else 1.0


def _unit(view: TaskView) -> str:
    return " (%)" if view.score.percent else ""


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
    """Loss and the task's metric per epoch, training rows against evaluation rows."""
    from matplotlib.ticker import MaxNLocator

    view = view_for(metrics)
    column = _metric_column(rows, view)
    fig = _figure(11.5 if column else 6.5, 4.8)
    axes = fig.subplots(1, 2 if column else 1, squeeze=False)[0]
    loss = axes[0]
    noun = "fold" if metrics.get("mode") == "cv" else "model"
    _curves(loss, _series(rows, "loss"), TRAIN_COLOR, "training rows", noun=noun)
    _curves(loss, _series(rows, "eval_loss"), EVAL_COLOR, "evaluation rows", noun=noun)
    _focus_on_later_epochs(loss, rows)
    loss.set_title("Loss per epoch (lower is better)")
    loss.set_xlabel("epoch")
    loss_name = metrics.get("loss_name")
    loss.set_ylabel("loss" + (f" ({loss_name})" if loss_name else ""))
    if column:
        ax, scale, label = axes[1], _scale(view), view.score.label
        _curves(ax, _series(rows, column), TRAIN_COLOR, "training rows", scale, noun)
        _curves(ax, _series(rows, f"eval_{column}"), EVAL_COLOR, "evaluation rows", scale, noun)
        _reference_lines(ax, view, metrics)
        better = "higher" if view.score.higher_is_better else "lower"
        ax.set_title(f"{label[0].upper()}{label[1:]} per epoch ({better} is better)")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{label}{_unit(view)}")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = axes[-1].get_legend_handles_labels()
    if len(axes) == 2:
        handles, labels = _merged_legend(axes)
    # Below the panels, so it never covers a curve; one column when there is one narrow panel.
    fig.legend(handles, labels, loc="outside lower center", ncols=len(axes), frameon=False)
    fig.suptitle(_run_title(metrics, "learning curves"), fontweight="bold")
    _save(fig, path)
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
    """The score of each CV fold against the mean and the task's reference lines."""
    view = view_for(metrics)
    key, label, scale = view.score.key, view.score.label, _scale(view)
    scores = [scale * a for a in metrics[f"fold_{key}"]]
    folds = np.arange(1, len(scores) + 1)
    fig = _figure(min(16.0, max(6.5, 0.55 * len(folds) + 3.5)), 4.8)
    ax = fig.subplots()
    ax.vlines(folds, 0, scores, color=TRAIN_COLOR, lw=1, alpha=0.4)
    ax.plot(folds, scores, "o", color=TRAIN_COLOR, markersize=8, label=f"fold {label}")
    for x, y in zip(folds, scores, strict=True):
        ax.annotate(f"{y:.1f}", (x, y), textcoords="offset points", xytext=(0, 7),
                    ha="center", fontsize=8, bbox=_LABEL_BOX)  # fmt: skip
    mean, std = statistics.fmean(scores), scale * metrics.get(f"{key}_std", 0.0)
    unit = " %" if view.score.percent else ""
    ax.axhline(
        mean, color=MEAN_COLOR, lw=2, label=f"mean {mean:.1f}{unit} (± {std:.1f} std over folds)"
    )
    values = [*scores, *_reference_lines(ax, view, metrics)]
    top = 100.0 if view.score.percent else max(values) + 6
    ax.set_ylim(max(0.0, min(values) - 8), min(top, max(values) + 6))
    labels = _fold_labels(metrics, len(folds))
    long = any(len(label) > 3 for label in labels)
    ax.set_xticks(folds, labels, rotation=90 if long else 0, fontsize=8 if long else None)
    ax.set_xlim(0.5, len(folds) + 0.5)
    ax.set_xlabel("fold" if not long else "model (repeat, fold, initialisation)")
    ax.set_ylabel(f"{label} on the fold's test rows{_unit(view)}")
    ax.grid(axis="y", alpha=0.3)
    fig.legend(loc="outside lower center", ncols=2, frameon=False)
    fig.suptitle(_run_title(metrics, f"{label} per fold"), fontweight="bold")
    _save(fig, path)
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
    """learning_curves.png, and folds.png for CV, from the run's metrics and history."""
    metrics = read_json(folder / METRICS)
    config_loss = _loss_name(folder)
    if config_loss:
        metrics = {**metrics, "loss_name": config_loss}
    written = [learning_curves(read_history(folder), metrics, folder / LEARNING_CURVES)]
    if metrics.get("mode") == "cv":
        written.append(folds_chart(metrics, folder / FOLDS_CHART))
    if view_for(metrics).prediction_plot:
        written.append(predicted_chart(folder, metrics, folder / PREDICTED_CHART))
    return written


def predicted_chart(folder: Path, metrics: dict[str, Any], path: Path) -> Path:
    """Each evaluation row's prediction against its true value, and the line of perfection."""
    rows = read_predictions(folder)
    truth = np.array([float(r["target"]) for r in rows])
    predicted = np.array([float(r["predicted"]) for r in rows])
    fig = _figure(6.5, 6.0)
    ax = fig.subplots()
    ax.scatter(truth, predicted, s=14, alpha=0.6, color=TRAIN_COLOR, label="evaluation rows")
    low, high = float(min(truth.min(), predicted.min())), float(max(truth.max(), predicted.max()))
    ax.plot([low, high], [low, high], color=MEAN_COLOR, lw=1.2, label="predicted = actual")
    ax.set_xlabel("actual value")
    ax.set_ylabel("predicted value")
    ax.grid(alpha=0.3)
    ax.set_aspect("equal", adjustable="datalim")
    fig.legend(loc="outside lower center", ncols=2, frameon=False)
    fig.suptitle(_run_title(metrics, "predicted against actual"), fontweight="bold")
    _save(fig, path)
    return path


def _save(fig: Figure, path: Path) -> None:
    with written_atomically(path) as scratch:
        fig.savefig(scratch, format=path.suffix.lstrip(".") or None)


def _loss_name(folder: Path) -> str | None:
    try:
        return str(read_yaml(folder / CONFIG)["train"]["loss"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def comparison_chart(rows: Sequence[RunRow], path: Path, title: str = "Runs, best first") -> Path:
    """`comparison_figure`, saved to `path`."""
    _save(comparison_figure(rows, title), path)
    return path


def comparison_figure(rows: Sequence[RunRow], title: str = "Runs, best first") -> Figure:
    """The ranking score (± std over folds) per run, in the order given (best first): one
    panel per task, each in its own units and with its own references (accuracy and RMSE
    share no axis)."""
    tasks: dict[str, list[RunRow]] = {}
    for row in rows:
        tasks.setdefault(row.view.name, []).append(row)
    heights = [max(len(group), 2) for group in tasks.values()]
    fig = _figure(10, 1.2 + 0.42 * sum(heights) + 0.9 * (len(tasks) - 1))
    panels = fig.subplots(len(tasks), 1, squeeze=False, height_ratios=heights)[:, 0]
    for ax, (name, group) in zip(panels, tasks.items(), strict=True):
        _comparison_panel(ax, group, name if len(tasks) > 1 else "")
    handles: dict[str, Any] = {}
    for ax in panels:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)  # each kind of marker and line once
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=2,
               frameon=False)  # fmt: skip
    count = f"{len(rows)} run" + ("s" if len(rows) != 1 else "")
    fig.suptitle(f"{title} ({count})", fontweight="bold")
    return fig


def _comparison_panel(ax: Axes, rows: list[RunRow], task: str) -> None:
    """One task's runs: score ± std, value labels, its reference lines."""
    view = rows[0].view
    scale = _scale(view)
    positions = np.arange(len(rows))[::-1]  # first row on top
    for mode, marker, color in (("split", "s", EVAL_COLOR), ("cv", "o", TRAIN_COLOR)):
        chosen = [(y, r) for y, r in zip(positions, rows, strict=True) if r.mode == mode]
        if not chosen:
            continue
        ax.errorbar(
            [scale * r.score for _, r in chosen],
            [y for y, _ in chosen],
            xerr=[scale * (r.score_std or 0.0) for _, r in chosen],
            fmt=marker,
            color=color,
            capsize=4,
            markersize=7,
            label="cross-validation (mean ± std over folds)" if mode == "cv" else "classic split",
        )
    for y, r in zip(positions, rows, strict=True):
        ax.annotate(f"{scale * r.score:.1f}{' %' if view.score.percent else ''}",
                    (scale * r.score, y), textcoords="offset points",
                    xytext=(0, 8), ha="center", fontsize=8, bbox=_LABEL_BOX)  # fmt: skip
    shared = view.shared_references([r.metrics for r in rows])
    spread = [scale * (r.score + s * (r.score_std or 0.0)) for r in rows for s in (-1, 1)]
    spread += _reference_lines(ax, view, dict(shared), horizontal=False)
    margin = 3 if view.score.percent else 0.05 * (max(spread) - min(spread) or 1.0)
    top = 100.0 if view.score.percent else max(spread) + margin
    ax.set_xlim(max(0.0, min(spread) - margin), min(top, max(spread) + margin))
    ax.set_yticks(positions, [f"{r.run} ({r.epochs} epochs)" for r in rows], fontsize=8)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel(f"{view.score.label} on held-out rows{_unit(view)}")
    if task:
        ax.set_title(f"{task} runs", fontsize=10, loc="left")
    ax.grid(axis="x", alpha=0.3)


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
