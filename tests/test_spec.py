from pathlib import Path

import pytest
import yaml

from densecli.errors import ConfigError
from densecli.spec import load_spec, validate_spec

from conftest import CONFIGS


def test_tutorial_config_is_the_tutorial_experiment() -> None:
    spec = load_spec(CONFIGS / "pima.yaml")
    assert [layer.units for layer in spec.model.layers] == [12, 8, 1]
    assert [layer.activation for layer in spec.model.layers] == ["relu", "relu", "sigmoid"]
    assert spec.model.layers[0].input_dim == 8
    assert (spec.train.loss, spec.train.optimizer, spec.train.metrics) == (
        "binary_crossentropy",
        "adam",
        ["accuracy"],
    )
    assert (spec.train.epochs, spec.train.batch_size, spec.data.train_rows) == (1500, 64, 700)


def test_init_is_an_alias_of_kernel_initializer() -> None:
    spec = load_spec(CONFIGS / "pima-uniform.yaml")
    assert [layer.kernel_initializer for layer in spec.model.layers] == ["uniform"] * 3
    assert "init" not in spec.resolved()["model"]["layers"][0]


def test_set_overrides_are_typed_and_applied_before_validation() -> None:
    spec = load_spec(
        CONFIGS / "pima.yaml",
        [
            "train.epochs=5",
            "seed=3",
            "cv.folds=5",
            "model.layers.0.units=16",
            "train.optimizer={name: adam, learning_rate: 0.01}",
        ],
    )
    assert (spec.train.epochs, spec.seed, spec.cv.folds) == (5, 3, 5)
    assert spec.model.layers[0].units == 16
    assert spec.train.optimizer == {"name": "adam", "learning_rate": 0.01}


def test_resolved_spec_round_trips(tmp_path: Path) -> None:
    spec = load_spec(CONFIGS / "pima-softmax.yaml")
    again = validate_spec(yaml.safe_load(yaml.safe_dump(spec.resolved())))
    assert again == spec


@pytest.mark.parametrize(
    ("raw_change", "message"),
    [
        ({"train": {"epoch": 5}}, "train.epoch: unknown key; did you mean 'epochs'?"),
        ({"train": {"epochs": 0}}, "train.epochs: input should be greater than or equal to 1"),
        ({"train": {"epochs": "many"}}, "train.epochs: input should be a valid integer"),
        ({"model": {"layers": []}}, "model.layers: list should have at least 1 item"),
        (
            {"model": {"layers": [{"units": 4}, {"units": 1, "input_dim": 4}]}},
            "model.layers.1.input_dim: only the first layer takes input_dim",
        ),
        ({"seed": -1}, "seed: input should be greater than or equal to 0"),
    ],
)
def test_invalid_specs_name_the_key(raw_change: dict[str, object], message: str) -> None:
    raw = yaml.safe_load((CONFIGS / "pima.yaml").read_text())
    raw.update(raw_change)
    with pytest.raises(ConfigError) as caught:
        validate_spec(raw)
    assert any(message in problem for problem in caught.value.problems), caught.value.problems


def test_every_problem_is_reported_on_its_own_line() -> None:
    raw = yaml.safe_load((CONFIGS / "pima.yaml").read_text())
    raw["train"].update({"epochs": -2, "batch_size": 0})
    with pytest.raises(ConfigError) as caught:
        validate_spec(raw)
    assert len(caught.value.problems) == 2
    assert all("\n" not in problem for problem in caught.value.problems)
