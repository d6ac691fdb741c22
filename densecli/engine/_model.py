"""Keras models from the spec's layer list. Names go through Keras' own `get` resolvers.

Keras already knows the tutorial's `uniform` and `normal` initializers (RandomUniform in
±0.05 and RandomNormal with stddev 0.05, as in Keras 1), so no alias table is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from densecli.backend import import_keras
from densecli.errors import ConfigError, RunsError
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


# Activations that take parameters are Keras layers; a bare name stays a Dense activation.
_ACTIVATION_LAYERS = {"leaky_relu": "LeakyReLU", "elu": "ELU", "relu": "ReLU"}


def _activation_layer(
    keras: Any, activation: str | dict[str, Any], key: str, layer_name: str
) -> Any:
    if isinstance(activation, str):
        return keras.layers.Activation(
            _resolve(keras.activations.get, activation, key, "activation", keras.activations),
            name=layer_name,
        )
    name = activation["name"]
    params = {k: v for k, v in activation.items() if k != "name"}
    if name not in _ACTIVATION_LAYERS:
        raise ConfigError(
            f"{key}: {name!r} takes no parameters here; parametrised activations are "
            f"{', '.join(_ACTIVATION_LAYERS)} (or give just the name)"
        )
    try:
        return getattr(keras.layers, _ACTIVATION_LAYERS[name])(**params, name=layer_name)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{key}: bad parameters {params} for {name} ({err})") from None


def _initializers(keras: Any, layer: LayerSpec, index: int) -> tuple[Any, Any]:
    """A Dense layer's kernel and bias initializers. Making a random one draws its seed from
    the global generator: this is the only randomness in making a plain Dense stack."""
    key = f"model.layers.{index}"
    return (
        _resolve(
            keras.initializers.get,
            layer.kernel_initializer,
            f"{key}.kernel_initializer",
            "initializer",
            keras.initializers,
        ),
        _resolve(
            keras.initializers.get,
            layer.bias_initializer,
            f"{key}.bias_initializer",
            "initializer",
            keras.initializers,
        ),
    )


def initial_draws(spec: Spec) -> list[tuple[Any, Any, Any]]:
    """Every layer's random draws, made in the order `build_model` makes them: its Dense
    kernel and bias initializers, then its dropout's seed generator (None without dropout).
    Making each draws its seed from the global generator, so after the same global seed a
    stack of Dense and Dropout layers gets from them exactly the starting weights and seed
    states `build_model` gives it, without building a model."""
    keras = import_keras()
    draws = []
    for index, layer in enumerate(spec.model.layers):
        kernel, bias = _initializers(keras, layer, index)
        seeds = keras.random.SeedGenerator() if layer.dropout else None  # as Dropout makes it
        draws.append((kernel, bias, seeds))
    return draws


def _block(keras: Any, layer: LayerSpec, index: int) -> list[Any]:
    """Dense → [batch norm] → activation or maxout → [dropout], as Keras layers."""
    key = f"model.layers.{index}"
    plain = isinstance(layer.activation, str) and not layer.batch_norm and layer.maxout is None
    regularizer = layer.kernel_regularizer
    kernel_initializer, bias_initializer = _initializers(keras, layer, index)
    dense = keras.layers.Dense(
        layer.units * (layer.maxout or 1),
        activation=(
            _resolve(
                keras.activations.get,
                layer.activation,
                f"{key}.activation",
                "activation",
                keras.activations,
            )
            if plain
            else None
        ),
        kernel_initializer=kernel_initializer,
        bias_initializer=bias_initializer,
        kernel_regularizer=keras.regularizers.L1L2(regularizer.l1, regularizer.l2)
        if regularizer
        else None,
        use_bias=layer.use_bias,
        name=f"dense_{index}",
    )
    block = [dense]
    if layer.batch_norm:
        block.append(keras.layers.BatchNormalization(name=f"batch_norm_{index}"))
    if layer.maxout is not None:
        from densecli.engine._layers import Maxout

        block.append(Maxout(layer.maxout, name=f"maxout_{index}"))
    elif not plain:
        block.append(
            _activation_layer(keras, layer.activation, f"{key}.activation", f"activation_{index}")
        )
    if layer.dropout:
        block.append(keras.layers.Dropout(layer.dropout, name=f"dropout_{index}"))
    return block


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
    layers = [part for i, layer in enumerate(spec.model.layers) for part in _block(keras, layer, i)]
    return keras.Sequential([keras.Input((n_features,)), *layers], name=spec.name)


def compile_model(
    model: Any, spec: Spec, steps_per_epoch: int = 1, metrics: list[Any] | None = None
) -> None:
    """Loss, optimizer and metrics (the spec's train.metrics unless the task gives its own)."""
    keras = import_keras()
    model.compile(
        loss=_resolve(keras.losses.get, spec.train.loss, "train.loss", "loss", keras.losses),
        optimizer=_optimizer(keras, spec, steps_per_epoch),
        metrics=metrics
        if metrics is not None
        else [_metric(keras, name, i) for i, name in enumerate(spec.train.metrics or [])],
    )


def make_optimizer(spec: Spec, steps_per_epoch: int = 1) -> Any:
    """The spec's Keras optimizer (with its schedule), without a model."""
    return _optimizer(import_keras(), spec, steps_per_epoch)


def _optimizer(keras: Any, spec: Spec, steps_per_epoch: int) -> Any:
    optimizer = _resolve(
        keras.optimizers.get,
        spec.train.optimizer,
        "train.optimizer",
        "optimizer",
        keras.optimizers,
        lower_only=False,
    )
    schedule = spec.train.schedule
    if schedule is None or schedule.name != "cosine":
        return optimizer  # reduce_on_plateau is a callback of the fit engine
    config = optimizer.get_config()
    config["learning_rate"] = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=float(config["learning_rate"]),
        decay_steps=spec.train.epochs * steps_per_epoch,
        alpha=schedule.alpha,
    )
    return optimizer.__class__.from_config(config)


def _metric(keras: Any, name: str, index: int) -> Any:
    if name in {"accuracy", "acc"}:
        return name  # Keras picks binary or categorical accuracy from the output shape
    return _resolve(keras.metrics.get, name, f"train.metrics.{index}", "metric", keras.metrics)


def register_custom_layers() -> None:
    """Register densecli's own Keras layers (Maxout), so saved models that use them load."""
    import densecli.engine._layers  # noqa: F401  (registering is the import's effect)


def load_saved_model(path: Path) -> Any:
    """A run's saved `.keras` model, or a one-line error naming the file when it is damaged."""
    keras = import_keras()
    register_custom_layers()  # so saved maxout models load
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as err:  # Keras raises ValueError, OSError, zipfile's BadZipFile, …
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise RunsError(
            f"{path}: cannot load this model ({type(err).__name__}: {reason}); the file is "
            "damaged or incomplete; train the run again"
        ) from None
