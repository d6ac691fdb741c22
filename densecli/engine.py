"""Training jobs: a job is one model trained on some rows and evaluated on others.

This is the reference engine: `model.fit` per job, as the tutorial does. Each job seeds
Keras with its own seed before the model is built, so a job's result depends only on the
spec, the data and that seed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from densecli.backend import import_keras, seed_everything
from densecli.data import Dataset
from densecli.model import build_model, compile_model
from densecli.spec import Spec
from densecli.targets import TargetEncoding


@dataclass(frozen=True)
class Job:
    name: str  # "split" or "fold-03"
    train_rows: np.ndarray
    eval_rows: np.ndarray
    seed: int


@dataclass
class JobResult:
    job: Job
    history: dict[str, list[float]]  # per epoch: loss, <metric>, eval_loss, eval_<metric>
    outputs: np.ndarray  # the network's outputs on the evaluation rows
    eval_loss: float
    model: Any
    seconds: float


class Progress(Protocol):
    def job_started(self, job: Job, epochs: int) -> None: ...

    def epoch_done(self, job: Job, epoch: int, logs: dict[str, float]) -> None: ...


def _history_names(logs: dict[str, list[float]]) -> dict[str, list[float]]:
    # Keras calls the evaluation rows "val_"; here they are the held-out rows, not a
    # validation set used for decisions, so they are named for what they are.
    return {
        (f"eval_{k[4:]}" if k.startswith("val_") else k): [float(v) for v in values]
        for k, values in logs.items()
    }


def _progress_callback(job: Job, progress: Progress) -> Any:
    keras = import_keras()

    class _Report(keras.callbacks.Callback):  # type: ignore[misc]
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            progress.epoch_done(job, epoch + 1, dict(logs or {}))

    return _Report()


def train_job(
    spec: Spec, data: Dataset, encoding: TargetEncoding, job: Job, progress: Progress
) -> JobResult:
    seed_everything(job.seed)
    model = build_model(spec, data.n_features)
    compile_model(model, spec)
    x_train, x_eval = data.features[job.train_rows], data.features[job.eval_rows]
    y_train = encoding.encode(data.class_index[job.train_rows])
    y_eval = encoding.encode(data.class_index[job.eval_rows])
    progress.job_started(job, spec.train.epochs)
    started = time.perf_counter()
    fitted = model.fit(
        x_train,
        y_train,
        epochs=spec.train.epochs,
        batch_size=spec.train.batch_size,
        validation_data=(x_eval, y_eval),
        shuffle=True,
        verbose=0,
        callbacks=[_progress_callback(job, progress)],
    )
    seconds = time.perf_counter() - started
    eval_loss = model.evaluate(x_eval, y_eval, batch_size=len(x_eval), verbose=0, return_dict=True)
    outputs = model.predict(x_eval, batch_size=len(x_eval), verbose=0)
    return JobResult(
        job=job,
        history=_history_names(fitted.history),
        outputs=np.asarray(outputs, dtype=np.float64),
        eval_loss=float(eval_loss["loss"]),
        model=model,
        seconds=seconds,
    )


def train_jobs(
    spec: Spec, data: Dataset, encoding: TargetEncoding, jobs: list[Job], progress: Progress
) -> list[JobResult]:
    return [train_job(spec, data, encoding, job, progress) for job in jobs]
