"""Training jobs: a job is one model trained on some rows and evaluated on others.

Two engines train a list of jobs:

- `compiled` (default): all jobs as one bundle inside compiled TensorFlow code
  (`densecli.compiled`), tens of times faster than `model.fit` on small networks.
- `fit`: the reference path, `model.fit` per job as the tutorial does; the ground truth
  the compiled engine is checked against.

Every job seeds Keras with its own seed before its model is built, so both engines start
each job from the same initial weights.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from densecli.backend import import_keras, seed_everything
from densecli.data import Dataset
from densecli.model import build_model, compile_model
from densecli.spec import Spec
from densecli.targets import TargetEncoding

EngineName = Literal["compiled", "fit"]


@dataclass(frozen=True)
class Job:
    name: str  # "split", "fold-03", "r2-fold-03-s1"
    train_rows: np.ndarray
    eval_rows: np.ndarray
    seed: int


@dataclass
class JobResult:
    job: Job
    history: dict[str, list[float]]  # per epoch: loss, accuracy, eval_loss, eval_accuracy
    outputs: np.ndarray  # the network's outputs on the evaluation rows
    eval_loss: float
    model: Any
    seconds: float  # this job's share of the training time
    engine: EngineName


class Progress(Protocol):
    def describe(self, label: str) -> None: ...

    def advance(self, model_epochs: int, logs: dict[str, float]) -> None: ...


def train_jobs(
    spec: Spec,
    data: Dataset,
    encoding: TargetEncoding,
    jobs: list[Job],
    progress: Progress,
    engine: EngineName = "compiled",
    notice: Callable[[str], None] = print,
) -> list[JobResult]:
    if engine == "compiled":
        from densecli.compiled import Unsupported, check_supported

        try:
            check_supported(spec, data.n_features)
            return _train_compiled(spec, data, encoding, jobs, progress)
        except Unsupported as reason:
            notice(f"notice: the compiled engine cannot run {reason}; using --engine fit")
    return [_train_fit(spec, data, encoding, job, progress, len(jobs)) for job in jobs]


# --- the compiled engine -----------------------------------------------------------------


def _train_compiled(
    spec: Spec, data: Dataset, encoding: TargetEncoding, jobs: list[Job], progress: Progress
) -> list[JobResult]:
    from densecli.compiled import (
        HISTORY_KEYS,
        CompiledTrainer,
        build_models,
        make_bundle,
        train_bundle,
    )

    models = build_models(spec, data.n_features, [job.seed for job in jobs])
    trainer = CompiledTrainer(spec, encoding, models, make_bundle(data, encoding, jobs))
    progress.describe(f"{len(jobs)} model{'s' if len(jobs) > 1 else ''} (compiled)")

    def on_chunk(done: int, logs: np.ndarray) -> None:
        _watch_chunk(progress, done - len(logs), logs)
        last = logs[-1].mean(axis=0)
        progress.advance(
            len(jobs) * len(logs), {"loss": float(last[0]), "accuracy": float(last[1])}
        )

    history, seconds = train_bundle(trainer, spec.train.epochs, on_chunk)
    trainer.write_back()
    eval_loss, _, outputs = trainer.evaluate()
    results = []
    for b, job in enumerate(jobs):
        results.append(
            JobResult(
                job=job,
                history={
                    k: history[:, b, i].astype(float).tolist() for i, k in enumerate(HISTORY_KEYS)
                },
                outputs=np.asarray(outputs[b, : job.eval_rows.size], dtype=np.float64),
                eval_loss=float(eval_loss[b]),
                model=models[b],
                seconds=seconds / len(jobs),
                engine="compiled",
            )
        )
    return results


# --- the reference engine: model.fit per job ---------------------------------------------


def _history_names(logs: dict[str, list[float]]) -> dict[str, list[float]]:
    # Keras calls the evaluation rows "val_"; here they are the held-out rows, not a
    # validation set used for decisions, so they are named for what they are.
    return {
        (f"eval_{k[4:]}" if k.startswith("val_") else k): [float(v) for v in values]
        for k, values in logs.items()
    }


def _progress_callback(progress: Progress) -> Any:
    keras = import_keras()

    class _Report(keras.callbacks.Callback):  # type: ignore[misc]
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            progress.advance(1, dict(logs or {}))

    return _Report()


def _watch_chunk(progress: Progress, first_epoch: int, logs: np.ndarray) -> None:
    """densecli.watch records a compiled chunk's per-job history; raises once all diverged."""
    from densecli.watch import record_chunk

    record_chunk(progress, first_epoch, logs)


def _guards(progress: Progress, job: Job) -> list[Any]:
    """Stop at the first NaN/inf loss and report each epoch to the run's watch."""
    from densecli.watch import fit_guards

    return fit_guards(progress, job.name)


def _train_fit(
    spec: Spec, data: Dataset, encoding: TargetEncoding, job: Job, progress: Progress, total: int
) -> JobResult:
    seed_everything(job.seed)
    model = build_model(spec, data.n_features)
    compile_model(model, spec)
    x_train, x_eval = data.features[job.train_rows], data.features[job.eval_rows]
    y_train = encoding.encode(data.class_index[job.train_rows])
    y_eval = encoding.encode(data.class_index[job.eval_rows])
    progress.describe(job.name if total == 1 else f"{job.name} of {total} (fit)")
    started = time.perf_counter()
    fitted = model.fit(
        x_train,
        y_train,
        epochs=spec.train.epochs,
        batch_size=spec.train.batch_size,
        validation_data=(x_eval, y_eval),
        shuffle=True,
        verbose=0,
        callbacks=[_progress_callback(progress), *_guards(progress, job)],
    )
    seconds = time.perf_counter() - started
    evaluated = model.evaluate(x_eval, y_eval, batch_size=len(x_eval), verbose=0, return_dict=True)
    outputs = model.predict(x_eval, batch_size=len(x_eval), verbose=0)
    return JobResult(
        job=job,
        history=_history_names(fitted.history),
        outputs=np.asarray(outputs, dtype=np.float64),
        eval_loss=float(evaluated["loss"]),
        model=model,
        seconds=seconds,
        engine="fit",
    )
