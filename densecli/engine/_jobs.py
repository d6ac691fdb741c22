"""A job: one model, the rows it trains on and the rows it is scored on, as arrays ready to fit.

Everything fitted from data — preprocessing statistics, the early-stopping validation part,
balanced class weights — comes from the job's own training rows, never its evaluation rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from densecli.data import Dataset, Preprocessor, fit_preprocessor, resolve_columns
from densecli.spec import Spec
from densecli.tasks import JobTargets, Task


@dataclass(frozen=True)
class Job:
    name: str  # "split", "fold-03", "r2-fold-03-s1"
    train_rows: np.ndarray
    eval_rows: np.ndarray
    seed: int


@dataclass(frozen=True)
class JobData:
    x_train: np.ndarray
    y_train: np.ndarray
    weight_train: np.ndarray  # per-row loss weight: 1, or the row's class weight
    x_val: np.ndarray  # early-stopping rows taken from the training rows (may be empty)
    y_val: np.ndarray
    x_eval: np.ndarray
    y_eval: np.ndarray
    preprocessor: Preprocessor
    targets: JobTargets  # how this model's target is encoded and its outputs decoded
    fit_rows: np.ndarray  # the training rows the model actually fits (without validation)


def job_rows(spec: Spec, task: Task, job: Job) -> tuple[np.ndarray, np.ndarray]:
    """The rows the job's model fits, and its early-stopping rows (empty without it)."""
    stopping = spec.train.early_stopping
    if stopping is None:
        return job.train_rows, job.train_rows[:0]
    from sklearn.model_selection import train_test_split

    fit_rows, val_rows = train_test_split(
        job.train_rows,
        test_size=stopping.validation_fraction,
        stratify=task.stratify(job.train_rows),
        random_state=job.seed % 2**32,
    )
    return np.sort(fit_rows), np.sort(val_rows)


def job_data(spec: Spec, task: Task, data: Dataset, job: Job) -> JobData:
    fit_rows, val_rows = job_rows(spec, task, job)
    missing = resolve_columns(spec.preprocess, data.feature_names)
    preprocessor = fit_preprocessor(
        spec.preprocess, missing, data.block.take(fit_rows), data.layout
    )

    targets = task.job_targets(fit_rows)

    def features(rows: np.ndarray) -> np.ndarray:
        return preprocessor.transform(data.block, rows=rows)

    return JobData(
        x_train=features(fit_rows),
        y_train=targets.encode(fit_rows),
        weight_train=task.row_weights(fit_rows),
        x_val=features(val_rows),
        y_val=targets.encode(val_rows),
        x_eval=features(job.eval_rows),
        y_eval=targets.encode(job.eval_rows),
        preprocessor=preprocessor,
        targets=targets,
        fit_rows=fit_rows,
    )
