"""A tune's results: results.csv/md, the ranked table with references, Optuna's parameter
importances, two plots, and the best trial's confirmation on CV seeds the search never used."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from densecli.runs.files import (
    BEST_SPEC,
    CONFIRM_FOLDER,
    IMPORTANCES_CSV,
    METRICS,
    RESULTS_CSV,
    RESULTS_MD,
    TUNE_HISTORY_PLOT,
    TUNE_PARALLEL_PLOT,
    read_run,
    write_csv,
    write_json,
    write_text,
    write_yaml,
)
from densecli.sweep._definition import format_value
from densecli.sweep._results import short_key
from densecli.sweep._tune_folder import TuneSetup, trial_folders
from densecli.tables import titled_table
from densecli.tasks import TaskView, all_views, view_for

CONFIRMATION_JSON = "confirmation.json"  # inside confirm/: the search-vs-confirmation record


def _trial_rows(setup: TuneSetup, study: Any) -> tuple[list[dict[str, Any]], TaskView]:
    """Each trial with its run's metrics, best first; pruned, failed, unfinished after."""
    folders = trial_folders(setup.folder)
    rows = []
    for trial in study.trials:
        if trial.state.name == "WAITING":  # enqueued for a retry: shown once it runs
            continue
        run = folders.get(str(trial.user_attrs.get("run", "")))
        metrics = None
        if run is not None and (run / METRICS).is_file() and trial.state.name == "COMPLETE":
            metrics = read_run(run).metrics
        rows.append({"trial": trial, "run": run, "metrics": metrics})
    view = next((view_for(r["metrics"]) for r in rows if r["metrics"]), all_views()[0])
    sign = -1 if view.score.higher_is_better else 1
    order = {"COMPLETE": 0, "PRUNED": 1, "FAIL": 2}

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        trial = row["trial"]
        score = row["metrics"][view.score.key] if row["metrics"] else 0.0
        return (order.get(trial.state.name, 3), sign * score, trial.number)

    return sorted(rows, key=key), view


def _score_text(view: TaskView, value: float | None) -> str:
    if value is None:
        return ""
    return f"{100 * value:.2f}" if view.score.percent else f"{value:.4g}"


def _records(setup: TuneSetup, rows: list[dict[str, Any]], view: TaskView) -> list[dict[str, str]]:
    unit = " %" if view.score.percent else ""
    key = view.score.key
    records = []
    rank = 0
    retried = {
        int(t.user_attrs["retry_of"]): t.number
        for t in (row["trial"] for row in rows)
        if "retry_of" in t.user_attrs
    }
    for row in rows:
        trial, m = row["trial"], row["metrics"] or {}
        rank += bool(m)
        values = (
            setup.space.values(trial.params) if len(trial.params) == len(setup.space.grid) else {}
        )
        records.append(
            {
                "rank": str(rank) if m else "",
                "trial": str(trial.number),
                "state": _state(trial, retried),
                **{k: _shown(setup, k, trial.params, values) for k in setup.space.grid},
                f"{view.score.label}{unit}": _score_text(view, m.get(key)),
                f"± std{unit}": _score_text(view, m.get(f"{key}_std")),
                "pruned at epoch": str(trial.user_attrs.get("pruned_at_epoch", "")),
                "train s": "" if "train_seconds" not in m else f"{m['train_seconds']:.1f}",
                "run": "" if row["run"] is None else row["run"].name,
            }
        )
    return records


def _shown(setup: TuneSetup, key: str, params: dict[str, Any], values: dict[str, Any]) -> str:
    """A value for the tables; a non-scalar choice (a layer stack) by its index and widths,
    as listed in the file (later keys may change them)."""
    if key not in values:
        return ""
    value = values[key]
    if setup.space.categorical_labels(key):
        if isinstance(value, list) and all(isinstance(v, dict) and "units" in v for v in value):
            return f"#{params[key]} (" + "-".join(str(v["units"]) for v in value) + ")"
        return f"#{params[key]}"
    return format_value(value)


def _state(trial: Any, retried: dict[int, int]) -> str:
    state = str(trial.state.name).lower()
    if trial.number in retried:
        return f"stopped (retried as {retried[trial.number]})"
    return {"complete": "done"}.get(state, state)


def write_tune_results(
    setup: TuneSetup, study: Any, confirmation: dict[str, Any] | None = None
) -> list[dict[str, str]]:
    """results.csv, results.md, importances.csv and the two plots; after every batch."""
    rows, view = _trial_rows(setup, study)
    records = _records(setup, rows, view)
    if not records:
        return records
    folder = setup.folder
    write_csv(folder / RESULTS_CSV, records, list(records[0]), lineterminator="\n")
    importances = parameter_importances(study, setup.seed)
    if importances:
        write_csv(
            folder / IMPORTANCES_CSV,
            [{"key": k, "importance": f"{v:.4f}"} for k, v in importances.items()],
            ["key", "importance"],
            lineterminator="\n",
        )
    confirmation = confirmation or read_confirmation(folder)
    write_text(folder / RESULTS_MD, _markdown(records, rows, view, importances, confirmation))
    with contextlib.suppress(Exception):  # a plot must never lose the results
        write_plots(study, folder)
    return records


def references(rows: list[dict[str, Any]], view: TaskView) -> list[tuple[str, float]]:
    measured = [r["metrics"] for r in rows if r["metrics"]]
    return view.sweep_references(measured) if measured else []


def _markdown(
    records: list[dict[str, str]],
    rows: list[dict[str, Any]],
    view: TaskView,
    importances: dict[str, float],
    confirmation: dict[str, Any] | None,
) -> str:
    lines = ["| " + " | ".join(records[0]) + " |", "|" + "---|" * len(records[0])]
    lines += ["| " + " | ".join(r.values()) + " |" for r in records]
    unit = " %" if view.score.percent else ""
    lines += ["", "References:"]
    lines += [
        f"- {label}: {_score_text(view, value)}{unit}" for label, value in references(rows, view)
    ]
    lines += ["", "Parameter importances (Optuna, fANOVA):", ""]
    if importances:
        lines += ["| key | importance |", "|---|---|"]
        lines += [f"| {k} | {v:.3f} |" for k, v in importances.items()]
    else:
        lines.append("(needs at least two complete trials)")
    if confirmation:
        lines += ["", *confirmation_markdown(confirmation)]
    return "\n".join(lines) + "\n"


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


def write_plots(study: Any, folder: Path) -> None:
    """Optimization history and parallel coordinates (slice for a single key)."""
    from optuna.trial import TrialState

    if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < 2:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as plots

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        drawn = [
            (TUNE_HISTORY_PLOT, plots.plot_optimization_history(study)),
            (
                TUNE_PARALLEL_PLOT,
                plots.plot_parallel_coordinate(study)
                if len(study.best_trial.params) > 1
                else plots.plot_slice(study),
            ),
        ]
    for name, axes in drawn:
        first = axes.flat[0] if hasattr(axes, "flat") else axes
        figure: Any = first.get_figure(root=True)
        figure.savefig(folder / name, dpi=90, bbox_inches="tight")
        plt.close(figure)


# --- confirmation on unseen CV seeds ------------------------------------------------------


def best_trial(study: Any) -> Any | None:
    try:
        return study.best_trial
    except ValueError:  # no complete trial
        return None


def confirm_best(
    setup: TuneSetup, study: Any, repeats: int, notice: Callable[[str], None]
) -> dict[str, Any] | None:
    """best.yaml, then `cv --repeats R` of it on CV seeds after the ones the search used."""
    from densecli.experiment import Output, Plan, prepare, run_cv

    best = best_trial(study)
    if best is None:
        notice("no trial completed: nothing to confirm")
        return None
    point = setup.space.point(best.number, best.params)
    spec = point.spec.model_copy(update={"name": f"{setup.space.name[:72]}-best"})
    write_yaml(setup.folder / BEST_SPEC, spec.resolved())
    confirm_dir = setup.folder / CONFIRM_FOLDER
    recorded = read_confirmation(setup.folder)
    if recorded and recorded.get("trial") == best.number and recorded.get("repeats") == repeats:
        return recorded
    search_run = trial_folders(setup.folder).get(point.spec.name)
    if search_run is None:  # trained into another folder (a shared --storage)
        notice(f"trial {best.number}'s run is not in {setup.folder}: not confirmed here")
        return None
    search = read_run(search_run).metrics
    unseen = setup.seed + setup.plan.repeats  # the search's folds used seed + r, r < repeats
    moved = spec.model_copy(update={"seed": unseen})
    notice(
        f"confirming trial {best.number} (best of {len(study.trials)}) with {repeats} CV "
        f"repeats on unseen seeds {unseen}–{unseen + repeats - 1}"
    )
    plan = Plan(setup.plan.engine, repeats, setup.plan.seeds)
    outcome = run_cv(prepare(moved, setup.data_path), plan, Output(confirm_dir, notice=notice))
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


def _summary(view: TaskView, metrics: dict[str, Any]) -> dict[str, Any]:
    key = view.score.key
    refs = dict(view.sweep_references([metrics]))
    reference = next((v for label, v in refs.items() if "logistic" in label.lower()), None)
    return {
        "score": float(metrics[key]),
        "std": float(metrics.get(f"{key}_std") or 0.0),
        "folds": int(metrics.get("models", 0)),
        "reference": reference,
        "label": view.score.label,
        "percent": view.score.percent,
    }


def read_confirmation(folder: Path) -> dict[str, Any] | None:
    from densecli.runs.files import read_json

    path = folder / CONFIRM_FOLDER / CONFIRMATION_JSON
    if not path.is_file():
        return None
    with contextlib.suppress(OSError, ValueError):
        return dict(read_json(path))
    return None


def _confirmation_cells(record: dict[str, Any]) -> list[tuple[str, list[str]]]:
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


QUOTE = (
    "Quote the confirmation score: the search score is the best of many trials on the same "
    "folds and is biased upwards."
)


def confirmation_markdown(record: dict[str, Any]) -> list[str]:
    unit = " %" if record["search"]["percent"] else ""
    label = record["search"]["label"]
    lines = [
        f"Best trial {record['trial']}: search vs confirmation",
        "",
        f"| | mean {label}{unit} | ± std | models | logistic regression, same folds |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {name} | " + " | ".join(cells) + " |" for name, cells in _confirmation_cells(record)
    ]
    return [*lines, "", QUOTE]


def render_tune(
    console: Console, setup_folder: Path, rows: list[dict[str, str]], name: str, top: int = 15
) -> None:
    """The ranked trials (first `top`) and search vs confirmation."""
    states: dict[str, int] = {}
    for row in rows:
        states[row["state"]] = states.get(row["state"], 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in states.items())
    table = titled_table(f"Tune {name}: {len(rows)} trials ({summary}), best first")
    shown = [c for c in (rows[0] if rows else {}) if c != "run"]
    for column in shown:
        table.add_column(short_key(column))
    for row in rows[:top]:
        table.add_row(*(row[c] for c in shown))
    console.print(table)
    record = read_confirmation(setup_folder)
    if record:
        unit = " %" if record["search"]["percent"] else ""
        best = titled_table(f"Best trial {record['trial']}: search vs confirmation")
        best.add_column("")
        for column in (f"mean {record['search']['label']}{unit}", "± std", "models", "logistic"):
            best.add_column(column, justify="right")
        for name, cells in _confirmation_cells(record):
            best.add_row(name, *cells)
        console.print(best)
        console.print(QUOTE, highlight=False)
    console.print(
        f"Tune folder: {setup_folder} ({RESULTS_MD}, {BEST_SPEC}; "
        f"`densecli compare {setup_folder}` for the runs)",
        highlight=False,
        soft_wrap=True,
    )
