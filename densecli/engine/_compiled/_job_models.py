"""Each job's Keras model: its starting weights, and where its trained weights go back.

Every job starts from exactly the weights a Keras model built from the spec with its own seed
has, those the reference engine (`model.fit`) would start from. A stack of Dense and Dropout
layers is built once per spec and each job keeps its own weights and dropout seed states on it
(`JobModel`); anything else (batch normalization) is a Keras model per job.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from densecli.backend import import_keras, seed_everything
from densecli.engine._model import build_model, compile_model, initial_draws
from densecli.spec import Spec


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
        _assign(self.shared, self.trainable, self.non_trainable)
        return self.shared

    def save(self, path: Any) -> None:
        self._load().save(path)

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        return self._load().predict(*args, **kwargs)

    def get_weights(self) -> list[np.ndarray]:
        return [np.asarray(w) for w in self._load().get_weights()]


def trainable_values(model: Any) -> list[np.ndarray]:
    """A job's trainable weights, from its JobModel or its own Keras model."""
    if isinstance(model, JobModel):
        return model.trainable
    return [np.asarray(v.numpy()) for v in model.trainable_variables]


def non_trainable_values(model: Any) -> list[np.ndarray]:
    """A job's non-trainable weights (layer statistics, seed states)."""
    if isinstance(model, JobModel):
        return model.non_trainable
    return [np.asarray(v.numpy()) for v in model.non_trainable_variables]


def store_values(model: Any, trainable: list[np.ndarray], non_trainable: list[np.ndarray]) -> None:
    """A job's trained weights into its JobModel or its own Keras model."""
    if isinstance(model, JobModel):
        model.trainable, model.non_trainable = trainable, non_trainable
    else:
        _assign(model, trainable, non_trainable)


def _assign(model: Any, trainable: list[np.ndarray], non_trainable: list[np.ndarray]) -> None:
    pairs = [
        *zip(model.trainable_variables, trainable, strict=True),
        *zip(model.non_trainable_variables, non_trainable, strict=True),
    ]
    for variable, value in pairs:
        variable.assign(value)


def _initial_values(spec: Spec, shared: Any, seed: int) -> dict[int, np.ndarray]:
    """The Dense kernels and biases and the dropout seed states a model built with this seed
    starts from, by the id of the shared model's variable, without building a model.

    Keras draws each random initializer's seed, and each dropout's, from the global
    generator when it is made (`initial_draws`, in `build_model`'s order), and the values
    from that seed when the variable is created: calling them gives the built model's.
    """
    seed_everything(seed)
    values = {}
    for index, (kernel_init, bias_init, seeds) in enumerate(initial_draws(spec)):
        built = shared.get_layer(f"dense_{index}")
        values[id(built.kernel)] = np.asarray(
            kernel_init(tuple(built.kernel.shape), dtype=built.kernel.dtype)
        )
        if built.use_bias:
            values[id(built.bias)] = np.asarray(
                bias_init(tuple(built.bias.shape), dtype=built.bias.dtype)
            )
        if seeds is not None:
            state = shared.get_layer(f"dropout_{index}").seed_generator.state
            values[id(state)] = np.asarray(seeds.state.numpy()).astype(state.dtype)
    return values


def _dense_and_dropout_only(keras: Any, model: Any) -> bool:
    """Whether a model's only weights are Dense kernels and biases and its only state the
    dropout layers' seed states (no batch normalization)."""
    dense = {id(w) for layer in model.layers if type(layer) is keras.layers.Dense
             for w in layer.weights}  # fmt: skip
    dropouts = [layer for layer in model.layers if type(layer) is keras.layers.Dropout]
    seeds = {id(d.seed_generator.state) for d in dropouts if hasattr(d, "seed_generator")}
    return all(id(v) in dense for v in model.trainable_variables) and all(
        id(v) in seeds for v in model.non_trainable_variables
    )


def build_models(spec: Spec, n_features: int, seeds: list[int], steps: int) -> list[Any]:
    """Each job's model, starting from the weights its seed gives.

    A stack of Dense and Dropout layers is built once per spec and each job gets its own
    starting weights and dropout seed states on it (`JobModel`); building a Keras model per
    job costs ~50 ms. Anything else (batch-normalization state) is built per job.
    """
    keras = import_keras()
    # `steps`: every job takes the same number of steps per epoch, that of the longest.

    def compiled(seed: int) -> Any:
        seed_everything(seed)
        model = build_model(spec, n_features)
        compile_model(model, spec, steps_per_epoch=steps)
        # Built, so that a saved model's optimizer matches the variables it is loaded with.
        model.optimizer.build(model.trainable_variables)
        return model

    shared = compiled(seeds[0])
    if not _dense_and_dropout_only(keras, shared):
        return [shared, *(compiled(seed) for seed in seeds[1:])]
    models = []
    for seed in seeds:
        initial = _initial_values(spec, shared, seed)
        trainable = [initial[id(v)] for v in shared.trainable_variables]
        non_trainable = [initial[id(v)] for v in shared.non_trainable_variables]
        models.append(JobModel(shared, trainable, non_trainable))
    return models
