"""Confirmation: the best trial of a tune, run again with `cv --repeats R` on CV seeds the
search never used. The search score is the best of many trials on the same folds, biased
upwards; the confirmation is the one to quote."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from densecli.experiment import Output, Plan, prepare, run_cv
from densecli.runs.files import (
    BEST_SPEC,
    CONFIRM_FOLDER,
    CONFIRMATION_JSON,
    read_json,
    read_run,
    write_json,
    write_yaml,
)
from densecli.search._folder import SearchFolder
from densecli.search._space import Space
from densecli.spec import Spec
from densecli.tables import titled_table
from densecli.tasks import TaskView, view_for

QUOTE = (
    "Quote the confirmation score: the search score is the best of many trials on the same "
    "folds and is biased upwards."
)


def best_trial(study: Any) -> Any | None:
    try:
        return study.best_trial
    except ValueError:  # no complete trial
        return None


def confirm_best(
    study: Any,
    space: Space,
    folder: SearchFolder,
    plan: Plan,
    data: Path,
    seed: int,
    repeats: int,
    notice: Callable[[str], None],
) -> dict[str, Any] | None:
    """best.yaml, then `cv --repeats R` of it on CV seeds after the ones the search used
    (`seed`: the search's, whose folds used seed + r, r < plan.repeats)."""
    best = best_trial(study)
    if best is None:
        notice("no trial completed: nothing to confirm")
        return None
    point = space.point(best.number, best.params)
    spec = write_best(space, folder, best)
    recorded = read_confirmation(folder.path)
    if recorded and recorded.get("trial") == best.number and recorded.get("repeats") == repeats:
        return recorded
    search_run = folder.runs().get(point.spec.name)
    if search_run is None:  # trained into another folder (a shared --storage)
        notice(f"trial {best.number}'s run is not in {folder.path}: not confirmed here")
        return None
    search = read_run(search_run).metrics
    unseen = seed + plan.repeats
    moved = spec.model_copy(update={"seed": unseen})
    notice(
        f"confirming trial {best.number} (best of {len(study.trials)}) with {repeats} CV "
        f"repeats on unseen seeds {unseen}–{unseen + repeats - 1}"
    )
    confirm_dir = folder.path / CONFIRM_FOLDER
    again = Plan(plan.engine, repeats, plan.seeds)
    outcome = run_cv(prepare(moved, data), again, Output(confirm_dir, notice=notice))
    view = view_for(search)
    confirmation = {
        "trial": best.number,
        "repeats": repeats,
        "trials": len(study.trials),
        "seeds": [unseen, unseen + repeats - 1],
        "search": _summary(view, search),
        "confirmation": _summary(view, outcome.metrics),
        "run": outcome.run_dir.name,
    }
    write_json(confirm_dir / CONFIRMATION_JSON, confirmation)
    return confirmation


def write_best(space: Space, folder: SearchFolder, best: Any) -> Spec:
    """best.yaml: the best trial's spec, complete (`densecli cv best.yaml` repeats it)."""
    point = space.point(best.number, best.params)
    spec = point.spec.model_copy(update={"name": f"{space.name[:72]}-best"})
    write_yaml(folder.path / BEST_SPEC, spec.resolved())
    return spec


def _summary(view: TaskView, metrics: dict[str, Any]) -> dict[str, Any]:
    key = view.score.key
    label, reference = view.fold_reference(metrics) or ("", None)
    return {
        "score": float(metrics[key]),
        "std": float(metrics.get(f"{key}_std") or 0.0),
        "folds": int(metrics.get("models", 0)),
        "reference": reference,
        "reference_label": label,
        "label": view.score.label,
        "percent": view.score.percent,
    }


def read_confirmation(folder: Path) -> dict[str, Any] | None:
    path = folder / CONFIRM_FOLDER / CONFIRMATION_JSON
    if not path.is_file():
        return None
    with contextlib.suppress(OSError, ValueError):
        return dict(read_json(path))
    return None


def _headers(record: dict[str, Any]) -> list[str]:
    search = record["search"]
    unit = " %" if search["percent"] else ""
    # Records made before the label was recorded were classification tunes.
    reference = search.get("reference_label", "logistic regression") or "reference"
    return [f"mean {search['label']}{unit}", "± std", "models", f"{reference}, same folds"]


def _rows(record: dict[str, Any]) -> list[tuple[str, list[str]]]:
    def fmt(value: float | None) -> str:
        if value is None:
            return ""
        return f"{100 * value:.2f}" if record["search"]["percent"] else f"{value:.4g}"

    seeds = record["seeds"]
    rows = []
    for label, part in (
        (f"search (best of {record['trials']} trials, same folds)", record["search"]),
        (f"confirmation (seeds {seeds[0]}–{seeds[1]}, unseen)", record["confirmation"]),
    ):
        cells = [fmt(part["score"]), fmt(part["std"]), str(part["folds"]), fmt(part["reference"])]
        rows.append((label, cells))
    return rows


def confirmation_markdown(record: dict[str, Any]) -> list[str]:
    lines = [
        f"Best trial {record['trial']}: search vs confirmation",
        "",
        "| | " + " | ".join(_headers(record)) + " |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in _rows(record)]
    return [*lines, "", QUOTE]


def render_confirmation(console: Console, record: dict[str, Any]) -> None:
    best = titled_table(f"Best trial {record['trial']}: search vs confirmation")
    best.add_column("")
    for column in _headers(record):
        best.add_column(column, justify="right")
    for name, cells in _rows(record):
        best.add_row(name, *cells)
    console.print(best)
    console.print(QUOTE, highlight=False)
