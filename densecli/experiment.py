"""Experiments: the classic split and k-fold CV, from a validated spec to a finished run folder."""

from __future__ import annotations

import csv
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from densecli.data import Dataset, classic_split, dataset_for, stratified_folds
from densecli.engine import Job, JobResult, Progress, train_jobs
from densecli.evaluation import classification_metrics, majority_accuracy, wilson_interval
from densecli.model import check_input_dim
from densecli.runs import RunFolder, environment
from densecli.spec import Spec
from densecli.targets import TargetEncoding, plan_targets


@dataclass(frozen=True)
class Experiment:
    spec: Spec  # resolved: data.train_rows filled in from the data
    data: Dataset
    encoding: TargetEncoding


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


def _start_run(
    exp: Experiment, runs_dir: Path, mode: str, jobs: list[Job], method: str
) -> RunFolder:
    """Everything needed to repeat the run is written before training starts."""
    from densecli.backend import versions

    folder = RunFolder(runs_dir, exp.spec.name, mode)
    folder.write_yaml("config.yaml", exp.spec.resolved())
    folder.write_json("env.json", environment(exp.spec.seed, versions()))
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
    return folder


def _train_and_record(
    exp: Experiment,
    runs_dir: Path,
    mode: str,
    jobs: list[Job],
    method: str,
    progress: Progress,
    summarize: Any,
) -> Outcome:
    """Train the jobs inside a scratch run folder; it becomes a run only when complete."""
    folder = _start_run(exp, runs_dir, mode, jobs, method)
    try:
        results = train_jobs(exp.spec, exp.data, exp.encoding, jobs, progress)
        metrics = {
            "mode": mode,
            **summarize(results),
            **_reference(exp.data),
            **_describe_spec(exp.spec),
            "created": folder.created.isoformat(),
        }
        _write_history(folder, results)
        _write_predictions(folder, exp, results)
        for r in results:
            r.model.save(
                folder.file("model.keras" if mode == "split" else f"models/{r.job.name}.keras")
            )
        folder.write_json("metrics.json", metrics)
        from densecli.runfiles import write_run_extras

        write_run_extras(folder.path, exp)  # inputs.json for predict, plots, TensorBoard logs
        return Outcome(folder.finish(), metrics)
    except BaseException:
        folder.discard()
        raise


def run_split(exp: Experiment, runs_dir: Path, progress: Progress) -> Outcome:
    train_rows, test_rows = classic_split(exp.data.n_rows, exp.spec.data.train_rows or 0)
    job = Job("split", train_rows, test_rows, exp.spec.seed)

    def summarize(results: list[JobResult]) -> dict[str, Any]:
        metrics = _job_metrics(exp, results[0])
        correct = round(metrics["accuracy"] * metrics["test_rows"])
        return {
            **metrics,
            "train_rows": int(train_rows.size),
            "accuracy_interval_95": list(wilson_interval(correct, metrics["test_rows"])),
        }

    method = f"classic split: rows 0..{train_rows.size - 1} train, the rest test"
    return _train_and_record(exp, runs_dir, "split", [job], method, progress, summarize)


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if len(present) == len(values) else None


def summarize_folds(fold_metrics: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean over folds of every score; std is the sample standard deviation (n - 1)."""
    accuracies = [m["accuracy"] for m in fold_metrics]
    summary: dict[str, Any] = {
        key: _mean([m[key] for m in fold_metrics])
        for key in ("accuracy", "loss", "precision", "recall", "f1", "roc_auc", "majority_accuracy")
    }
    summary["accuracy_std"] = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
    summary["fold_accuracy"] = accuracies
    summary["confusion_matrix"] = np.sum(
        [m["confusion_matrix"] for m in fold_metrics], axis=0
    ).tolist()
    summary["train_seconds"] = sum(m["train_seconds"] for m in fold_metrics)
    return summary


def run_cv(exp: Experiment, runs_dir: Path, progress: Progress) -> Outcome:
    folds = stratified_folds(exp.data.class_index, exp.spec.cv.folds, exp.spec.seed)
    jobs = [
        Job(f"fold-{i + 1:02d}", train_rows, test_rows, exp.spec.seed + i)
        for i, (train_rows, test_rows) in enumerate(folds)
    ]

    def summarize(results: list[JobResult]) -> dict[str, Any]:
        per_fold = [{"fold": i + 1, **_job_metrics(exp, r)} for i, r in enumerate(results)]
        return {**summarize_folds(per_fold), "folds": len(per_fold), "fold_metrics": per_fold}

    method = (
        f"sklearn StratifiedKFold(n_splits={exp.spec.cv.folds}, shuffle=True, "
        f"random_state={exp.spec.seed}) over rows in file order"
    )
    return _train_and_record(exp, runs_dir, "cv", jobs, method, progress, summarize)
