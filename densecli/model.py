"""Keras models from the spec's layer list. Names go through Keras' own `get` resolvers.

Keras already knows the tutorial's `uniform` and `normal` initializers (RandomUniform in
±0.05 and RandomNormal with stddev 0.05, as in Keras 1), so no alias table is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from densecli.backend import import_keras
from densecli.errors import ConfigError
from densecli.spec import LayerSpec, Spec

_NOT_NAMES = {"get", "serialize", "deserialize", "legacy", "schedules"}


def _public_names(module: Any, lower_only: bool = True) -> str:
    names = [
        n
        for n in dir(module)
        if not n.startswith("_") and n not in _NOT_NAMES and (n[0].islower() or not lower_only)
    ]
    return ", ".join(sorted(names))


def _resolve(
    get: Callable[[Any], Any],
    identifier: str | dict[str, Any],
    key: str,
    kind: str,
    module: Any,
    lower_only: bool = True,
) -> Any:
    """One Keras object from a name or a `{name, **params}` mapping, or a one-line error."""
    if isinstance(identifier, str):
        name, params = identifier, {}
    else:
        name = identifier["name"]
        params = {k: v for k, v in identifier.items() if k != "name"}
    try:
        resolved = get(name)
    except (ValueError, TypeError):
        raise ConfigError(
            f"{key}: unknown {kind} {name!r}; expected one of: {_public_names(module, lower_only)}"
        ) from None
    if not params:
        return resolved
    try:
        return get({"class_name": name, "config": params})
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{key}: bad parameters {params} for {kind} {name!r} ({err})") from None


def _dense(keras: Any, layer: LayerSpec, index: int) -> Any:
    key = f"model.layers.{index}"
    return keras.layers.Dense(
        layer.units,
        activation=_resolve(
            keras.activations.get,
            layer.activation,
            f"{key}.activation",
            "activation",
            keras.activations,
        ),
        kernel_initializer=_resolve(
            keras.initializers.get,
            layer.kernel_initializer,
            f"{key}.kernel_initializer",
            "initializer",
            keras.initializers,
        ),
        bias_initializer=_resolve(
            keras.initializers.get,
            layer.bias_initializer,
            f"{key}.bias_initializer",
            "initializer",
            keras.initializers,
        ),
        use_bias=layer.use_bias,
        name=f"dense_{index}",
    )


def check_input_dim(spec: Spec, n_features: int) -> None:
    declared = spec.model.layers[0].input_dim
    if declared is not None and declared != n_features:
        raise ConfigError(
            f"model.layers.0.input_dim: {declared}, but the data has {n_features} feature "
            f"columns; set it to {n_features} or remove it (it is inferred)"
        )


def build_model(spec: Spec, n_features: int) -> Any:
    """An uncompiled Sequential model; initial weights follow the global Keras seed."""
    keras = import_keras()
    check_input_dim(spec, n_features)
    layers = [_dense(keras, layer, i) for i, layer in enumerate(spec.model.layers)]
    return keras.Sequential([keras.Input((n_features,)), *layers], name=spec.name)


def compile_model(model: Any, spec: Spec) -> None:
    keras = import_keras()
    model.compile(
        loss=_resolve(keras.losses.get, spec.train.loss, "train.loss", "loss", keras.losses),
        optimizer=_resolve(
            keras.optimizers.get,
            spec.train.optimizer,
            "train.optimizer",
            "optimizer",
            keras.optimizers,
            lower_only=False,
        ),
        metrics=[_metric(keras, name, i) for i, name in enumerate(spec.train.metrics)],
    )


def _metric(keras: Any, name: str, index: int) -> Any:
    if name in {"accuracy", "acc"}:
        return name  # Keras picks binary or categorical accuracy from the output shape
    return _resolve(keras.metrics.get, name, f"train.metrics.{index}", "metric", keras.metrics)
