"""Layers Keras does not ship. Registered for saving, so `.keras` files load after import."""

from __future__ import annotations

from typing import Any

from densecli.backend import import_keras

keras = import_keras()


@keras.saving.register_keras_serializable(package="densecli")
class Maxout(keras.layers.Layer):  # type: ignore[misc,name-defined]
    """max over `pieces` groups of units: the tutorial's max(w1·x+b1, w2·x+b2).

    Follows a Dense layer of units × pieces; output has `units` values.
    """

    def __init__(self, pieces: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pieces = pieces

    def call(self, inputs: Any) -> Any:
        ops = keras.ops
        units = ops.shape(inputs)[-1] // self.pieces
        grouped = ops.reshape(inputs, (*ops.shape(inputs)[:-1], units, self.pieces))
        return ops.max(grouped, axis=-1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        last = input_shape[-1]
        return (*input_shape[:-1], None if last is None else last // self.pieces)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pieces": self.pieces}
