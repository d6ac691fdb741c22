"""The experiment spec: YAML plus `--set` overrides, validated and typed. No TensorFlow here."""

from densecli.spec._jsonschema import SCHEMA_COMMENT, SCHEMA_FILENAME, schema_text, spec_schema
from densecli.spec._model import (
    CVSpec,
    DataSpec,
    EarlyStoppingSpec,
    LayerSpec,
    ModelSpec,
    PreprocessSpec,
    RegularizerSpec,
    ScheduleSpec,
    Spec,
    TrainSpec,
    load_spec,
    read_yaml,
    validate_spec,
)
from densecli.spec._overrides import apply_overrides, assign_value, load_yaml, parse_override
from densecli.spec._starter import starter_text, write_starter

__all__ = [
    "SCHEMA_COMMENT",
    "SCHEMA_FILENAME",
    "CVSpec",
    "DataSpec",
    "EarlyStoppingSpec",
    "LayerSpec",
    "ModelSpec",
    "PreprocessSpec",
    "RegularizerSpec",
    "ScheduleSpec",
    "Spec",
    "TrainSpec",
    "apply_overrides",
    "assign_value",
    "load_spec",
    "load_yaml",
    "parse_override",
    "read_yaml",
    "schema_text",
    "spec_schema",
    "starter_text",
    "validate_spec",
    "write_starter",
]
