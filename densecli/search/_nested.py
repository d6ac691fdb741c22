"""Nested cross-validation of a whole search (`tune --nested K`).

The best trial of a search is the maximum of many noisy estimates on the same rows, and the
confirmation's folds are still made of those rows. Here the search itself is what is
scored: in each of K outer folds, the same search (sampler, pruner, inner CV, batches) runs
on that fold's training rows only (its trials' CV folds are made of them, `_study`); its
winner is refitted on all of those rows (`--seeds` models, averaged) and scored on the
fold's test rows, which no trial of that study saw. The references are scored on the same
outer folds. The mean of the K outer scores estimates how well such a search does on rows it
has not seen; the tune's own study on every row gives the configuration to use (best.yaml).

nested.json (in the tune folder) records it all: each outer fold's test rows (0-based indices
of the data's rows, after rows without a target were dropped), its winner's parameters,
inner best and outer score, and the trial folders; the estimate; the references on the same
folds with the t-test against the strongest; the optimism. No TensorFlow at import.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from densecli.experiment import Output, Plan, prepare, run_holdout
from densecli.runs import REFIT_SUFFIX, refit_name
from densecli.runs.files import METRICS, NESTED, read_run, write_json
from densecli.search._confirm import best_trial
from densecli.search._file import format_value
from densecli.search._request import SearchRequest
from densecli.search._study import TuneSetup, TuneStudy
from densecli.tasks import TaskView, view_for

ROWS = "0-based indices of data rows in file order, after rows without a target were dropped"


def estimate_nested(
    setup: TuneSetup,
    studies: list[TuneStudy],
    trials: int,
    request: SearchRequest,
    notice: Callable[[str], None],
) -> dict[str, Any] | None:
    """Refit every outer fold's winner and score it on the fold's test rows, the references
    on the same folds; nested.json. None (said) when an outer study has no complete trial."""
    main, outer = studies[0], studies[1:]
    winners = [best_trial(study.study) for study in outer]
    missing = [s.outer.fold for s, best in zip(outer, winners, strict=True) if s.outer and not best]
    if missing:
        notice(
            f"outer fold(s) {', '.join(map(str, missing))}: no trial completed, so no nested "
            "estimate; continue with --resume and more --trials"
        )
        return None
    notice(f"nested CV: refitting the {len(outer)} outer winners on their training rows")
    folds = [
        _outer_result(setup, study, best, request, notice)
        for study, best in zip(outer, winners, strict=True)
    ]
    record = _record(setup, main, folds, trials)
    write_json(setup.folder.path / NESTED, record)
    return record


def _outer_result(
    setup: TuneSetup,
    study: TuneStudy,
    best: Any,
    request: SearchRequest,
    notice: Callable[[str], None],
) -> dict[str, Any]:
    """One outer fold in nested.json: its winner refitted (or, resumed, as refitted before)."""
    outer = study.outer
    assert outer is not None, "an outer fold's study"
    metrics, run = _refit(setup, study, best, request, notice)
    key = setup.experiment.task.score.key
    values = setup.space.values(best.params)
    runs = study.folder.runs()
    return {
        "fold": outer.fold,
        "test_rows": outer.test.tolist(),
        "train_rows": int(outer.train.size),
        "best_trial": best.number,
        "best": values,
        "best_shown": {k: _shown(setup, k, best.params, v) for k, v in values.items()},
        "inner_best": float(best.value),
        "score": float(metrics[key]),
        "seed_scores": [float(job[key]) for job in metrics.get("job_metrics", [metrics])],
        "refit": f"{outer.place}/{run.name}",
        "trials": sorted(
            f"{outer.place}/{path.name}"
            for name, path in runs.items()
            if not name.endswith(REFIT_SUFFIX)  # winners' refits (one per winner so far)
        ),
    }


def _refit(
    setup: TuneSetup,
    study: TuneStudy,
    best: Any,
    request: SearchRequest,
    notice: Callable[[str], None],
) -> tuple[dict[str, Any], Path]:
    """The winner trained on all the fold's training rows (`--seeds` models), scored on its
    test rows: a split run in the fold's folder, named after the trial (kept on resume)."""
    outer = study.outer
    assert outer is not None, "an outer fold's study"
    name = refit_name(setup.space.name, best.number, outer.tag)
    found = study.folder.runs().get(name)
    if found is not None and (found / METRICS).is_file():
        return read_run(found).metrics, found
    study.folder.clear_leftovers({name})  # what a stopped refit left
    point = setup.space.point(best.number, best.params, outer.tag)
    spec = point.spec.model_copy(update={"name": name})
    described = (
        f"nested CV, outer fold {outer.fold} of {outer.folds}: trained on its "
        f"{outer.train.size} training rows (every row not in test_rows), scored on its "
        f"{outer.test.size} test rows"
    )
    plan = Plan(setup.plan.engine, 1, setup.plan.seeds)
    output = Output(study.folder.path, notice=notice, command=request.command, plots=request.plots)
    label = f"{outer.label} of {outer.folds}"
    experiment = prepare(spec, setup.data_path)
    outcome = run_holdout(experiment, plan, output, (outer.train, outer.test), described, label)
    return outcome.metrics, outcome.run_dir


def _shown(setup: TuneSetup, key: str, params: dict[str, Any], value: Any) -> str:
    """A winner's value as tables show it: a layer stack by its index and widths."""
    space = setup.space
    if not space.categorical_labels(key):
        return format_value(value)
    if isinstance(value, list) and all(isinstance(v, dict) and "units" in v for v in value):
        return f"#{params[key]} (" + "-".join(str(v["units"]) for v in value) + ")"
    return f"#{params[key]}"


def _record(
    setup: TuneSetup, main: TuneStudy, folds: list[dict[str, Any]], trials: int
) -> dict[str, Any]:
    """nested.json: the outer folds, the estimate, the references on the same folds, the
    optimism, whether the winners agree, and the tune's own search for comparison."""
    task = setup.experiment.task
    score = task.score
    scores = [fold["score"] for fold in folds]
    mean = statistics.fmean(scores)
    std = statistics.stdev(scores) if len(scores) > 1 else 0.0
    outer = [(o.train, o.test) for o in setup.outer]
    compared = task.compare_folds(outer, scores)
    best = best_trial(main.study)
    return {
        "folds": len(folds),
        "seed": setup.seed,
        "method": f"{task.fold_method(len(folds))} over all rows, seed = {setup.seed}",
        "rows": ROWS,
        "trials": trials,
        "score": {
            "key": score.key,
            "label": score.label,
            "higher_is_better": score.higher_is_better,
            "percent": score.percent,
        },
        "outer_folds": folds,
        "estimate": {score.key: mean, "std": std},
        "references": _references(view_for({"task": task.name}), compared),
        "t_test": {
            "against": compared.get("t_test_reference"),
            "difference": compared.get("network_minus_reference"),
            "t_statistic": compared.get("t_statistic"),
            "p_value": compared.get("p_value"),
        },
        "optimism": statistics.fmean(fold["inner_best"] for fold in folds) - mean,
        "agree": _agreement(folds),
        "search": None if best is None else {"best_trial": best.number, "score": best.value},
    }


def _references(view: TaskView, compared: dict[str, Any]) -> dict[str, Any]:
    return {
        reference.name: {
            "label": reference.label,
            "score": value,
            "folds": compared[reference.fold_key],
        }
        for reference, value in view.fold_references(compared)
    }


def _agreement(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """The keys every outer winner has the same value of, those they differ in, and the
    outer folds whose winners are one configuration (as tables show its values)."""
    keys = list(folds[0]["best_shown"])
    same = [k for k in keys if len({fold["best_shown"][k] for fold in folds}) == 1]
    configurations: dict[tuple[str, ...], list[int]] = {}
    for fold in folds:
        shown = tuple(fold["best_shown"][k] for k in keys)
        configurations.setdefault(shown, []).append(fold["fold"])
    return {
        "same": same,
        "differ": [k for k in keys if k not in same],
        "configurations": list(configurations.values()),
    }
