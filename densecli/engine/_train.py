"""Training jobs: a job is one model trained on some rows and evaluated on others.

Two engines train a list of jobs:

- `compiled` (default): all jobs as one bundle inside compiled TensorFlow code
  (`densecli.engine._compiled`), tens of times faster than `model.fit` on small networks.
- `fit`: the reference path, `model.fit` per job as the tutorial does; the ground truth
  the compiled engine is checked against.

Every job seeds Keras with its own seed before its model is built, so both engines start
each job from the same initial weights.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from densecli.backend import import_keras, seed_everything
from densecli.data import Dataset, Preprocessor
from densecli.engine._jobs import Job, JobData, job_data, job_rows
from densecli.engine._model import build_model, compile_model
from densecli.engine._monitor import Progress, Watch, fit_guards, record_chunks
from densecli.spec import Spec
from densecli.tasks import JobTargets, Task

EngineName = Literal["compiled", "fit"]
Judge = Callable[[int, np.ndarray], bool]
ENGINES: tuple[EngineName, ...] = ("compiled", "fit")


@dataclass
class JobResult:
    job: Job
    history: dict[str, list[float]]  # per epoch: the task's history keys (val_… if stopping)
    outputs: np.ndarray  # the network's outputs on the evaluation rows
    eval_loss: float
    model: Any
    seconds: float  # this job's share of the training time
    engine: EngineName
    preprocessor: Preprocessor
    targets: JobTargets  # decodes `outputs` into the target's units
    epochs_trained: int  # fewer than train.epochs when early stopping ended it


@dataclass(frozen=True)
class Part:
    """Jobs of one experiment inside a shared training call, with that experiment's watch.

    Parts trained together must build the same network (see `densecli.engine.bundle_key`);
    they may differ in what each job carries itself: rows, seeds, initializers,
    preprocessing, class weights, kernel penalty strengths and optimizer hyperparameters.
    """

    spec: Spec
    task: Task
    jobs: list[Job]
    watch: Watch
    # A search's pruner: after each chunk, (epochs done, this part's logs [epochs, jobs, 6])
    # → True to stop the part's jobs (frozen; the bundle trains on). Compiled engine only.
    judge: Judge | None = None


def train_parts(
    parts: list[Part],
    data: Dataset,
    progress: Progress,
    engine: EngineName = "compiled",
    notice: Callable[[str], None] = print,
    packed: Callable[[], None] = lambda: None,
) -> list[list[JobResult]]:
    """Train every part's jobs; with the compiled engine, all of them as one bundle (whose
    parts' judges may stop them after any chunk). `packed` is called once the training data
    is in place, before the first epoch (other work may then use the memory it freed)."""
    if engine == "compiled":
        from densecli.engine._compiled import Unsupported, check_supported

        try:
            for part in {id(part.spec): part for part in parts}.values():
                check_supported(part.spec, part.task, data.n_features)
            return _train_compiled(parts, data, progress, packed)
        except Unsupported as reason:
            notice(f"notice: the compiled engine cannot run {reason}; using --engine fit")
    total = sum(len(part.jobs) for part in parts)
    packed()
    return [[_train_fit(part, data, job, progress, total) for job in part.jobs] for part in parts]


# --- the compiled engine -----------------------------------------------------------------


def _train_compiled(
    parts: list[Part], data: Dataset, progress: Progress, packed: Callable[[], None]
) -> list[list[JobResult]]:
    from densecli.engine._compiled import CompiledTrainer, build_models, make_bundle, train_bundle

    spec, task = parts[0].spec, parts[0].task  # the network, loss, optimizer, epochs: shared
    owners = [part for part in parts for _ in part.jobs]
    jobs = [job for part in parts for job in part.jobs]
    longest = max(
        len(job_rows(p.spec, p.task, job)[0]) for p, job in zip(owners, jobs, strict=True)
    )
    steps = -(-longest // spec.train.batch_size)
    models = [
        model
        for part in parts
        for model in build_models(part.spec, data.n_features, [j.seed for j in part.jobs], steps)
    ]

    def prepare(b: int) -> JobData:
        return job_data(owners[b].spec, owners[b].task, data, jobs[b])

    import_keras()  # TensorFlow, with its threads and logging set up
    import tensorflow as tf

    bundle, prepared = make_bundle(tf, jobs, prepare, spec.train.batch_size, longest)
    trainer = CompiledTrainer(spec, task, models, bundle, [p.spec for p in owners])
    packed()
    progress.describe(f"{len(jobs)} model{'s' if len(jobs) > 1 else ''} (compiled)", len(jobs))
    watches = _part_columns(parts)

    def on_chunk(done: int, logs: np.ndarray) -> None:
        active = [(w, c) for w, c in watches if w.pruned_at is None]
        record_chunks(active, done - len(logs), logs)
        _judge_parts(parts, watches, trainer, done, logs)
        last = logs[-1].mean(axis=0)
        shown = {"loss": float(last[0]), task.history_metric: float(last[1])}
        progress.advance(len(jobs) * len(logs), shown)

    history, seconds = train_bundle(trainer, spec.train.epochs, on_chunk)
    trainer.write_back()
    eval_loss, _, outputs = trainer.evaluate()
    ends = trainer.patience_ends()
    keys = task.history_keys if spec.train.early_stopping else task.history_keys[:4]
    results = []
    for b, job in enumerate(jobs):
        ran = len(history) if ends is None else int(min(ends[b], len(history)))
        results.append(
            JobResult(
                job=job,
                history={k: history[:ran, b, i].astype(float).tolist() for i, k in enumerate(keys)},
                outputs=np.asarray(outputs[b, : job.eval_rows.size], dtype=np.float64),
                eval_loss=float(eval_loss[b]),
                model=models[b],
                seconds=seconds / len(jobs),
                engine="compiled",
                preprocessor=prepared[b].preprocessor,
                targets=prepared[b].targets,
                epochs_trained=ran,
            )
        )
    return [results[columns] for _, columns in watches]


def _judge_parts(
    parts: list[Part], watches: list[tuple[Watch, slice]], trainer: Any, done: int, logs: Any
) -> None:
    """A search's pruner decides per part after each chunk; a pruned part's jobs freeze."""
    for part, (watch, columns) in zip(parts, watches, strict=True):
        if part.judge is None or watch.pruned_at is not None:
            continue
        if part.judge(done, logs[:, columns]):
            watch.pruned_at = done
            trainer.freeze(list(range(columns.start, columns.stop)))


def _part_columns(parts: list[Part]) -> list[tuple[Watch, slice]]:
    """Each part's watch and the bundle columns (jobs) that are its own."""
    columns, start = [], 0
    for part in parts:
        columns.append((part.watch, slice(start, start + len(part.jobs))))
        start += len(part.jobs)
    return columns


# --- the reference engine: model.fit per job ---------------------------------------------


def _history_names(logs: dict[str, list[float]], validation: bool) -> dict[str, list[float]]:
    # Keras calls whatever is passed as validation_data "val_". Without early stopping that
    # is the evaluation rows (recorded only, never used for decisions), named for what it is.
    def rename(key: str) -> str:
        return f"eval_{key[4:]}" if key.startswith("val_") and not validation else key

    return {
        rename(k): [float(v) for v in values] for k, values in logs.items() if k != "learning_rate"
    }


def _schedule_callbacks(spec: Spec) -> list[Any]:
    keras = import_keras()
    callbacks = []
    stopping, schedule = spec.train.early_stopping, spec.train.schedule
    if stopping is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=stopping.patience,
                min_delta=stopping.min_delta,
                restore_best_weights=True,
            )
        )
    if schedule is not None and schedule.name == "reduce_on_plateau":
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss" if stopping else "loss",
                factor=schedule.factor,
                patience=schedule.patience,
                min_lr=schedule.min_learning_rate,
            )
        )
    return callbacks


def _train_fit(part: Part, data: Dataset, job: Job, progress: Progress, total: int) -> JobResult:
    spec = part.spec
    prepared = job_data(spec, part.task, data, job)
    seed_everything(job.seed)
    model = build_model(spec, data.n_features)
    steps = -(-len(prepared.x_train) // spec.train.batch_size)
    compile_model(model, spec, steps, metrics=part.task.fit_metrics(import_keras()))
    validation = spec.train.early_stopping is not None
    progress.describe(job.name if total == 1 else f"{job.name} of {total} (fit)")
    started = time.perf_counter()
    fitted = model.fit(
        prepared.x_train,
        prepared.y_train,
        sample_weight=prepared.weight_train if spec.train.class_weight else None,
        epochs=spec.train.epochs,
        batch_size=spec.train.batch_size,
        validation_data=(prepared.x_val, prepared.y_val)
        if validation
        else (prepared.x_eval, prepared.y_eval),
        shuffle=True,
        verbose=0,
        callbacks=[*_schedule_callbacks(spec), *fit_guards(part.watch, job.name, progress)],
    )
    seconds = time.perf_counter() - started
    evaluated = model.evaluate(
        prepared.x_eval,
        prepared.y_eval,
        batch_size=len(prepared.x_eval),
        verbose=0,
        return_dict=True,
    )
    outputs = model.predict(prepared.x_eval, batch_size=len(prepared.x_eval), verbose=0)
    history = part.task.fit_history(_history_names(fitted.history, validation), prepared.targets)
    return JobResult(
        job=job,
        history=history,
        outputs=np.asarray(outputs, dtype=np.float64),
        eval_loss=float(evaluated["loss"]),
        model=model,
        seconds=seconds,
        engine="fit",
        preprocessor=prepared.preprocessor,
        targets=prepared.targets,
        epochs_trained=len(history["loss"]),
    )
