"""`--set key=value` overrides, applied to the loaded YAML before validation (as nanoGPT does).

Keys are dotted paths (`train.epochs`, `model.layers.0.units`); a number indexes a list.
Values are parsed as YAML scalars, so `5` is an int, `0.01` a float, `true` a bool and
`[8, 4]` a list. Setting a key that does not exist creates it, and validation then names it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any

import yaml

from densecli.errors import ConfigError


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping gives the same key twice: YAML says that is an error, PyYAML keeps the last."""


class SpecLoader(yaml.SafeLoader):
    """YAML as people write numbers: PyYAML (YAML 1.1) reads `1e-3` as a string, this as 0.001.
    A key given twice in one mapping is an error, as an unknown key is."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base` merges are PyYAML's to resolve
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, str | int | float | bool) and key in seen:
                raise DuplicateKeyError(
                    None,
                    None,
                    f"key {key!r} is given twice, at lines {seen[key]} and {line}; keep one",
                    key_node.start_mark,
                )
            if isinstance(key, str | int | float | bool):
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(text: str) -> Any:
    return yaml.load(text, SpecLoader)  # a SafeLoader subclass: no arbitrary objects


def parse_override(text: str) -> tuple[list[str], Any]:
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, for example --set train.epochs=5")
    parts = key.split(".")
    if any(not part for part in parts):
        raise ConfigError(
            f"--set {text!r}: the key has an empty part; write it like model.layers.0.units"
        )
    try:
        parsed = load_yaml(value) if value.strip() else None
    except yaml.YAMLError:
        raise ConfigError(
            f"--set {text!r}: the value is not valid YAML; quote it, "
            "for example --set name='\"my run\"'"
        ) from None
    return parts, parsed


def _descend(node: Any, part: str, key: str) -> Any:
    if isinstance(node, dict):
        if isinstance(node.get(part), str):
            # `train.optimizer.learning_rate` on `optimizer: adam`: a name becomes {name: adam},
            # the form that takes parameters.
            node[part] = {"name": node[part]}
        return node.setdefault(part, {})
    if isinstance(node, list):
        return node[_list_index(node, part, key)]
    raise ConfigError(f"--set {key}: '{part}' is inside a value that is not a mapping or list")


def _list_index(node: list[Any], part: str, key: str) -> int:
    try:
        index = int(part)
    except ValueError:
        raise ConfigError(f"--set {key}: '{part}' indexes a list; use a number such as 0") from None
    if not -len(node) <= index < len(node):
        raise ConfigError(
            f"--set {key}: index {index} is out of range; the list has {len(node)} items"
        )
    return index


def apply_override(raw: dict[str, Any], text: str) -> None:
    parts, value = parse_override(text)
    assign_value(raw, ".".join(parts), value)


def assign_value(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set the dotted `key` of `raw` to an already parsed value (as `--set` does)."""
    parts = key.split(".")
    if any(not part for part in parts):
        raise ConfigError(
            f"--set {key}: the key has an empty part; write it like model.layers.0.units"
        )
    node: Any = raw
    for part in parts[:-1]:
        node = _descend(node, part, key)
    last = parts[-1]
    if isinstance(node, dict):
        node[last] = value
    elif isinstance(node, list):
        node[_list_index(node, last, key)] = value
    else:
        raise ConfigError(f"--set {key}: '{last}' is inside a value that is not a mapping or list")


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of `raw` with each `key=value` applied in order."""
    result = copy.deepcopy(raw)
    for text in overrides:
        apply_override(result, text)
    return result
