"""A tune's two pictures, drawn to be read at their size.

`history.png`: every complete trial's score in the run's units (accuracy in %, or RMSE), the
running best, the linear reference (logistic regression or ridge) on the same folds, and,
once confirmed, the best trial's confirmation on unseen CV seeds beside the search's best:
the gap between the two is what choosing the best of many trials added.

`parallel.png` (the name kept for the folder's readers): one small panel per parameter, each
trial's score against its value (a log axis for a log range, the choices' labels for a list).
No TensorFlow; matplotlib's object API with Agg, as every densecli picture.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from densecli.runs.files import TUNE_HISTORY_PLOT, TUNE_PARALLEL_PLOT, written_atomically
from densecli.search._results import Ranked, search_view, short_key
from densecli.search._space import Space
from densecli.tasks import TaskView

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 110
TRIAL_COLOR = "#1f77b4"
BEST_COLOR = "#d95f02"
REFERENCE_COLOR = "#7f7f7f"
CONFIRM_COLOR = "#1b9e77"
PANEL_COLUMNS = 3


def write_tune_plots(
    space: Space, folder: Path, study: Any, rows: list[Ranked], confirmation: dict[str, Any] | None
) -> None:
    """history.png and parallel.png, from two complete trials on."""
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return
    view = search_view(rows)
    _save(history_figure(complete, view, rows, confirmation), folder / TUNE_HISTORY_PLOT)
    _save(parameters_figure(complete, view, space), folder / TUNE_PARALLEL_PLOT)


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _save(figure: Figure, path: Path) -> None:
    with written_atomically(path) as scratch:
        figure.savefig(scratch, format="png")


def _scale(view: TaskView) -> float:
    return 100.0 if view.score.percent else 1.0


def _axis_label(view: TaskView) -> str:
    return f"mean CV {view.score.label}" + (" (%)" if view.score.percent else "")


def history_figure(
    complete: list[Any], view: TaskView, rows: list[Ranked], confirmation: dict[str, Any] | None
) -> Figure:
    """Trials in the order they were asked, the running best, the references."""
    scale, higher = _scale(view), view.score.higher_is_better
    numbers = [t.number for t in complete]
    scores = [scale * float(t.value) for t in complete]
    best, running = [], None
    for score in scores:
        running = score if running is None or (score > running) == higher else running
        best.append(running)
    figure = _figure(9, 4.8)
    ax = figure.subplots()
    ax.plot(numbers, scores, "o", color=TRIAL_COLOR, alpha=0.6, label="trial (complete)")
    ax.step(numbers, best, where="post", color=BEST_COLOR, linewidth=2, label="best so far")
    right = max(numbers) + 1
    _reference_line(ax, view, rows, scale)
    if confirmation:
        _confirmation_marks(ax, confirmation, scale, right)
        right += 2
    ax.set_xlim(min(numbers) - 1, right)
    ax.set_xlabel("trial")
    ax.set_ylabel(_axis_label(view))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8, framealpha=0.9)
    pruned = sum(r.status == "pruned" for r in rows)
    note = f"; {pruned} pruned trials have no score" if pruned else ""
    ax.set_title(f"{len(complete)} complete trials{note}", fontsize=9, loc="left")
    figure.suptitle("Tune: each trial's score and the best so far", fontweight="bold")
    return figure


def _reference_line(ax: Axes, view: TaskView, rows: list[Ranked], scale: float) -> None:
    """The linear model on the trials' folds (every trial of a tune shares them)."""
    for row in rows:
        found = view.fold_reference(row.metrics or {})
        if found is not None:
            label, value = found
            ax.axhline(scale * value, color=REFERENCE_COLOR, linestyle="--", linewidth=1.2,
                       label=f"{label}, same folds ({_shown(view, value)})")  # fmt: skip
            return


def _confirmation_marks(ax: Axes, record: dict[str, Any], scale: float, at: float) -> None:
    """The search's best and its confirmation (± std) side by side, right of the trials."""
    search, confirmed = record["search"], record["confirmation"]
    best = f"best trial {record['trial']}, search folds"
    ax.errorbar([at], [scale * search["score"]], yerr=[scale * search["std"]], fmt="D",
                color=BEST_COLOR, capsize=4, label=best)  # fmt: skip
    low, high = record["seeds"]
    seeds = f"seed {low}" if low == high else f"seeds {low}–{high}"
    ax.errorbar([at + 1], [scale * confirmed["score"]], yerr=[scale * confirmed["std"]],
                fmt="s", color=CONFIRM_COLOR, capsize=4,
                label=f"its confirmation, unseen {seeds}")  # fmt: skip
    reference = confirmed.get("reference")
    if reference is not None:
        ax.plot([at + 0.7, at + 1.3], [scale * reference] * 2, color=REFERENCE_COLOR,
                linestyle=":", linewidth=1.5)  # fmt: skip
    gap = scale * (search["score"] - confirmed["score"])
    unit = " pts" if search.get("percent") else ""
    ax.annotate(f"selection\n{gap:+.2f}{unit}", (at + 0.5, scale * search["score"]),
                textcoords="offset points", xytext=(0, 10), ha="center", fontsize=8)  # fmt: skip


def _shown(view: TaskView, value: float) -> str:
    return f"{100 * value:.2f} %" if view.score.percent else f"{value:.4g}"


def parameters_figure(complete: list[Any], view: TaskView, space: Space) -> Figure:
    """One small panel per parameter: each complete trial's score against its value."""
    distributions = space.distributions()
    keys = list(distributions)
    columns = min(PANEL_COLUMNS, len(keys))
    lines = -(-len(keys) // columns)
    figure = _figure(3.4 * columns, 2.9 * lines + 0.6)
    panels = figure.subplots(lines, columns, squeeze=False).flat
    scale = _scale(view)
    scores = [scale * float(t.value) for t in complete]
    best = (max if view.score.higher_is_better else min)(range(len(scores)), key=scores.__getitem__)
    for key, ax in zip(keys, panels, strict=False):  # keys first: no panel taken past them
        _parameter_panel(ax, key, distributions[key], space, complete, scores, best)
        ax.set_ylabel(_axis_label(view), fontsize=8)
    for ax in list(panels):  # the grid's empty places
        ax.set_visible(False)
    figure.suptitle("Tune: score against each parameter (the best trial in orange)",
                    fontweight="bold")  # fmt: skip
    return figure


def _parameter_panel(
    ax: Axes,
    key: str,
    distribution: Any,
    space: Space,
    complete: list[Any],
    scores: list[float],
    best: int,
) -> None:
    having = [i for i, t in enumerate(complete) if key in t.params]
    values = [complete[i].params[key] for i in having]
    scores = [scores[i] for i in having]
    choices = getattr(distribution, "choices", None)
    if choices is not None:
        labels = [_choice_label(space, key, c) for c in choices]
        position = {c: i for i, c in enumerate(choices)}
        xs = [float(position[v]) for v in values]
        ax.set_xticks(
            range(len(choices)), labels, fontsize=7, rotation=30 if len(choices) > 4 else 0
        )
        ax.set_xlim(-0.5, len(choices) - 0.5)
    else:
        xs = [float(v) for v in values]
        if getattr(distribution, "log", False):
            ax.set_xscale("log")
        ax.tick_params(axis="x", labelsize=7)
    ax.scatter(xs, scores, s=18, color=TRIAL_COLOR, alpha=0.6)
    if best in having:
        at = having.index(best)
        ax.scatter([xs[at]], [scores[at]], s=40, color=BEST_COLOR, zorder=3)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(short_key(key), fontsize=9)
    ax.grid(alpha=0.3)


def _choice_label(space: Space, key: str, choice: Any) -> str:
    """A choice as the file lists it: a layer stack by its widths."""
    if not space.categorical_labels(key):
        return str(choice)
    value = space.grid[key][int(choice)]  # type: ignore[index]
    if isinstance(value, list) and all(isinstance(v, dict) and "units" in v for v in value):
        return "-".join(str(v["units"]) for v in value)
    return f"#{choice}"
