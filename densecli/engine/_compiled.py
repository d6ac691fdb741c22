"""The compiled engine: a bundle of independent jobs trained inside one TensorFlow graph.

Every job is a real Keras model built from the spec with its own seed, so its initial weights
are exactly those the reference engine (`model.fit`) would start from. For training, the
bundle's weights are stacked along a leading job axis — all of a job's weights are one row of
one variable — and one `tf.function` runs a chunk of epochs: per epoch, each job's training
rows are reshuffled (a per-job hash of seed, epoch and row, so a job's shuffle does not depend
on the rest of the bundle), every minibatch including the last partial one is masked, and one
optimizer updates the stacked weights. That is exact for optimizers that work element by
element (Adam, SGD, RMSprop, …): B stacked Adams are B independent Adams. Per-step Python and
framework overhead, which dominates `model.fit` on a network this small, is paid once per
chunk instead of once per step.

Two forward passes. A stack of Dense layers with their activations (plus weightless
activation layers such as LeakyReLU or Maxout, and L1/L2 kernel penalties) — the common
case — runs as batched matmuls over the job axis with the layers' own activation functions
and regularizers, on whole batches of static shape. Anything else (dropout, batch
normalization) runs the Keras model's own `stateless_call` under `tf.vectorized_map`.

What a step costs here is the number of graph ops, not arithmetic: the loops are explicit
`tf.while_loop`s traced without autograph, the training columns are shuffled with one
gather, and small networks run on one intra- and one inter-op thread (`densecli.backend`).
XLA was measured and left out: ~30 % faster steps, but ~1.2 s more compile time.

Known difference from `model.fit`: when jobs have different numbers of training rows and one
of them needs one step fewer per epoch, it still takes that step with a zero gradient (the
optimizer's momentum moves it slightly). Stratified folds differ by at most one row, so this
happens only when a fold size is an exact multiple of the batch size.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from densecli.backend import import_keras, seed_everything
from densecli.engine._jobs import JobData
from densecli.engine._model import build_model, compile_model, dense_initializers, make_optimizer
from densecli.engine._perjob import per_job_optimizer_keys
from densecli.spec import Spec
from densecli.tasks import Task

# Optimizers whose update of each weight depends only on that weight's own gradient history:
# stacking jobs along a new axis leaves each job's update unchanged.
ELEMENTWISE_OPTIMIZERS = {
    "SGD",
    "Adam",
    "AdamW",
    "Adamax",
    "Nadam",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "Ftrl",
    "Lion",
}
TARGET_CHUNK_SECONDS = 0.3


class Unsupported(Exception):
    """The spec needs something the compiled engine does not do; use the reference engine."""


def check_supported(spec: Spec, task: Task, n_features: int) -> None:
    """Raise Unsupported with a short reason when the compiled engine cannot run this spec."""
    schedule = spec.train.schedule
    if schedule is not None and schedule.name == "reduce_on_plateau":
        raise Unsupported("reduce_on_plateau (each model would need its own learning rate)")
    extra_metrics = [m for m in spec.train.metrics or [] if m not in task.keras_metrics]
    if extra_metrics:
        raise Unsupported(
            f"train.metrics {extra_metrics} (the compiled engine tracks {task.history_metric})"
        )
    optimizer = make_optimizer(spec)
    name = type(optimizer).__name__
    if name not in ELEMENTWISE_OPTIMIZERS:
        raise Unsupported(f"optimizer {name} (not element-wise, so jobs cannot share it)")
    if optimizer.clipnorm is not None or optimizer.global_clipnorm is not None:
        raise Unsupported("clipnorm / global_clipnorm (norms would mix the bundle's jobs)")


@dataclass(frozen=True)
class Bundle:
    """Rows of every job padded to a common length, with masks marking the real rows."""

    x_train: np.ndarray  # [B, N, F]
    y_train: np.ndarray  # [B, N, ...]
    train_mask: np.ndarray  # [B, N]: 1 for real rows
    train_weight: np.ndarray  # [B, N]: the row's loss weight (class weight), 0 for padding
    train_rows: np.ndarray  # [B, N] row position within the job (for the shuffle hash)
    x_val: np.ndarray  # [B, V, F] early-stopping rows (V may be 0)
    y_val: np.ndarray
    val_mask: np.ndarray
    x_eval: np.ndarray  # [B, M, F]
    y_eval: np.ndarray
    eval_mask: np.ndarray  # [B, M]
    seeds: np.ndarray  # [B]
    target_scale: np.ndarray  # [B]: each job's output units per target unit (for history)


def _padded(parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    longest = max(len(p) for p in parts)
    out = np.zeros((len(parts), longest, *parts[0].shape[1:]), dtype=parts[0].dtype)
    mask = np.zeros((len(parts), longest), dtype=np.float32)
    for b, part in enumerate(parts):
        out[b, : len(part)] = part
        mask[b, : len(part)] = 1.0
    return out, mask


def make_bundle(jobs: list[Any], prepared: list[JobData]) -> Bundle:
    x_train, train_mask = _padded([p.x_train for p in prepared])
    y_train, _ = _padded([p.y_train for p in prepared])
    train_weight, _ = _padded([p.weight_train for p in prepared])
    x_val, val_mask = _padded([p.x_val for p in prepared])
    y_val, _ = _padded([p.y_val for p in prepared])
    x_eval, eval_mask = _padded([p.x_eval for p in prepared])
    y_eval, _ = _padded([p.y_eval for p in prepared])
    rows = np.broadcast_to(np.arange(x_train.shape[1]), train_mask.shape).astype(np.int64)
    seeds = np.array([j.seed for j in jobs], dtype=np.int64)
    scales = np.array([p.targets.scale for p in prepared], dtype=np.float32)
    return Bundle(
        x_train,
        y_train,
        train_mask,
        train_weight,
        rows,
        x_val,
        y_val,
        val_mask,
        x_eval,
        y_eval,
        eval_mask,
        seeds,
        scales,
    )


def _whole_batches(bundle: Bundle, rows: int) -> Bundle:
    """The bundle with training rows padded (weight 0) to a whole number of batches."""
    extra = rows - bundle.x_train.shape[1]

    def pad(a: np.ndarray) -> np.ndarray:
        return np.pad(a, [(0, 0), (0, extra)] + [(0, 0)] * (a.ndim - 2))

    train_rows = np.broadcast_to(np.arange(rows), (len(bundle.seeds), rows))
    return replace(
        bundle,
        x_train=pad(bundle.x_train),
        y_train=pad(bundle.y_train),
        train_mask=pad(bundle.train_mask),
        train_weight=pad(bundle.train_weight),
        train_rows=train_rows.astype(np.int64),
    )


TRAIN_COLUMNS = ("x_train", "y_train", "train_mask", "train_weight")


def _train_table(bundle: Bundle) -> np.ndarray:
    """The training columns side by side as float32 [B, N, columns] (labels are exact)."""
    parts = [getattr(bundle, name) for name in TRAIN_COLUMNS]
    flat = [p.reshape(*p.shape[:2], -1).astype(np.float32) for p in parts]
    return np.concatenate(flat, axis=2)


def _shuffle_keys(tf: Any, seeds: Any, epoch: Any, rows: Any) -> Any:
    """A per-job pseudo-random key per row: a 32-bit integer hash of (seed, epoch, row)."""
    mask32 = tf.constant(0xFFFFFFFF, tf.int64)
    z = seeds[:, None] * 0x9E3779B1 + tf.cast(epoch, tf.int64) * 0x85EBCA77 + rows * 0xC2B2AE3D
    z = tf.bitwise.bitwise_and(z, mask32)
    for shift, multiplier in ((16, 0x7FEB352D), (15, 0x846CA68B), (16, 1)):
        z = tf.bitwise.bitwise_xor(z, tf.bitwise.right_shift(z, shift))
        z = tf.bitwise.bitwise_and(z * multiplier, mask32)
    return z


class CompiledTrainer:
    """Trains the stacked variables of a bundle of identically built Keras models.

    A job's trainable weights are one row of `params` [B, P]. A stack of Dense layers and
    row-wise activations (the common case) runs as batched matmuls with the layers' own
    activations and regularizers. Anything else runs the template model's `stateless_call`,
    vectorized over the job axis with `tf.vectorized_map`: dropout and batch normalization
    run as Keras defines them, each job with its own moving statistics and seed state.
    """

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
        job_specs = job_specs or [spec] * len(models)
        # Kernel penalties are applied per job below, with each job's own strengths.
        self.template, self.output_activation = _logits_template(
            without_regularizers(spec), bundle.x_train.shape[2]
        )
        self.plan = _dense_plan(keras, self.template)
        self.penalties = _penalty_plan(self.template, job_specs)
        # Runs of jobs whose Keras call differs only in dropout rates: one template each.
        self.template_runs = _template_runs(job_specs, bundle.x_train.shape[2], self.template)
        stacked = [np.stack(group) for group in zip(*(_trainable(m) for m in models), strict=True)]
        self.shapes = [s.shape[1:] for s in stacked]
        # All of a job's trainable weights as one row of one variable: the optimizer then
        # runs its handful of ops once per step instead of once per weight tensor.
        self.params = tf.Variable(
            np.concatenate([s.reshape(len(models), -1) for s in stacked], axis=1)
        )
        self.non_trainable = [
            tf.Variable(np.stack(group))
            for group in zip(*(_non_trainable(m) for m in models), strict=True)
        ]
        self.optimizer = per_job_optimizer(tf, [m.optimizer for m in models], self.params)
        # Jobs whose weights and optimizer state still change (see `freeze`).
        self.active = tf.Variable(np.ones(len(models), dtype=np.float32))
        self.any_frozen = False
        loss = models[0].loss
        # A Loss object's call() gives per-sample values; a loss function already does.
        self.per_sample_loss = loss.call if isinstance(loss, keras.losses.Loss) else loss
        self.steps = -(-bundle.x_train.shape[1] // spec.train.batch_size)
        self.longest = bundle.x_train.shape[1]
        whole = _whole_batches(bundle, self.steps * spec.train.batch_size)
        self.data = {name: tf.constant(value) for name, value in vars(whole).items()}
        self.data["train_table"] = tf.constant(_train_table(whole))
        self.stopping = spec.train.early_stopping
        if self.stopping is not None:
            # The best weights so far per job, by validation loss, as Keras' EarlyStopping
            # with restore_best_weights keeps them.
            self.best_loss = tf.Variable(tf.fill([len(models)], np.inf))
            self.best_epoch = tf.Variable(tf.fill([len(models)], -1))
            self.best = [tf.Variable(v) for v in (self.params, *self.non_trainable)]
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
        """Outputs [B, rows, units], updated non-trainable values, regularization loss.

        The penalty's sum over jobs is what the gradient needs: it is [B] or a scalar.
        """
        weights = self.weights()
        if self.plan is not None:
            return (
                self.output_activation(self._plain_logits(weights, x)),
                [],
                self._penalty(weights),
            )
        outputs, new_state, penalty = self._vectorized_forward(weights, x, training)
        return outputs, new_state, penalty + self._penalty(weights)

    def _plain_logits(self, weights: list[Any], x: Any) -> Any:
        """A stack of Dense layers as batched matmuls over the job axis.

        The same ops Keras' Dense runs (matmul, bias add, its activation), without
        `vectorized_map`'s conversion, which costs per-step ops and most of the tracing time.
        """
        assert self.plan is not None
        h = x
        for step in self.plan:
            if step.kernel is None:
                h = step.layer(h)  # a weightless, stateless activation layer (LeakyReLU, …)
                continue
            h = self.tf.matmul(h, weights[step.kernel])
            if step.bias is not None:
                h = h + weights[step.bias][:, None, :]
            h = step.layer.activation(h)
        return h

    def _penalty(self, weights: list[Any]) -> Any:
        """Each job's L1/L2 kernel penalties [B], with its own strengths.

        Keras' L1L2 is `l1·sum|k| + l2·sum k²` over a kernel; per job on the stacked kernel
        that gives every job the gradient (`l2·2k`, `l1·sign k`) its own model would have.
        """
        tf = self.tf
        terms = []
        for position, l1, l2 in self.penalties:
            kernel = weights[position]
            axes = list(range(1, kernel.shape.rank))
            if l1 is not None:
                terms.append(tf.constant(l1) * tf.reduce_sum(tf.abs(kernel), axis=axes))
            if l2 is not None:
                terms.append(tf.constant(l2) * tf.reduce_sum(tf.square(kernel), axis=axes))
        return tf.add_n(terms) if terms else tf.constant(0.0)

    def _vectorized_forward(
        self, weights: list[Any], x: Any, training: bool
    ) -> tuple[Any, list[Any], Any]:
        """Any Keras model: its own `stateless_call`, vectorized over the job axis; jobs
        with other dropout rates run their own template's call over their slice."""
        if len(self.template_runs) == 1:
            logits, state, penalty = self._vectorized_slice(
                self.template, weights, self.non_trainable, x, training
            )
            # The output activation runs outside vectorized_map so that, as in model.fit,
            # Keras' cross-entropies see its logits (pfor, or a concatenation, would hide
            # them) instead of clipped outputs.
            return self.output_activation(logits), state, penalty
        tf = self.tf
        pieces = [
            self._vectorized_slice(
                template,
                [w[jobs] for w in weights],
                [v[jobs] for v in self.non_trainable],
                x[jobs],
                training,
            )
            for jobs, template in self.template_runs
        ]
        logits = tf.concat([p[0] for p in pieces], axis=0)
        state = [tf.concat(group, axis=0) for group in zip(*(p[1] for p in pieces), strict=True)]
        penalty = tf.concat([tf.broadcast_to(p[2], [p[0].shape[0]]) for p in pieces], axis=0)
        return self.output_activation(logits), state, penalty

    def _vectorized_slice(
        self, template: Any, weights: list[Any], non_trainable: list[Any], x: Any, training: bool
    ) -> tuple[Any, list[Any], Any]:
        tf, n_trainable, n_state = self.tf, len(weights), len(non_trainable)

        def one_job(args: tuple[Any, ...]) -> tuple[Any, list[Any], Any]:
            job_weights, state = list(args[:n_trainable]), list(args[n_trainable:-1])
            outputs, new_state, losses = template.stateless_call(
                job_weights, state, args[-1], training=training, return_losses=True
            )
            penalty = tf.add_n(losses) if losses else tf.constant(0.0)
            return outputs, list(new_state), penalty

        if n_state == 0:  # vectorized_map cannot stack an empty list of outputs

            def stateless(args: tuple[Any, ...]) -> tuple[Any, Any]:
                logits, _, penalty = one_job(args)
                return logits, penalty

            logits, penalty = tf.vectorized_map(stateless, (*weights, x))
            new_state: list[Any] = []
        else:
            logits, new_state, penalty = tf.vectorized_map(one_job, (*weights, *non_trainable, x))
        return logits, new_state, penalty

    def _epoch_value(self, mean_row_score: Any) -> Any:
        """The task's history metric from the mean row score (RMSE: √ and the target units)."""
        return self.task.epoch_value(self.tf, mean_row_score, self.data["target_scale"])

    def _row_scores(self, y_true: Any, y_pred: Any) -> Any:
        """The task's history metric per row (1.0 for a right class)."""
        return self.task.row_scores(self.tf, y_true, y_pred)

    def _masked_mean(self, values: Any, mask: Any, weight: Any = None) -> Any:
        """Per-job mean over real rows; with weights, Keras' sum(w·l) / rows."""
        tf = self.tf
        weighted = values * (mask if weight is None else weight)
        return tf.reduce_sum(weighted, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)

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
            total = tf.reduce_sum(self._masked_mean(losses, mask, weight)) + tf.reduce_sum(penalty)
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

    def _shuffled(self, epoch: Any) -> list[Any]:
        """This epoch's order of each job's training rows; padding rows stay last."""
        tf, d = self.tf, self.data
        keys = _shuffle_keys(tf, d["seeds"], epoch, d["train_rows"])
        keys = tf.where(d["train_mask"] > 0, keys, tf.constant(2**33, tf.int64))
        order = tf.argsort(keys, axis=1, stable=True)
        # One gather of all columns: a gather costs about as much per call as per row.
        table = tf.gather(d["train_table"], order, batch_dims=1)
        widths = [int(np.prod(d[name].shape[2:])) for name in TRAIN_COLUMNS]
        tensors = [
            tf.cast(tf.reshape(part, d[name].shape), d[name].dtype)
            for part, name in zip(tf.split(table, widths, axis=2), TRAIN_COLUMNS, strict=True)
        ]
        if self.plan is None:
            return tensors
        size, jobs = self.spec.train.batch_size, len(self.models)
        return [tf.reshape(t, [jobs, self.steps, size, *t.shape[2:]]) for t in tensors]

    def _batch(self, tensors: list[Any], i: Any) -> list[Any]:
        """Step i's rows of each shuffled tensor.

        The plain path takes whole batches (padding rows weigh 0): static shapes keep the
        gradient's graph small. Layers that see the whole batch (batch normalization) get
        the last batch cut at the longest job's rows, as model.fit cuts it.
        """
        tf, size = self.tf, self.spec.train.batch_size
        if self.plan is not None:
            return [tf.gather(t, i, axis=1) for t in tensors]
        batch = slice(i * size, tf.minimum((i + 1) * size, self.longest))
        return [t[:, batch] for t in tensors]

    def _epoch(self, epoch: Any) -> Any:
        tf, d = self.tf, self.data
        shuffled = self._shuffled(epoch)

        def step(i: Any, loss_sum: Any, correct: Any) -> tuple[Any, Any, Any]:
            step_loss, step_correct = self._train_step(*self._batch(shuffled, i))
            return i + 1, loss_sum + step_loss, correct + step_correct

        zeros = tf.zeros_like(d["seeds"], tf.float32)
        _, loss_sum, correct = tf.while_loop(
            lambda i, *_: i < self.steps, step, (tf.constant(0), zeros, zeros)
        )
        rows = tf.reduce_sum(d["train_mask"], axis=1)
        eval_loss, eval_metric, _ = self._scores("eval")
        val_loss, val_metric = eval_loss * 0, eval_metric * 0
        if self.stopping is not None:
            val_loss, val_metric, _ = self._scores("val")
            self._keep_best(epoch, val_loss)
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

    def _keep_best(self, epoch: Any, val_loss: Any) -> None:
        tf = self.tf
        assert self.stopping is not None
        improved = val_loss < self.best_loss - self.stopping.min_delta
        self.best_loss.assign(tf.where(improved, val_loss, self.best_loss))
        self.best_epoch.assign(tf.where(improved, tf.cast(epoch, tf.int32), self.best_epoch))
        for best, current in zip(self.best, (self.params, *self.non_trainable), strict=True):
            shape = tf.concat([tf.shape(improved), tf.ones(tf.rank(current) - 1, tf.int32)], 0)
            best.assign(tf.where(tf.reshape(improved, shape), current, best))

    def patience_ends(self) -> np.ndarray | None:
        """Per job, the epoch count at which early stopping stops it (None: no stopping)."""
        if self.stopping is None:
            return None
        return np.asarray(self.best_epoch.numpy()) + 1 + self.stopping.patience

    def restore_best(self) -> None:
        if self.stopping is None:
            return
        for current, best in zip((self.params, *self.non_trainable), self.best, strict=True):
            current.assign(best)

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
        """Copy the trained stacked variables into each job's Keras model."""
        weights = [np.asarray(w) for w in self.weights()]
        state = [np.asarray(v) for v in self.non_trainable]
        for b, model in enumerate(self.models):
            if isinstance(model, JobModel):
                model.trainable = [w[b] for w in weights]
                model.non_trainable = [v[b] for v in state]
                continue
            pairs = [
                *zip(model.trainable_variables, weights, strict=True),
                *zip(model.non_trainable_variables, state, strict=True),
            ]
            for variable, stacked in pairs:
                variable.assign(stacked[b])


def _trainable(model: Any) -> list[np.ndarray]:
    if isinstance(model, JobModel):
        return model.trainable
    return [np.asarray(v.numpy()) for v in model.trainable_variables]


def _non_trainable(model: Any) -> list[np.ndarray]:
    if isinstance(model, JobModel):
        return model.non_trainable
    return [np.asarray(v.numpy()) for v in model.non_trainable_variables]


@dataclass(frozen=True)
class _PlainStep:
    """One layer of a plain Dense stack: a Dense (its weights' positions) or an activation."""

    layer: Any
    kernel: int | None = None
    bias: int | None = None


# Layers without weights or state that act row by row, so they run unchanged on [B, rows, units].
_ROWWISE_LAYERS = {"Activation", "LeakyReLU", "ELU", "ReLU", "Maxout"}


def _dense_plan(keras: Any, template: Any) -> list[_PlainStep] | None:
    """The template as plain steps, or None when it needs the vectorized Keras call.

    Batch normalization and dropout have state or randomness per job; anything unknown
    also goes the general way.
    """
    if template.non_trainable_variables:
        return None
    position = {id(v): i for i, v in enumerate(template.trainable_variables)}
    plan = []
    for layer in template.layers:
        if type(layer).__name__ in _ROWWISE_LAYERS and not layer.weights:
            plan.append(_PlainStep(layer))
        elif (
            type(layer) is keras.layers.Dense
            and layer.bias_regularizer is None
            and layer.activity_regularizer is None
            and isinstance(layer.kernel_regularizer, keras.regularizers.L1L2 | None)
        ):
            bias = position[id(layer.bias)] if layer.use_bias else None
            plan.append(_PlainStep(layer, position[id(layer.kernel)], bias))
        else:
            return None
    return plan


def _logits_template(spec: Spec, n_features: int) -> tuple[Any, Any]:
    """A model with the same variables whose output layer stops before its activation."""
    keras = import_keras()
    output = spec.model.layers[-1]
    if not isinstance(output.activation, str):
        return build_model(spec, n_features), keras.activations.linear
    layers = [*spec.model.layers[:-1], output.model_copy(update={"activation": "linear"})]
    logits_spec = spec.model_copy(
        update={"model": spec.model.model_copy(update={"layers": layers})}
    )
    return build_model(logits_spec, n_features), keras.activations.get(output.activation)


def without_regularizers(spec: Spec) -> Spec:
    """The spec's network with no kernel penalties (the trainer applies them per job)."""
    layers = [layer.model_copy(update={"kernel_regularizer": None}) for layer in spec.model.layers]
    return spec.model_copy(update={"model": spec.model.model_copy(update={"layers": layers})})


PenaltyPlan = list[tuple[int, "np.ndarray | None", "np.ndarray | None"]]


def _template_runs(job_specs: list[Spec], n_features: int, first: Any) -> list[tuple[slice, Any]]:
    """Consecutive jobs with the same dropout rates, each run with a template of its rates
    (the first run's is the trainer's own template)."""

    def rates(spec: Spec) -> tuple[float, ...]:
        return tuple(layer.dropout for layer in spec.model.layers)

    runs: list[tuple[slice, Any]] = []
    templates = {rates(job_specs[0]): first}
    start = 0
    for end in range(1, len(job_specs) + 1):
        if end < len(job_specs) and rates(job_specs[end]) == rates(job_specs[start]):
            continue
        key = rates(job_specs[start])
        if key not in templates:
            spec = without_regularizers(job_specs[start])
            templates[key] = _logits_template(spec, n_features)[0]
        runs.append((slice(start, end), templates[key]))
        start = end
    return runs


def _penalty_plan(template: Any, job_specs: list[Spec]) -> PenaltyPlan:
    """Per Dense layer with a penalty in some job: its kernel's position, per-job l1 and l2
    factors [B] (None when every job's is 0, as Keras then adds no term)."""
    position = {id(v): i for i, v in enumerate(template.trainable_variables)}
    plan: PenaltyPlan = []
    for index in range(len(job_specs[0].model.layers)):
        strengths = [s.model.layers[index].kernel_regularizer for s in job_specs]
        if all(r is None or (r.l1 == 0 and r.l2 == 0) for r in strengths):
            continue
        l1 = np.array([r.l1 if r else 0.0 for r in strengths], dtype=np.float32)
        l2 = np.array([r.l2 if r else 0.0 for r in strengths], dtype=np.float32)
        kernel = position[id(template.get_layer(f"dense_{index}").kernel)]
        plan.append((kernel, l1 if l1.any() else None, l2 if l2.any() else None))
    return plan


def _config_values(configs: list[dict[str, Any]], key: str) -> list[Any]:
    return [config.get(key) for config in configs]


def _differs(values: list[Any]) -> bool:
    first = json.dumps(values[0], sort_keys=True, default=str)
    return any(json.dumps(v, sort_keys=True, default=str) != first for v in values[1:])


def per_job_optimizer(tf: Any, optimizers: list[Any], params: Any) -> Any:
    """One optimizer for the stacked parameter rows, with per-job hyperparameters.

    A hyperparameter every job shares stays the Python float Keras' own update expects (so
    a bundle computes bit for bit what each job's model would). One that differs becomes a
    [B, 1] tensor in its place: the update's arithmetic broadcasts it over each job's row.
    """
    kind = type(optimizers[0])
    if any(type(o) is not kind for o in optimizers):
        raise Unsupported("different optimizers in one bundle")
    configs = [o.get_config() for o in optimizers]
    # Keras numbers the names of optimizers it makes (adam, adam_1, …): not a setting.
    differing = [k for k in configs[0] if k != "name" and _differs(_config_values(configs, k))]
    own = per_job_optimizer_keys(kind.__name__)
    shared_only = [k for k in differing if k not in own]
    if shared_only:
        raise Unsupported(f"{kind.__name__} {shared_only} differing within one bundle")
    optimizer = kind.from_config(copy.deepcopy(configs[0]))  # it deserializes in place
    optimizer.build([params])
    for key in differing:
        values = _config_values(configs, key)
        if key == "learning_rate":
            _per_job_learning_rate(tf, optimizer, values)
        else:
            setattr(optimizer, key, _column(tf, [float(v) for v in values]))
    return optimizer


def _column(tf: Any, values: list[float]) -> Any:
    """Per-job values as float32 [B, 1], rounded from float64 as Keras rounds Python floats."""
    return tf.constant(np.asarray(values, dtype=np.float64).astype(np.float32)[:, None])


def _per_job_learning_rate(tf: Any, optimizer: Any, values: list[Any]) -> None:
    schedule = optimizer._learning_rate
    if all(isinstance(v, dict) for v in values):  # a schedule: only its start may differ
        configs = [dict(v["config"]) for v in values]
        starts = [float(c.pop("initial_learning_rate")) for c in configs]
        if _differs([{**v, "config": c} for v, c in zip(values, configs, strict=True)]):
            raise Unsupported("learning-rate schedules differing beyond their start")
        schedule.initial_learning_rate = _column(tf, starts)
        return
    if any(isinstance(v, dict) for v in values):
        raise Unsupported("a learning-rate schedule in some jobs only")
    rates = _column(tf, [float(v) for v in values])
    # Keras calls a callable learning rate at every step; a variable would have to be [].
    optimizer._learning_rate = lambda: rates


class JobModel:
    """A job's weights on the Keras model its part shares: one model per spec, not per job.

    `save`, `predict` and `get_weights` first load this job's weights into the shared model,
    so a saved `.keras` file is exactly the job's own model.
    """

    def __init__(self, shared: Any, trainable: list[np.ndarray], non_trainable: list[np.ndarray]):
        self.shared, self.trainable, self.non_trainable = shared, trainable, non_trainable

    @property
    def optimizer(self) -> Any:
        return self.shared.optimizer

    @property
    def loss(self) -> Any:
        return self.shared.loss

    def _load(self) -> Any:
        pairs = [
            *zip(self.shared.trainable_variables, self.trainable, strict=True),
            *zip(self.shared.non_trainable_variables, self.non_trainable, strict=True),
        ]
        for variable, value in pairs:
            variable.assign(value)
        return self.shared

    def save(self, path: Any) -> None:
        self._load().save(path)

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        return self._load().predict(*args, **kwargs)

    def get_weights(self) -> list[np.ndarray]:
        return [np.asarray(w) for w in self._load().get_weights()]


def _initial_dense_weights(spec: Spec, shared: Any, seed: int) -> dict[int, np.ndarray]:
    """The Dense kernels and biases a model built with this seed starts from, by the id of
    the shared model's variable, without building a model.

    Keras draws each random initializer's seed from the global generator when the
    initializer is made (`dense_initializers`, in `build_model`'s order) and the values from
    that seed when the variable is created: calling them gives the built model's weights.
    """
    seed_everything(seed)
    values = {}
    for index, (kernel_init, bias_init) in enumerate(dense_initializers(spec)):
        built = shared.get_layer(f"dense_{index}")
        values[id(built.kernel)] = np.asarray(
            kernel_init(tuple(built.kernel.shape), dtype=built.kernel.dtype)
        )
        if built.use_bias:
            values[id(built.bias)] = np.asarray(
                bias_init(tuple(built.bias.shape), dtype=built.bias.dtype)
            )
    return values


def _dense_only(keras: Any, model: Any) -> bool:
    """Whether a model's only weights are Dense kernels and biases (no state, no seeds)."""
    dense = {id(w) for layer in model.layers if type(layer) is keras.layers.Dense
             for w in layer.weights}  # fmt: skip
    return not model.non_trainable_variables and all(
        id(v) in dense for v in model.trainable_variables
    )


def build_models(
    spec: Spec, n_features: int, seeds: list[int], prepared: list[JobData]
) -> list[Any]:
    """Each job's model, starting from the weights its seed gives.

    A plain Dense stack is built once per spec and each job gets its own starting weights
    on it (`JobModel`); building a Keras model per job costs ~50 ms. Anything else (dropout
    seeds, batch-normalization state) is built per job.
    """
    keras = import_keras()
    # Every job takes the same number of steps per epoch: that of the longest.
    steps = -(-max(len(p.x_train) for p in prepared) // spec.train.batch_size)

    def compiled(seed: int) -> Any:
        seed_everything(seed)
        model = build_model(spec, n_features)
        compile_model(model, spec, steps_per_epoch=steps)
        # Built, so that a saved model's optimizer matches the variables it is loaded with.
        model.optimizer.build(model.trainable_variables)
        return model

    shared = compiled(seeds[0])
    if not _dense_only(keras, shared):
        return [shared, *(compiled(seed) for seed in seeds[1:])]
    models = []
    for seed in seeds:
        initial = _initial_dense_weights(spec, shared, seed)
        trainable = [initial[id(v)] for v in shared.trainable_variables]
        models.append(JobModel(shared, trainable, []))
    return models


def train_bundle(trainer: CompiledTrainer, epochs: int, on_chunk: Any) -> tuple[np.ndarray, float]:
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
