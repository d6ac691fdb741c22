import numpy as np
import pytest

from densecli.errors import ConfigError
from densecli.spec import load_spec
from densecli.tasks import target_encoding

from conftest import CONFIGS


def _spec(*overrides: str):  # type: ignore[no-untyped-def]
    return load_spec(CONFIGS / "pima.yaml", list(overrides))


def test_one_sigmoid_unit_gets_zero_one_labels() -> None:
    encoding = target_encoding(_spec(), 2)
    assert encoding.kind == "binary"
    assert encoding.encode(np.array([0, 1])).tolist() == [[0.0], [1.0]]
    assert encoding.predict(np.array([[0.2], [0.5], [0.9]])).tolist() == [0, 1, 1]


def test_softmax_with_categorical_crossentropy_gets_one_hot_labels() -> None:
    encoding = target_encoding(load_spec(CONFIGS / "pima-softmax.yaml"), 2)
    assert encoding.kind == "onehot"
    assert encoding.encode(np.array([1, 0])).tolist() == [[0, 1], [1, 0]]
    assert encoding.predict(np.array([[0.3, 0.7]])).tolist() == [1]


def test_sparse_categorical_crossentropy_keeps_class_indices() -> None:
    spec = load_spec(CONFIGS / "pima-softmax.yaml", ["train.loss=sparse_categorical_crossentropy"])
    assert target_encoding(spec, 2).encode(np.array([1, 0])).tolist() == [1, 0]


@pytest.mark.parametrize(
    "loss",
    [
        "mean_squared_error",
        "mae",
        "mean_absolute_percentage_error",
        "mean_squared_logarithmic_error",
        "binary_crossentropy",
    ],
)
def test_tutorial_losses_work_with_one_unit(loss: str) -> None:
    assert target_encoding(_spec(f"train.loss={loss}"), 2).kind == "binary"


@pytest.mark.parametrize(
    ("overrides", "classes", "message"),
    [
        (
            ["model.layers.2.activation=softmax"],
            2,
            "model.layers.2.activation: softmax over a single unit",
        ),
        (
            ["train.loss=categorical_crossentropy"],
            2,
            "train.loss: categorical_crossentropy needs one output unit per class",
        ),
        (
            ["model.layers.2.units=3"],
            2,
            "model.layers.2.units: the output layer has 3 units but the target has 2 classes",
        ),
        ([], 3, "model.layers.2.units: one output unit separates 2 classes, but the target has 3"),
    ],
)
def test_output_layer_loss_and_labels_must_fit(
    overrides: list[str], classes: int, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        target_encoding(_spec(*overrides), classes)


def test_the_decision_threshold_moves_predictions() -> None:
    encoding = target_encoding(_spec("train.threshold=0.3"), 2)
    assert encoding.predict(np.array([[0.2], [0.35]])).tolist() == [0, 1]
