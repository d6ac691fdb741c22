"""A tune's results: its trials as ranked rows (results.csv/md and the shared ranked table),
Optuna's parameter importances and two pictures of the study (`_tune_plots`)."""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Any

from rich.console import Console

from densecli.report import nested_markdown, read_nested
from densecli.runs.files import (
    BEST_SPEC,
    IMPORTANCES_CSV,
    METRICS,
    RESULTS_MD,
    read_importances,
    read_run,
    write_csv,
)
from densecli.search._confirm import (
    confirmation_markdown,
    read_confirmation,
    render_confirmation,
)
from densecli.search._file import format_value
from densecli.search._folder import SearchFolder
from densecli.search._results import (
    Ranked,
    best_first,
    render_ranked,
    score_text,
    search_view,
    write_results,
)
from densecli.search._space import Space
from densecli.search._tune_plots import write_tune_plots
from densecli.tables import print_line

PRUNED_AT = "pruned at epoch"
_ORDER = {"COMPLETE": 0, "PRUNED": 1, "FAIL": 2}  # then running, waiting…


def trial_rows(space: Space, folder: SearchFolder, study: Any) -> list[Ranked]:
    """Each trial with its run's metrics, best first; pruned, failed, unfinished after."""
    runs = folder.runs()
    retried = {
        int(t.user_attrs["retry_of"]): t.number for t in study.trials if "retry_of" in t.user_attrs
    }
    rows, order = [], {}
    for trial in study.trials:
        if trial.state.name == "WAITING":  # enqueued for a retry: shown once it runs
            continue
        run = runs.get(str(trial.user_attrs.get("run", "")))
        metrics = None
        if run is not None and (run / METRICS).is_file() and trial.state.name == "COMPLETE":
            metrics = read_run(run).metrics
        label = str(trial.number)
        extra = {PRUNED_AT: str(trial.user_attrs.get("pruned_at_epoch", ""))}
        shown = _values(space, trial.params)
        rows.append(Ranked(label, _state(trial, retried), shown, metrics, run, extra))
        order[label] = (_ORDER.get(trial.state.name, 3), trial.number)
    sign = best_first(rows)
    return sorted(rows, key=lambda r: (order[r.label][0], sign * (r.score or 0), order[r.label][1]))


def _values(space: Space, params: dict[str, Any]) -> dict[str, str]:
    """Each key's value for the tables; a non-scalar choice (a layer stack) by its index and
    widths, as listed in the file (later keys may change them)."""
    if len(params) != len(space.grid):
        return dict.fromkeys(space.grid, "")
    values = space.values(params)
    shown = {}
    for key, value in values.items():
        if not space.categorical_labels(key):
            shown[key] = format_value(value)
        elif isinstance(value, list) and all(isinstance(v, dict) and "units" in v for v in value):
            shown[key] = f"#{params[key]} (" + "-".join(str(v["units"]) for v in value) + ")"
        else:
            shown[key] = f"#{params[key]}"
    return shown


def _state(trial: Any, retried: dict[int, int]) -> str:
    if trial.number in retried:
        return f"stopped (retried as {retried[trial.number]})"
    state = str(trial.state.name).lower()
    return {"complete": "done"}.get(state, state)


def _records(rows: list[Ranked]) -> list[dict[str, str]]:
    """results.csv: one row per trial, in rank order."""
    view = search_view(rows)
    unit = " %" if view.score.percent else ""
    key = view.score.key
    records = []
    rank = 0
    for row in rows:
        m = row.metrics or {}
        rank += bool(m)
        records.append(
            {
                "rank": str(rank) if m else "",
                "trial": row.label,
                "state": row.status,
                **row.values,
                f"{view.score.label}{unit}": score_text(view, m.get(key)),
                f"± std{unit}": score_text(view, m.get(f"{key}_std")),
                **row.extra,
                "train s": "" if "train_seconds" not in m else f"{m['train_seconds']:.1f}",
                "run": "" if row.run is None else row.run.name,
            }
        )
    return records


def write_tune_results(
    space: Space,
    folder: SearchFolder,
    study: Any,
    seed: int,
    confirmation: dict[str, Any] | None = None,
    pictures: bool = True,
) -> list[Ranked]:
    """results.csv, results.md, importances.csv and the two plots; without `pictures`, the
    importances as last computed and no plots (a tune between its redraws)."""
    rows = trial_rows(space, folder, study)
    if not rows:
        return rows
    importances = parameter_importances(study, seed) if pictures else read_importances(folder.path)
    if importances and pictures:
        write_csv(
            folder.path / IMPORTANCES_CSV,
            [{"key": k, "importance": f"{v:.4f}"} for k, v in importances.items()],
            ["key", "importance"],
            lineterminator="\n",
        )
    more = ["", "Parameter importances (Optuna, fANOVA):", ""]
    if importances:
        more += ["| key | importance |", "|---|---|"]
        more += [f"| {k} | {v:.3f} |" for k, v in importances.items()]
    else:
        more.append("(needs at least two complete trials)")
    confirmation = confirmation or read_confirmation(folder.path)
    if confirmation:
        more += ["", *confirmation_markdown(confirmation)]
    nested = read_nested(folder.path)
    if nested:
        more += ["", *nested_markdown(nested)]
    write_results(folder.path, _records(rows), rows, more)
    if pictures:
        with contextlib.suppress(Exception):  # a plot must never lose the results
            write_tune_plots(space, folder.path, study, rows, confirmation)
    return rows


def parameter_importances(study: Any, seed: int) -> dict[str, float]:
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=seed))
    except (RuntimeError, ValueError):  # e.g. every complete trial has the same params
        return {}
    return {k: float(v) for k, v in found.items()}


def render_tune(
    console: Console, name: str, folder: Path, rows: list[Ranked], wide: bool = False, top: int = 15
) -> None:
    """The ranked trials (the first `top`) with the references, and search vs confirmation."""
    states: dict[str, int] = {}
    for row in rows:
        states[row.status] = states.get(row.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in states.items())
    title = f"Tune {name}: {len(rows)} trials ({summary}), best first"
    render_ranked(console, title, rows, "trial", wide, top)
    record = read_confirmation(folder)
    if record:
        render_confirmation(console, record)
    print_line(
        console,
        f"Tune folder: {folder} ({RESULTS_MD}, {BEST_SPEC}; "
        f"`densecli compare {folder}` for the runs)",
    )
