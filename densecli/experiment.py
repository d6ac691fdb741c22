"""Experiments: the classic split and k-fold CV, from a validated spec to a finished run folder."""

from __future__ import annotations

import csv
import itertools
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from densecli.backend import prefer_threads_for, versions
from densecli.data import Dataset, classic_split, dataset_for, stratified_folds
from densecli.engine import EngineName, JobResult, Part, Progress, train_parts
from densecli.errors import DensecliError
from densecli.evaluation import classification_metrics, majority_accuracy, wilson_interval
from densecli.jobs import Job
from densecli.model import check_input_dim
from densecli.preprocess import resolve_columns
from densecli.references import compare_with_references
from densecli.runs import RunFolder, environment
from densecli.spec import Spec
from densecli.targets import TargetEncoding, plan_targets
from densecli.watch import TrainingDiverged, Watch


@dataclass(frozen=True)
class Experiment:
    spec: Spec  # resolved: data.train_rows filled in from the data
    data: Dataset
    encoding: TargetEncoding


@dataclass(frozen=True)
class Plan:
    """How to train: which engine, how many CV repeats, how many initialisations per model."""

    engine: EngineName = "compiled"
    repeats: int = 1
    seeds: int = 1
    notice: Callable[[str], None] = print


@dataclass(frozen=True)
class Outcome:
    run_dir: Path
    metrics: dict[str, Any]


def prepare(spec: Spec, data_path: Path | None = None) -> Experiment:
    """Load the data and check the spec against it; every check that needs no training."""
    if data_path is not None:
        spec = spec.model_copy(
            update={"data": spec.data.model_copy(update={"path": str(data_path)})}
        )
    data = dataset_for(spec.data.path, spec.data.target, spec.data.header)
    check_input_dim(spec, data.n_features)
    resolve_columns(spec.preprocess, data.feature_names)  # names must exist before training
    encoding = plan_targets(spec, int(data.classes.size))
    train_rows = spec.data.train_rows or data.default_train_rows()
    classic_split(data.n_rows, train_rows)  # fails early if it leaves no test rows
    resolved_data = spec.data.model_copy(update={"train_rows": train_rows})
    return Experiment(spec.model_copy(update={"data": resolved_data}), data, encoding)


def _reference(data: Dataset) -> dict[str, Any]:
    return {
        "baseline_accuracy": data.majority_rate,
        "reported_best_accuracy": data.reported_best,
        "data_file": str(data.path),
        "data_sha256": data.sha256,
    }


def _describe_spec(spec: Spec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "seed": spec.seed,
        "epochs": spec.train.epochs,
        "batch_size": spec.train.batch_size,
        "layers": [layer.units for layer in spec.model.layers],
    }


def _job_metrics(exp: Experiment, result: JobResult) -> dict[str, Any]:
    truth = exp.data.class_index
    scores = classification_metrics(truth[result.job.eval_rows], result.outputs, exp.encoding)
    return {
        **scores,
        "loss": result.eval_loss,
        "test_rows": int(result.job.eval_rows.size),
        "majority_accuracy": majority_accuracy(
            truth[result.job.train_rows], truth[result.job.eval_rows], exp.encoding.n_classes
        ),
        "train_seconds": result.seconds,
        "epochs_trained": result.epochs_trained,
    }


def _write_history(folder: RunFolder, results: list[JobResult]) -> None:
    rows = [
        {"job": r.job.name, "epoch": epoch + 1, **{k: v[epoch] for k, v in r.history.items()}}
        for r in results
        for epoch in range(len(next(iter(r.history.values()), [])))
    ]
    _write_csv(folder.file("history.csv"), rows)


def _write_predictions(folder: RunFolder, exp: Experiment, results: list[JobResult]) -> None:
    rows = []
    for r in results:
        predicted = exp.encoding.predict(r.outputs)
        for row, label, guess, out in zip(
            r.job.eval_rows, exp.data.labels[r.job.eval_rows], predicted, r.outputs, strict=True
        ):
            outputs = {f"output_{k}": float(v) for k, v in enumerate(out)}
            rows.append(
                {
                    "job": r.job.name,
                    "row": int(row),
                    "label": int(label),
                    "predicted": int(exp.data.classes[guess]),
                    **outputs,
                }
            )
    _write_csv(folder.file("predictions.csv"), rows)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rows)


def _write_run_inputs(
    exp: Experiment,
    folder: RunFolder,
    jobs: list[Job],
    method: str,
    library_versions: dict[str, str],
) -> None:
    """Everything needed to repeat the run, written before training starts."""
    folder.write_yaml("config.yaml", exp.spec.resolved())
    folder.write_json("env.json", environment(exp.spec.seed, library_versions))
    folder.write_json(
        "folds.json",
        {
            "method": method,
            "rows": "0-based indices of data rows in file order",
            "jobs": [
                {"name": j.name, "seed": j.seed, "test_rows": j.eval_rows.tolist()} for j in jobs
            ],
        },
    )


def step_macs(spec: Spec, n_features: int, jobs: int) -> int:
    widths = [n_features] + [layer.units for layer in spec.model.layers]
    return jobs * spec.train.batch_size * sum(a * b for a, b in itertools.pairwise(widths))


@dataclass
class _Recording:
    """One experiment's run folder while its jobs train: inputs written, history watched."""

    exp: Experiment
    folder: RunFolder
    watch: Watch
    jobs: list[Job]
    mode: str
    summarize: Callable[[list[JobResult]], dict[str, Any]]


@dataclass(frozen=True)
class _Protocol:
    """How an experiment's jobs are made and summarized: the split or k-fold CV."""

    mode: str
    jobs: list[Job]
    method: str
    summarize: Callable[[list[JobResult]], dict[str, Any]]


def _open_recording(
    exp: Experiment,
    runs_dir: Path,
    protocol: _Protocol,
    progress: Progress,
    versions_: dict[str, str],
) -> _Recording:
    folder = RunFolder(runs_dir, exp.spec.name, protocol.mode)
    journal = folder.path / "history.csv"
    validation = exp.spec.train.early_stopping is not None
    watch = Watch(progress, protocol.jobs, exp.spec.train.epochs, journal, validation)
    recording = _Recording(exp, folder, watch, protocol.jobs, protocol.mode, protocol.summarize)
    try:
        _write_run_inputs(exp, folder, protocol.jobs, protocol.method, versions_)
    except BaseException as error:
        folder.keep_unfinished(watch, error)
        raise
    return recording


def _finish_recording(recording: _Recording, results: list[JobResult]) -> Outcome:
    """Metrics, history, predictions, models and plots; then the run folder moves into place."""
    exp, folder = recording.exp, recording.folder
    recording.watch.raise_if_diverged()
    metrics = {
        "mode": recording.mode,
        **recording.summarize(results),
        **_reference(exp.data),
        **_describe_spec(exp.spec),
        "engine": results[0].engine,
        "models": len(results),
        "created": folder.created.isoformat(),
    }
    _write_history(folder, results)
    _write_predictions(folder, exp, results)
    for r in results:
        stem = "model" if len(results) == 1 else f"models/{r.job.name}"
        r.model.save(folder.file(f"{stem}.keras"))
        # The preprocessing fitted on this model's training rows, for later predictions.
        folder.write_json(f"{stem}.preprocess.json", r.preprocessor.to_json())
    folder.write_json("metrics.json", metrics)
    from densecli.runfiles import write_run_extras

    write_run_extras(folder.path, exp)  # inputs.json for predict, plots, TensorBoard logs
    return Outcome(folder.finish(), metrics)


def train_and_record(
    experiments: list[tuple[Experiment, _Protocol]],
    runs_dir: Path,
    progress: Progress,
    plan: Plan,
) -> list[Outcome | DensecliError]:
    """Train the experiments' jobs together (one bundle when the compiled engine can) in
    scratch run folders; each becomes a run only when complete.

    An experiment whose models all diverged gets its `<run>.failed` folder and its error in
    the returned list; the others still finish. An interruption keeps every experiment's
    history as `<run>.interrupted` (or nothing, before the first epoch) and is re-raised.
    """
    macs = sum(step_macs(e.spec, e.data.n_features, len(p.jobs)) for e, p in experiments)
    prefer_threads_for(macs)
    library_versions = versions()  # imports TensorFlow: the slow part, before any folder exists
    recordings: list[_Recording] = []
    try:
        for exp, protocol in experiments:
            recordings.append(_open_recording(exp, runs_dir, protocol, progress, library_versions))
        first = recordings[0].exp
        parts = [Part(r.exp.spec, r.jobs, r.watch) for r in recordings]
        trained = train_parts(parts, first.data, first.encoding, progress, plan.engine, plan.notice)
    except BaseException as error:
        for recording in recordings:  # interrupted or diverged: kept, marked; else gone
            recording.folder.keep_unfinished(recording.watch, _own_error(recording, error))
        raise
    return [_finish_or_fail(r, results) for r, results in zip(recordings, trained, strict=True)]


def _own_error(recording: _Recording, error: BaseException) -> BaseException:
    """All models of the bundle diverged: each experiment fails with its own report."""
    if isinstance(error, TrainingDiverged) and recording.watch.diverged:
        return recording.watch.divergence_error()
    return error


def _finish_or_fail(recording: _Recording, results: list[JobResult]) -> Outcome | DensecliError:
    try:
        return _finish_recording(recording, results)
    except TrainingDiverged as diverged:
        recording.folder.keep_unfinished(recording.watch, diverged)
        return diverged
    except BaseException as error:
        recording.folder.keep_unfinished(recording.watch, error)
        raise


def _train_one(
    exp: Experiment, runs_dir: Path, protocol: _Protocol, progress: Progress, plan: Plan
) -> Outcome:
    outcome = train_and_record([(exp, protocol)], runs_dir, progress, plan)[0]
    if isinstance(outcome, DensecliError):
        raise outcome
    return outcome


def job_seed(seed: int, repeat: int, fold: int, init: int) -> int:
    """A job's weight seed, derived from the spec's seed by NumPy's SeedSequence."""
    return int(np.random.SeedSequence([seed, repeat, fold, init]).generate_state(1)[0] >> 1)


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if len(present) == len(values) else None


def summarize_jobs(job_metrics: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean over models of every score, with the sample std (n − 1) and a 95 % t-interval."""
    from scipy.stats import t as student_t

    accuracies = [m["accuracy"] for m in job_metrics]
    n = len(accuracies)
    summary: dict[str, Any] = {
        key: _mean([m[key] for m in job_metrics])
        for key in ("accuracy", "loss", "precision", "recall", "f1", "roc_auc", "majority_accuracy")
    }
    std = statistics.stdev(accuracies) if n > 1 else 0.0
    half = float(student_t.ppf(0.975, n - 1)) * std / n**0.5 if n > 1 else 0.0
    summary["accuracy_std"] = std
    summary["accuracy_interval_95"] = [summary["accuracy"] - half, summary["accuracy"] + half]
    summary["confusion_matrix"] = np.sum(
        [m["confusion_matrix"] for m in job_metrics], axis=0
    ).tolist()
    summary["train_seconds"] = sum(m["train_seconds"] for m in job_metrics)
    summary["job_metrics"] = job_metrics
    return summary


def run_split(exp: Experiment, runs_dir: Path, progress: Progress, plan: Plan) -> Outcome:
    train_rows, test_rows = classic_split(exp.data.n_rows, exp.spec.data.train_rows or 0)
    seeds = [exp.spec.seed] + [job_seed(exp.spec.seed, 0, 0, s) for s in range(1, plan.seeds)]
    names = ["split"] if plan.seeds == 1 else [f"split-s{s + 1}" for s in range(plan.seeds)]
    jobs = [Job(name, train_rows, test_rows, seed) for name, seed in zip(names, seeds, strict=True)]

    def summarize(results: list[JobResult]) -> dict[str, Any]:
        per_job = [{"job": r.job.name, **_job_metrics(exp, r)} for r in results]
        if len(per_job) > 1:
            return {
                **summarize_jobs(per_job),
                "train_rows": int(train_rows.size),
                "test_rows": int(test_rows.size),
                "seeds": len(per_job),
            }
        metrics = per_job[0]
        correct = round(metrics["accuracy"] * metrics["test_rows"])
        return {
            **metrics,
            "train_rows": int(train_rows.size),
            "seeds": 1,
            "accuracy_interval_95": list(wilson_interval(correct, metrics["test_rows"])),
        }

    method = f"classic split: rows 0..{train_rows.size - 1} train, the rest test"
    return _train_one(exp, runs_dir, _Protocol("split", jobs, method, summarize), progress, plan)


def cv_folds(exp: Experiment, plan: Plan) -> list[tuple[np.ndarray, np.ndarray]]:
    """R × k folds; repeat r splits with StratifiedKFold(random_state = seed + r)."""
    folds, seed = exp.spec.cv.folds, exp.spec.seed
    return [
        split
        for repeat in range(plan.repeats)
        for split in stratified_folds(exp.data.class_index, folds, seed + repeat)
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


def cv_protocol(exp: Experiment, plan: Plan) -> _Protocol:
    """The jobs of a (repeated) k-fold CV and how its run's metrics are summarized."""
    jobs = cv_jobs(exp, plan)
    folds = exp.spec.cv.folds

    def summarize(results: list[JobResult]) -> dict[str, Any]:
        per_job = [{"job": r.job.name, **_job_metrics(exp, r)} for r in results]
        summary = summarize_jobs(per_job)
        accuracy = np.reshape([m["accuracy"] for m in per_job], (plan.repeats * folds, plan.seeds))
        per_repeat = accuracy.reshape(plan.repeats, -1).mean(axis=1)
        references = compare_with_references(exp.data, cv_folds(exp, plan), list(accuracy.mean(1)))
        return {
            **references,
            **summary,
            "folds": folds,
            "repeats": plan.repeats,
            "seeds": plan.seeds,
            "fold_accuracy": [m["accuracy"] for m in per_job],
            "repeat_accuracy": per_repeat.tolist(),
        }

    method = (
        f"sklearn StratifiedKFold(n_splits={folds}, shuffle=True, random_state=seed + r) over "
        f"rows in file order, for repeats r = 0..{plan.repeats - 1}, seed = {exp.spec.seed}"
    )
    return _Protocol("cv", jobs, method, summarize)


def run_cv(exp: Experiment, runs_dir: Path, progress: Progress, plan: Plan) -> Outcome:
    return _train_one(exp, runs_dir, cv_protocol(exp, plan), progress, plan)


def run_cv_together(
    experiments: list[Experiment], runs_dir: Path, progress: Progress, plan: Plan
) -> list[Outcome | DensecliError]:
    """Several CV experiments that build the same network, trained as one bundle."""
    pairs = [(exp, cv_protocol(exp, plan)) for exp in experiments]
    return train_and_record(pairs, runs_dir, progress, plan)
