"""The trainer: one `tf.function` runs a chunk of epochs of a whole bundle, and the loop
that calls it chunk by chunk.

A job's trainable weights are one row of `params` [B, P]: the optimizer then runs its handful
of ops once per step instead of once per weight tensor. Per epoch, every minibatch (including
the last partial one, masked) updates the stacked weights of every job at once; between
chunks Python gets control back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from densecli.backend import import_keras
from densecli.engine._compiled._bundle import Bundle
from densecli.engine._compiled._epochs import EpochIterator
from densecli.engine._compiled._forward import Forward
from densecli.engine._compiled._job_models import (
    non_trainable_values,
    store_values,
    trainable_values,
)
from densecli.engine._compiled._optimizer import per_job_optimizer
from densecli.engine._compiled._stopping import BestWeights
from densecli.engine._compiled._support import Unsupported
from densecli.spec import Spec
from densecli.tasks import Task

TARGET_CHUNK_SECONDS = 0.3


class CompiledTrainer:
    """Trains the stacked variables of a bundle of identically built Keras models."""

    def __init__(
        self,
        spec: Spec,
        task: Task,
        models: list[Any],
        bundle: Bundle,
        job_specs: list[Spec] | None = None,
    ):
        keras = import_keras()
        import tensorflow as tf

        self.tf, self.spec, self.task, self.models = tf, spec, task, models
        self.forward_pass = Forward(spec, job_specs or [spec] * len(models), bundle.n_features)
        stacked = [
            np.stack(group) for group in zip(*(trainable_values(m) for m in models), strict=True)
        ]
        self.shapes = [s.shape[1:] for s in stacked]
        self.params = tf.Variable(
            np.concatenate([s.reshape(len(models), -1) for s in stacked], axis=1)
        )
        self.non_trainable = [
            tf.Variable(np.stack(group))
            for group in zip(*(non_trainable_values(m) for m in models), strict=True)
        ]
        self.optimizer = per_job_optimizer(tf, [m.optimizer for m in models], self.params)
        # Jobs whose weights and optimizer state still change (see `freeze`).
        self.active = tf.Variable(np.ones(len(models), dtype=np.float32))
        self.any_frozen = False
        loss = models[0].loss
        # A Loss object's call() gives per-sample values; a loss function already does.
        self.per_sample_loss = loss.call if isinstance(loss, keras.losses.Loss) else loss
        self.data = bundle.constants
        self.epochs = EpochIterator(tf, bundle, spec.train.batch_size)
        self.steps = self.epochs.steps
        stopping = spec.train.early_stopping
        self.best = (
            None
            if stopping is None
            else BestWeights(tf, stopping, [self.params, *self.non_trainable], len(models))
        )
        # The loops are explicit tf.while_loops: without autograph, tracing does not
        # transpile every method it reaches (most of the first chunk's time otherwise).
        self.chunk = tf.function(self._chunk, reduce_retracing=True, autograph=False)
        self.evaluate = tf.function(self._evaluate, autograph=False)

    def weights(self) -> list[Any]:
        """The stacked trainable weights [B, *shape], read from the flat parameter rows."""
        tf, batch = self.tf, len(self.models)
        pieces = tf.split(self.params, [int(np.prod(shape)) for shape in self.shapes], axis=1)
        return [
            piece if len(shape) == 1 else tf.reshape(piece, [batch, *shape])
            for piece, shape in zip(pieces, self.shapes, strict=True)
        ]

    def forward(self, x: Any, training: bool) -> tuple[Any, list[Any], Any]:
        """Outputs [B, rows, units], updated non-trainable values, regularization loss."""
        return self.forward_pass(self.weights(), self.non_trainable, x, training)

    def _epoch_value(self, mean_row_score: Any) -> Any:
        """The task's history metric from the mean row score (RMSE: √ and the target units)."""
        return self.task.epoch_value(self.tf, mean_row_score, self.data["target_scale"])

    def _row_scores(self, y_true: Any, y_pred: Any) -> Any:
        """The task's history metric per row (1.0 for a right class)."""
        return self.task.row_scores(self.tf, y_true, y_pred)

    def _masked_mean(self, values: Any, mask: Any) -> Any:
        """Per-job mean over real rows."""
        tf = self.tf
        return tf.reduce_sum(values * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)

    def _batch_loss(self, losses: Any, mask: Any, weight: Any) -> Any:
        """Per-job loss of a batch, Keras' sum(w·l) / rows, as sum((w / rows)·l).

        Its gradient with respect to a row's loss is then w / rows, a division of the loss
        weights. Written as sum(w·l) / rows, the gradient divides ones by the row counts,
        which Grappler turns into a Reciprocal op: on a vector of B jobs that kernel is
        approximate (last bit) in the SIMD lanes of the first 8·⌊B/8⌋ jobs and exact one
        by one, so a job's numbers would depend on how many jobs share its bundle.
        """
        tf = self.tf
        rows = tf.maximum(tf.reduce_sum(mask, axis=1, keepdims=True), 1.0)
        return tf.reduce_sum(losses * (weight / rows), axis=1)

    def _losses(self, y_true: Any, y_pred: Any) -> Any:
        per_sample = self.per_sample_loss(y_true, y_pred)
        if per_sample.shape.rank != 2:
            raise Unsupported(f"loss {self.spec.train.loss} does not give one value per row")
        return self.tf.cast(per_sample, self.tf.float32)

    def _scores(self, part: str) -> tuple[Any, Any, Any]:
        """Per-job loss and history metric on the `eval` or `val` rows, and the outputs."""
        d = self.data
        outputs, _, _ = self.forward(d[f"x_{part}"], training=False)
        mask = d[f"{part}_mask"]
        loss = self._masked_mean(self._losses(d[f"y_{part}"], outputs), mask)
        metric = self._masked_mean(self._row_scores(d[f"y_{part}"], outputs), mask)
        return loss, self._epoch_value(metric), outputs

    def _evaluate(self) -> tuple[Any, Any, Any]:
        return self._scores("eval")

    def _train_step(self, x: Any, y: Any, mask: Any, weight: Any) -> tuple[Any, Any]:
        tf = self.tf
        with tf.GradientTape() as tape:
            outputs, new_state, penalty = self.forward(x, training=True)
            losses = self._losses(y, outputs)
            # Sum over jobs of each job's batch-mean loss: each job's gradient is its own.
            total = tf.reduce_sum(self._batch_loss(losses, mask, weight)) + tf.reduce_sum(penalty)
        # vectorized_map may hand back IndexedSlices (it does for a bundle of one), which
        # Keras optimizers update sparsely; a dense gradient keeps every job on the dense path.
        gradient = tf.convert_to_tensor(tape.gradient(total, self.params))
        kept = self._job_state() if self.any_frozen else []
        before = [tf.identity(v) for v in kept]
        self.optimizer.apply_gradients([(gradient, self.params)])
        for variable, value in zip(self.non_trainable, new_state, strict=True):
            variable.assign(value)
        for variable, old in zip(kept, before, strict=True):
            # A frozen job's row goes back to what it was: weights, moments, statistics.
            shape = [-1] + [1] * (variable.shape.rank - 1)
            variable.assign(tf.where(tf.reshape(self.active, shape) > 0, variable, old))
        correct = self._row_scores(y, outputs)
        return tf.reduce_sum(losses * weight, axis=1), tf.reduce_sum(correct * mask, axis=1)

    def _epoch(self, epoch: Any) -> Any:
        tf, d = self.tf, self.data
        whole = self.forward_pass.whole_batches
        order = self.epochs.order(epoch, whole)

        def step(i: Any, loss_sum: Any, correct: Any) -> tuple[Any, Any, Any]:
            step_loss, step_correct = self._train_step(*self.epochs.batch(order, i, whole))
            return i + 1, loss_sum + step_loss, correct + step_correct

        zeros = tf.zeros_like(d["seeds"], tf.float32)
        _, loss_sum, correct = tf.while_loop(
            lambda i, *_: i < self.steps, step, (tf.constant(0), zeros, zeros)
        )
        rows = d["train_rows"]
        eval_loss, eval_metric, _ = self._scores("eval")
        val_loss, val_metric = eval_loss * 0, eval_metric * 0
        if self.best is not None:
            val_loss, val_metric, _ = self._scores("val")
            self.best.keep(epoch, val_loss)
        return tf.stack(
            [
                loss_sum / rows,
                self._epoch_value(correct / rows),
                eval_loss,
                eval_metric,
                val_loss,
                val_metric,
            ],
            axis=1,
        )

    def patience_ends(self) -> np.ndarray | None:
        """Per job, the epoch count at which early stopping stops it (None: no stopping)."""
        return None if self.best is None else self.best.patience_ends()

    def restore_best(self) -> None:
        if self.best is not None:
            self.best.restore()

    def _job_state(self) -> list[Any]:
        """Every variable with one row per job: weights, optimizer slots, layer statistics."""
        jobs = len(self.models)
        slots = [
            v
            for v in self.optimizer.variables
            if v.shape.rank and v.shape[0] == jobs and tuple(v.shape) == tuple(self.params.shape)
        ]
        return [self.params, *slots, *self.non_trainable]

    def freeze(self, jobs: list[int]) -> None:
        """Stop updating these jobs (e.g. pruned trials) from the next chunk on.

        Their weights and optimizer state no longer change; the other jobs train exactly as
        before. A frozen job's history goes on recording its (unchanging) scores.
        """
        active = np.asarray(self.active.numpy())
        active[list(jobs)] = 0.0
        self.active.assign(active)
        self.any_frozen = True

    def active_jobs(self) -> np.ndarray:
        return np.flatnonzero(np.asarray(self.active.numpy()) > 0)

    def _chunk(self, first_epoch: Any, epochs: Any, masked: bool = False) -> Any:
        tf = self.tf
        self.any_frozen = masked  # traced once without freezing, once with

        def epoch(i: Any, logs: Any) -> tuple[Any, Any]:
            return i + 1, logs.write(i, self._epoch(first_epoch + i))

        _, logs = tf.while_loop(
            lambda i, _: i < epochs, epoch, (tf.constant(0), tf.TensorArray(tf.float32, epochs))
        )
        return logs.stack()  # [epochs, B, 6]

    def run_chunk(self, first_epoch: int, epochs: int) -> np.ndarray:
        tf = self.tf
        masked = self.any_frozen
        logs = self.chunk(tf.constant(first_epoch), tf.constant(epochs), masked)
        self.any_frozen = masked
        return np.asarray(logs)

    def write_back(self) -> None:
        """Copy the trained stacked variables into each job's model."""
        weights = [np.asarray(w) for w in self.weights()]
        state = [np.asarray(v) for v in self.non_trainable]
        for b, model in enumerate(self.models):
            store_values(model, [w[b] for w in weights], [v[b] for v in state])


def train_bundle(
    trainer: CompiledTrainer, epochs: int, on_chunk: Callable[[int, np.ndarray], None]
) -> tuple[np.ndarray, float]:
    """Run the epochs in chunks of ~0.3 s; returns history [epochs run, B, 6] and seconds.

    Between chunks, Python gets control back: progress is reported, Ctrl-C is honoured, and
    training ends early once every job has gone `patience` epochs without improving.
    """
    history, done, chunk = [], 0, min(epochs, 5)
    started = time.perf_counter()
    while done < epochs:
        chunk_started = time.perf_counter()
        logs = trainer.run_chunk(done, chunk)
        history.append(logs)
        done += chunk
        on_chunk(done, logs)
        ends = trainer.patience_ends()
        if ends is not None and np.all(ends <= done):
            break
        if trainer.active_jobs().size == 0:
            break  # every job frozen
        per_epoch = (time.perf_counter() - chunk_started) / chunk
        chunk = int(np.clip(TARGET_CHUNK_SECONDS / max(per_epoch, 1e-6), 1, max(epochs - done, 1)))
    trainer.restore_best()
    return np.concatenate(history), time.perf_counter() - started
