import pytest

from densecli.engine import build_model, compile_model
from densecli.errors import ConfigError
from densecli.spec import load_spec

from conftest import CONFIGS


def test_tutorial_network_has_221_parameters() -> None:
    model = build_model(load_spec(CONFIGS / "pima.yaml"), 8)
    assert model.count_params() == (8 * 12 + 12) + (12 * 8 + 8) + (8 + 1)
    assert [layer.units for layer in model.layers] == [12, 8, 1]


def test_tutorial_uniform_init_is_keras_random_uniform_in_005() -> None:
    model = build_model(load_spec(CONFIGS / "pima-uniform.yaml"), 8)
    config = model.layers[0].kernel_initializer.get_config()
    assert (config["minval"], config["maxval"]) == (-0.05, 0.05)
    assert float(abs(model.layers[0].kernel).numpy().max()) <= 0.05


def test_optimizer_mapping_passes_its_parameters() -> None:
    spec = load_spec(CONFIGS / "pima.yaml", ["train.optimizer={name: sgd, learning_rate: 0.25}"])
    model = build_model(spec, 8)
    compile_model(model, spec)
    assert type(model.optimizer).__name__ == "SGD"
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "model.layers.0.activation=relux",
            "model.layers.0.activation: unknown activation 'relux'; expected one of: celu",
        ),
        (
            "model.layers.1.init=unifrom",
            "model.layers.1.kernel_initializer: unknown initializer 'unifrom'",
        ),
        ("train.loss=msex", "train.loss: unknown loss 'msex'"),
        ("train.optimizer=adamm", "train.optimizer: unknown optimizer 'adamm'"),
        ("train.optimizer={name: adam, learnin_rate: 0.1}", "train.optimizer: bad parameters"),
        (
            "model.layers.0.input_dim=9",
            "model.layers.0.input_dim: 9, but the data has 8 feature columns",
        ),
    ],
)
def test_unknown_names_are_one_line_errors(override: str, message: str) -> None:
    spec = load_spec(CONFIGS / "pima.yaml", [override])
    with pytest.raises(ConfigError, match=message) as caught:
        compile_model(build_model(spec, 8), spec)
    assert "\n" not in str(caught.value)
