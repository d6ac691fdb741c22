"""The bundle's forward pass over stacked weights [B, ...], and each job's kernel penalties.

Two ways. A stack of Dense layers with their activations (plus weightless activation layers
such as LeakyReLU or Maxout, and L1/L2 kernel penalties) — the common case — runs as batched
matmuls over the job axis with the layers' own activation functions. Anything else (dropout,
batch normalization) runs the Keras model's own `stateless_call` under `tf.vectorized_map`:
dropout and batch normalization run as Keras defines them, each job with its own moving
statistics and seed state. Both run on whole batches of static shape unless a layer sees the
whole batch (batch normalization).
"""

from __future__ import annotations

from typing import Any

from densecli.backend import import_keras
from densecli.engine._compiled._plans import (
    dense_plan,
    logits_template,
    penalty_plan,
    template_runs,
    without_regularizers,
)
from densecli.spec import Spec


class Forward:
    """Outputs [B, rows, units] of a bundle of identically built networks.

    Kernel penalties are applied per job here, with each job's own strengths, so the
    templates are built without them.
    """

    def __init__(self, spec: Spec, job_specs: list[Spec], n_features: int):
        keras = import_keras()
        import tensorflow as tf

        self.tf = tf
        self.template, self.output_activation = logits_template(
            without_regularizers(spec), n_features
        )
        self.plan = dense_plan(keras, self.template)
        self.penalties = penalty_plan(self.template, job_specs)
        # Runs of jobs whose Keras call differs only in dropout rates: one template each.
        self.template_runs = template_runs(job_specs, n_features, self.template)
        # Whether every batch may have the static shape (padding rows weighing 0): unless a
        # layer sees the whole batch (batch normalization), padding rows change no real row's
        # numbers, dropout's included (a row's draws do not depend on the rows after it). A
        # cut last batch would run its element-wise kernels on a per-job length that is not
        # a whole number of SIMD packets: the last job's last rows would then be computed one
        # by one, in other bits than in a packet.
        self.whole_batches = not any(layer.batch_norm for layer in spec.model.layers)

    @property
    def plain(self) -> bool:
        """Whether the bundle runs as batched matmuls."""
        return self.plan is not None

    def __call__(
        self, weights: list[Any], non_trainable: list[Any], x: Any, training: bool
    ) -> tuple[Any, list[Any], Any]:
        """Outputs, updated non-trainable values, regularization loss.

        The penalty's sum over jobs is what the gradient needs: it is [B] or a scalar.
        """
        if self.plan is not None:
            return self.output_activation(self._plain_logits(weights, x)), [], self.penalty(weights)
        outputs, new_state, penalty = self.vectorized(weights, non_trainable, x, training)
        return outputs, new_state, penalty + self.penalty(weights)

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
                h = self._add_bias(h, weights[step.bias])
            h = step.layer.activation(h)
        return h

    def _add_bias(self, h: Any, bias: Any) -> Any:
        """Each job's bias [B, units] added to every row of h [B, rows, units].

        Broadcast, as Keras adds it; but its gradient is taken as ones^T @ grad per job (a
        batched matmul) instead of TensorFlow's sum over the middle axis of [B, rows,
        units], whose last bits depend on a job's position in the bundle when units is not
        a multiple of 8 (12 units: every odd position).
        """
        tf = self.tf

        @tf.custom_gradient  # type: ignore[untyped-decorator]
        def add(h: Any, bias: Any) -> tuple[Any, Any]:
            def gradient(upstream: Any) -> tuple[Any, Any]:
                ones = tf.ones([upstream.shape[0], 1, tf.shape(upstream)[1]], upstream.dtype)
                return upstream, tf.squeeze(tf.matmul(ones, upstream), axis=1)

            return h + bias[:, None, :], gradient

        return add(h, bias)

    def penalty(self, weights: list[Any]) -> Any:
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

    def vectorized(
        self, weights: list[Any], non_trainable: list[Any], x: Any, training: bool
    ) -> tuple[Any, list[Any], Any]:
        """Any Keras model: its own `stateless_call`, vectorized over the job axis; jobs
        with other dropout rates run their own template's call over their slice."""
        if len(self.template_runs) == 1:
            logits, state, penalty = self._vectorized_slice(
                self.template, weights, non_trainable, x, training
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
                [v[jobs] for v in non_trainable],
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
        """The template's call vectorized over a slice of jobs. A slice of one job runs as
        two copies of it, keeping the first: `vectorized_map` runs a loop of one as the
        unbatched model, on other kernels than a batch of jobs (other last bits), so the job
        would train otherwise alone than beside others."""
        if x.shape[0] != 1:
            return self._vectorized_jobs(template, weights, non_trainable, x, training)
        twice = [self.tf.concat([v, v], axis=0) for v in (*weights, *non_trainable, x)]
        trainable, state = twice[: len(weights)], twice[len(weights) : -1]
        logits, new_state, penalty = self._vectorized_jobs(
            template, trainable, state, twice[-1], training
        )
        return logits[:1], [v[:1] for v in new_state], penalty[:1]

    def _vectorized_jobs(
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
