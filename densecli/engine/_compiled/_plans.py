"""How a bundle's forward pass runs, decided once from template models before training.

The template is a Keras model with the bundle's variables whose output layer stops before its
activation (the cross-entropies see logits, as in model.fit). The dense plan says whether the
template is a plain Dense stack (run as batched matmuls); the penalty plan holds each job's
L1/L2 strengths; template runs group jobs whose Keras call differs only in dropout rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from densecli.backend import import_keras
from densecli.engine._model import build_model
from densecli.spec import Spec


@dataclass(frozen=True)
class PlainStep:
    """One layer of a plain Dense stack: a Dense (its weights' positions) or an activation."""

    layer: Any
    kernel: int | None = None
    bias: int | None = None


# Layers without weights or state that act row by row, so they run unchanged on [B, rows, units].
_ROWWISE_LAYERS = {"Activation", "LeakyReLU", "ELU", "ReLU", "Maxout"}

# Per Dense layer with a penalty: its kernel's position, per-job l1 and l2 factors [B].
PenaltyPlan = list[tuple[int, "np.ndarray | None", "np.ndarray | None"]]


def dense_plan(keras: Any, template: Any) -> list[PlainStep] | None:
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
            plan.append(PlainStep(layer))
        elif (
            type(layer) is keras.layers.Dense
            and layer.bias_regularizer is None
            and layer.activity_regularizer is None
            and isinstance(layer.kernel_regularizer, keras.regularizers.L1L2 | None)
        ):
            bias = position[id(layer.bias)] if layer.use_bias else None
            plan.append(PlainStep(layer, position[id(layer.kernel)], bias))
        else:
            return None
    return plan


def logits_template(spec: Spec, n_features: int) -> tuple[Any, Any]:
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


def template_runs(job_specs: list[Spec], n_features: int, first: Any) -> list[tuple[slice, Any]]:
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
            templates[key] = logits_template(spec, n_features)[0]
        runs.append((slice(start, end), templates[key]))
        start = end
    return runs


def penalty_plan(template: Any, job_specs: list[Spec]) -> PenaltyPlan:
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
