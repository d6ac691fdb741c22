"""How class labels are fed to the output layer and loss, and how outputs become classes.

One sigmoid-style unit → labels 0/1; K units → one-hot labels (or integer labels for the
sparse losses). Everything that cannot work is refused here, before any training starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from densecli.errors import ConfigError, DataError
from densecli.spec import DEFAULT_THRESHOLD, Spec

# Losses whose labels are class indices rather than one value per output unit.
_SPARSE_LOSSES = {"sparse_categorical_crossentropy", "sparse_categorical_focal_crossentropy"}
# Losses that compare a distribution over classes: meaningless on a single unit.
CATEGORICAL_LOSSES = {
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_generalized_cross_entropy",
    "categorical_hinge",
    "kl_divergence",
    "kld",
} | _SPARSE_LOSSES


def snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True)
class TargetEncoding:
    kind: Literal["binary", "onehot", "sparse"]
    n_classes: int
    threshold: float = 0.5  # one unit: outputs at or above it mean class 1

    def encode(self, class_index: np.ndarray) -> np.ndarray:
        if self.kind == "binary":
            return class_index.astype(np.float32).reshape(-1, 1)
        if self.kind == "sparse":
            return class_index.astype(np.int32)
        return np.asarray(np.eye(self.n_classes, dtype=np.float32)[class_index])

    def predict(self, outputs: np.ndarray) -> np.ndarray:
        """Class indices from the network's outputs (one unit: the decision threshold)."""
        if self.kind == "binary":
            return np.asarray(outputs[:, 0] >= self.threshold, dtype=np.int64)
        return np.asarray(np.argmax(outputs, axis=1), dtype=np.int64)

    def positive_score(self, outputs: np.ndarray) -> np.ndarray | None:
        """The score of class 1 for ROC AUC on two classes; None for more classes."""
        if self.n_classes != 2:
            return None
        return outputs[:, 0] if self.kind == "binary" else outputs[:, 1]


def target_encoding(spec: Spec, n_classes: int) -> TargetEncoding:
    """Check that output layer, loss and labels fit together; say how to encode labels."""
    index = len(spec.model.layers) - 1
    output = spec.model.layers[-1]
    loss = snake_case(spec.train.loss)
    key = f"model.layers.{index}"
    if output.units == 1:
        if n_classes != 2:
            raise ConfigError(
                f"{key}.units: one output unit separates 2 classes, but the target has "
                f"{n_classes}; use units: {n_classes} with softmax and categorical_crossentropy"
            )
        if isinstance(output.activation, str) and snake_case(output.activation) == "softmax":
            raise ConfigError(
                f"{key}.activation: softmax over a single unit always outputs 1; use sigmoid, "
                "or units: 2 with categorical_crossentropy"
            )
        if loss in CATEGORICAL_LOSSES:
            raise ConfigError(
                f"train.loss: {spec.train.loss} needs one output unit per class ({n_classes}), "
                f"but {key} has 1; use binary_crossentropy or set {key}.units={n_classes}"
            )
        threshold = spec.train.threshold
        return TargetEncoding(
            "binary", n_classes, DEFAULT_THRESHOLD if threshold is None else threshold
        )
    if output.units != n_classes:
        raise ConfigError(
            f"{key}.units: the output layer has {output.units} units but the target has "
            f"{n_classes} classes; use {n_classes} units (softmax)"
            + (" or 1 unit (sigmoid)" if n_classes == 2 else "")
        )
    kind: Literal["onehot", "sparse"] = "sparse" if loss in _SPARSE_LOSSES else "onehot"
    return TargetEncoding(kind, n_classes)


def class_labels(column: np.ndarray, name: str, path: object) -> np.ndarray:
    """The target column as class labels (int64, or text), or an error saying why it is not.

    Text labels are class names (`setosa`, `virginica`); numbers must be whole numbers.
    """
    if column.dtype == object:
        labels = np.asarray([str(c) for c in column], dtype=object)
    elif not np.all(column == np.round(column)):
        raise DataError(
            f"data.target: column {name!r} of {path} holds non-integer values; densecli trains "
            "classifiers, so the target must hold class labels such as 0 and 1"
        )
    else:
        labels = column.astype(np.int64)
    if np.unique(labels).size < 2:
        raise DataError(f"data.target: column {name!r} of {path} holds a single class; need 2+")
    return labels


def class_name(label: object) -> int | str:
    """A class label as JSON and CSV show it: an int, or its text."""
    return label if isinstance(label, str) else int(label)  # type: ignore[call-overload]
