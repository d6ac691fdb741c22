"""Property-based: any spec structure and any --set string give a clean error or a valid spec.

"Clean" means a DensecliError (one line per problem at the CLI, exit code 2); anything else
escaping validation would be a traceback in front of the user.
"""

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from densecli.errors import DensecliError
from densecli.spec import Spec, apply_overrides, validate_spec

from conftest import CONFIGS, invoke

BASE: dict[str, Any] = yaml.safe_load((CONFIGS / "pima.yaml").read_text())
KEYS = [
    *("name", "seed", "data", "model", "train", "cv", "layers", "units", "activation"),
    *("init", "kernel_initializer", "bias_initializer", "use_bias", "input_dim", "loss"),
    *("optimizer", "metrics", "epochs", "batch_size", "folds", "path", "target", "header"),
    *("train_rows", "learning_rate"),
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["relu", "sigmoid", "adam", "auto", "uniform", "binary_crossentropy"])
)
keys = st.sampled_from(KEYS) | st.text(max_size=8) | st.integers(-3, 3)
structures = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=25,
)
# Specs that start from the real one and are changed in a few places: deeper than random.
dotted = st.lists(
    st.sampled_from(KEYS) | st.integers(-2, 4).map(str) | st.text(max_size=4),
    min_size=1,
    max_size=4,
).map(".".join)
YAML_VALUES = [
    "5",
    "0",
    "-1",
    "1.5",
    "1e6",
    "nan",
    ".inf",
    "true",
    "null",
    "[]",
    "{}",
    "[8,4]",
    "x",
    "relu",
    "{name:adam}",
    "'",
    "[",
    "{a:[",
]
yaml_values = st.sampled_from([*YAML_VALUES, "", "{name: sgd, learning_rate: 1000.0}"])
valid_set = st.sampled_from(
    [
        "train.epochs=3",
        "seed=11",
        "model.layers.0.units=4",
        "train.optimizer=sgd",
        "cv.folds=3",
        "model.layers.1.activation=tanh",
        "train.batch_size=32",
        "name=prop-test",
    ]
)
structured_set = st.builds(lambda k, v: f"{k}={v}", dotted, yaml_values)
set_strings = structured_set | st.text(max_size=30)


@settings(max_examples=300, deadline=None)
@given(structures)
def test_any_spec_structure_is_valid_or_a_clean_error(raw: Any) -> None:
    try:
        assert isinstance(validate_spec(raw), Spec)
    except DensecliError as err:
        assert err.problems and all(isinstance(p, str) and p for p in err.problems)


@settings(max_examples=300, deadline=None)
@given(st.lists(set_strings, max_size=4))
def test_any_set_strings_apply_and_validate_or_fail_cleanly(overrides: list[str]) -> None:
    try:
        spec = validate_spec(apply_overrides(BASE, overrides))
    except DensecliError as err:
        assert err.problems and all(p for p in err.problems)
    else:
        assert isinstance(spec, Spec)


@pytest.mark.data
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(valid_set | structured_set | st.text(max_size=20), min_size=1, max_size=3))
@example(["a\x85b=1"])  # a key with U+0085 (a line break to str.splitlines) was two lines
def test_validate_command_with_random_set_exits_0_or_2_without_traceback(
    runner: CliRunner, overrides: list[str]
) -> None:
    args = [arg for text in overrides for arg in ("--set", text)]
    result = invoke(runner, "validate", str(CONFIGS / "pima.yaml"), *args)
    assert result.exit_code in (0, 2), (overrides, result.output, result.exception)
    assert "Traceback" not in result.output
    event(f"exit {result.exit_code}")
    if result.exit_code == 2:
        lines = result.output.strip().splitlines()
        assert lines and all(line.startswith("error: ") for line in lines), lines
