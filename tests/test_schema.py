"""`densecli schema`, the committed densecli.schema.json and the shipped configs' schema line."""

import json
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from conftest import CONFIGS, ROOT, invoke

# Specs; sweep files (sweep-*.yaml) are not specs and are checked in test_sweep.
SHIPPED = sorted(p for p in CONFIGS.glob("*.yaml") if not p.name.startswith(("sweep-", "tune-")))


def test_committed_schema_file_equals_the_command_output(runner: CliRunner) -> None:
    result = invoke(runner, "schema")
    assert result.exit_code == 0, result.output
    committed = (ROOT / "densecli.schema.json").read_text(encoding="utf-8")
    assert result.output == committed, "regenerate: densecli schema > densecli.schema.json"


def test_schema_forbids_unknown_keys_and_knows_the_init_alias(runner: CliRunner) -> None:
    schema = json.loads(invoke(runner, "schema").output)
    assert schema["additionalProperties"] is False and schema["required"] == ["model"]
    layer = schema["$defs"]["LayerSpec"]
    assert layer["additionalProperties"] is False
    assert {"units", "init", "kernel_initializer"} <= set(layer["properties"])


def _unknown_keys(
    value: Any, schema: dict[str, Any], root: dict[str, Any], where: str
) -> list[str]:
    """Keys the schema would flag; enough of JSON Schema for the shapes our spec uses."""
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    if isinstance(value, list) and "items" in schema:
        return [
            k
            for i, v in enumerate(value)
            for k in _unknown_keys(v, schema["items"], root, f"{where}.{i}")
        ]
    if not isinstance(value, dict) or "properties" not in schema:
        return []
    found = [f"{where}.{k}" for k in value if k not in schema["properties"]]
    for key, sub in value.items():
        if key in schema["properties"]:
            found += _unknown_keys(sub, schema["properties"][key], root, f"{where}.{key}")
    return found


@pytest.mark.parametrize("config", SHIPPED, ids=lambda p: p.name)
def test_shipped_configs_point_editors_at_the_schema(config) -> None:  # type: ignore[no-untyped-def]
    first = config.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../densecli.schema.json"
    assert (config.parent / "../densecli.schema.json").resolve().is_file()
    schema = json.loads((ROOT / "densecli.schema.json").read_text(encoding="utf-8"))
    assert _unknown_keys(yaml.safe_load(config.read_text()), schema, schema, "spec") == []


def test_the_key_check_would_catch_a_typo() -> None:
    schema = json.loads((ROOT / "densecli.schema.json").read_text(encoding="utf-8"))
    spec = {"model": {"layers": [{"units": 1, "activaton": "relu"}]}, "train": {"epoch": 3}}
    assert _unknown_keys(spec, schema, schema, "spec") == [
        "spec.model.layers.0.activaton",
        "spec.train.epoch",
    ]
