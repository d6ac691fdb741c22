"""Which models an experiment trains and how their scores become the run's metrics.

The classic split trains on the first `data.train_rows` rows and tests on the rest; k-fold
CV trains one model per fold of every repeat (and per initialisation with `--seeds`). Each
model is a `Job` with its own seed, derived from the spec's seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from densecli.data import classic_split
from densecli.engine import Job, JobResult
from densecli.experiment._prepare import Experiment, Plan

Summarize = Callable[[list[JobResult]], dict[str, Any]]


@dataclass(frozen=True)
class Resampling:
    """An experiment's jobs, how they were chosen, and how their results are summarized."""

    mode: str  # "split" or "cv": the run folder's suffix and metrics.json's mode
    jobs: list[Job]
    method: str  # folds.json's description of how the rows were chosen
    summarize: Summarize
    # Work that needs no network and may run while it trains (the references' fits, cached
    # per fold, so `summarize` finds them done); None: nothing to do ahead.
    ahead: Callable[[], object] | None = None


def job_seed(seed: int, repeat: int, fold: int, init: int) -> int:
    """A job's weight seed, derived from the spec's seed by NumPy's SeedSequence."""
    return int(np.random.SeedSequence([seed, repeat, fold, init]).generate_state(1)[0] >> 1)


def job_metrics(exp: Experiment, result: JobResult) -> dict[str, Any]:
    job, task = result.job, exp.task
    return {
        "job": job.name,
        **task.job_metrics(job.train_rows, job.eval_rows, result.targets.decode(result.outputs)),
        "loss": result.eval_loss,
        "test_rows": int(job.eval_rows.size),
        **task.eval_references(job.train_rows, job.eval_rows),
        "train_seconds": result.seconds,
        "epochs_trained": result.epochs_trained,
    }


def _summary(exp: Experiment, per_job: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        **exp.task.summarize(per_job),
        "train_seconds": sum(m["train_seconds"] for m in per_job),
        "job_metrics": per_job,
    }


def split_resampling(exp: Experiment, plan: Plan) -> Resampling:
    train_rows, test_rows = classic_split(exp.data.n_rows, exp.spec.data.train_rows or 0)
    seed = exp.spec.seed
    seeds = [seed] + [job_seed(seed, 0, 0, s) for s in range(1, plan.seeds)]
    names = ["split"] if plan.seeds == 1 else [f"split-s{s + 1}" for s in range(plan.seeds)]
    jobs = [Job(name, train_rows, test_rows, seed) for name, seed in zip(names, seeds, strict=True)]
    method = f"classic split: rows 0..{train_rows.size - 1} train, the rest test"
    return Resampling("split", jobs, method, _split_summary(exp, train_rows, test_rows))


def _split_summary(exp: Experiment, train_rows: np.ndarray, test_rows: np.ndarray) -> Summarize:
    """A split's metrics: its one model's scores, or the mean of its seeds' models."""

    def summarize(results: list[JobResult]) -> dict[str, Any]:
        per_job = [job_metrics(exp, r) for r in results]
        if len(per_job) > 1:
            return {
                **_summary(exp, per_job),
                "train_rows": int(train_rows.size),
                "test_rows": int(test_rows.size),
                "seeds": len(per_job),
            }
        metrics = per_job[0]
        return {
            **metrics,
            "train_rows": int(train_rows.size),
            "seeds": 1,
            **exp.task.single_split(metrics),
        }

    return summarize


def cv_folds(exp: Experiment, plan: Plan) -> list[tuple[np.ndarray, np.ndarray]]:
    """R × k folds; repeat r splits with random_state = seed + r (stratified by the task),
    over the experiment's rows (all, or a nested tune's outer training rows)."""
    folds, seed, task = exp.spec.cv.folds, exp.spec.seed, exp.task
    return [
        split
        for repeat in range(plan.repeats)
        for split in task.cv_folds(folds, seed + repeat, exp.rows)
    ]


def cv_jobs(exp: Experiment, plan: Plan) -> list[Job]:
    """A job per fold of every repeat and per initialisation, in that order."""
    folds, seed = exp.spec.cv.folds, exp.spec.seed
    jobs = []
    all_folds = cv_folds(exp, plan)
    for repeat in range(plan.repeats):
        splits = all_folds[repeat * folds : (repeat + 1) * folds]
        for fold, (train_rows, test_rows) in enumerate(splits):
            for init in range(plan.seeds):
                name = f"fold-{fold + 1:02d}"
                name = (f"r{repeat + 1}-" if plan.repeats > 1 else "") + name
                name += f"-s{init + 1}" if plan.seeds > 1 else ""
                jobs.append(Job(name, train_rows, test_rows, job_seed(seed, repeat, fold, init)))
    return jobs


def cv_resampling(exp: Experiment, plan: Plan) -> Resampling:
    """The jobs of a (repeated) k-fold CV and how its run's metrics are summarized."""
    jobs = cv_jobs(exp, plan)
    folds, key = exp.spec.cv.folds, exp.task.score.key
    splits = cv_folds(exp, plan)

    def summarize(results: list[JobResult]) -> dict[str, Any]:
        per_job = [job_metrics(exp, r) for r in results]
        scores = np.reshape([m[key] for m in per_job], (plan.repeats * folds, plan.seeds))
        per_repeat = scores.reshape(plan.repeats, -1).mean(axis=1)
        references = exp.task.compare_folds(splits, list(scores.mean(1)))
        return {
            **references,
            **_summary(exp, per_job),
            "folds": folds,
            "repeats": plan.repeats,
            "seeds": plan.seeds,
            f"fold_{key}": [m[key] for m in per_job],
            f"repeat_{key}": per_repeat.tolist(),
        }

    over = "rows in file order" if exp.rows is None else f"the {exp.rows.size} rows of `within`"
    method = (
        f"{exp.task.fold_method(folds)} over {over}, "
        f"for repeats r = 0..{plan.repeats - 1}, seed = {exp.spec.seed}"
    )

    def ahead() -> object:  # the references on these folds, against a placeholder network
        return exp.task.compare_folds(splits, [0.0] * len(splits))

    return Resampling("cv", jobs, method, summarize, ahead)


def holdout_resampling(
    exp: Experiment,
    plan: Plan,
    train_rows: np.ndarray,
    test_rows: np.ndarray,
    described: str,
    label: str,
) -> Resampling:
    """A split into given rows: `plan.seeds` models trained on `train_rows`, scored on
    `test_rows` (a nested tune's refit of an outer fold's winner); summarized as a split,
    whose metrics name the test rows by `label` ("outer fold 2 of 5")."""
    split = split_resampling(exp, plan)
    jobs = [Job(j.name, train_rows, test_rows, j.seed) for j in split.jobs]
    summarize = _split_summary(exp, train_rows, test_rows)
    return Resampling(
        "split", jobs, described, lambda results: summarize(results) | {"split": label}
    )
