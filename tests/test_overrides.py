import pytest

from densecli.errors import ConfigError
from densecli.spec import apply_overrides, parse_override


def test_values_are_yaml_scalars() -> None:
    assert parse_override("train.epochs=5") == (["train", "epochs"], 5)
    assert parse_override("x=0.01") == (["x"], 0.01)
    assert parse_override("x=true") == (["x"], True)
    assert parse_override("x=relu") == (["x"], "relu")
    assert parse_override("x=[1, 2]") == (["x"], [1, 2])


def test_list_items_are_addressed_by_index_and_the_input_is_not_changed() -> None:
    raw = {"model": {"layers": [{"units": 1}, {"units": 2}]}}
    changed = apply_overrides(raw, ["model.layers.1.units=9", "model.layers.-1.activation=tanh"])
    assert changed["model"]["layers"][1] == {"units": 9, "activation": "tanh"}
    assert raw["model"]["layers"][1] == {"units": 2}


def test_new_sections_are_created_for_validation_to_judge() -> None:
    assert apply_overrides({}, ["cv.folds=5"]) == {"cv": {"folds": 5}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train.epochs", "expected KEY=VALUE"),
        ("=5", "expected KEY=VALUE"),
        ("train..epochs=5", "the key has an empty part"),
        ("model.layers.7.units=5", "index 7 is out of range; the list has 1 items"),
        ("model.layers.first.units=5", "'first' indexes a list"),
        ("seed.value=5", "'value' is inside a value that is not a mapping or list"),
        ("name=[unclosed", "the value is not valid YAML"),
    ],
)
def test_malformed_overrides_are_clear_errors(text: str, message: str) -> None:
    raw = {"seed": 1, "model": {"layers": [{"units": 1}]}}
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        apply_overrides(raw, [text])
