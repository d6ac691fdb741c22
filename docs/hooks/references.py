"""The two reference pages, rendered at build time from the program itself.

MkDocs runs this hook (`hooks:` in mkdocs.yml). The command reference is Typer's own Markdown
for densecli's app (`typer densecli.cli._app utils docs`), the spec reference one table per section
of the spec's JSON Schema (`densecli schema`). Both come from child processes of the
interpreter that runs MkDocs (`sys.executable -m …`), so they need densecli importable there,
not a `typer` or `densecli` program on PATH. Neither page is a file in the repository, so
neither can drift from the code.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

COMMANDS_PAGE = "reference/commands.md"
SPEC_PAGE = "reference/spec.md"
TOP_LEVEL = "Top-level keys"
TABLE_HEAD = "| key | type | default | description |\n| --- | --- | --- | --- |"

SPEC_INTRO = """\
# Spec reference

Every key of the YAML spec, generated from its JSON Schema (`densecli schema`, committed as
`densecli.schema.json`) when this site is built. Keys are written as `--set` takes them:
`model.layers.0.units` is the first layer's `units`. Unknown keys are errors, with a
"did you mean". How the keys fit together, with examples: [Write a spec](../spec.md).
"""


def on_files(files: Files, config: MkDocsConfig) -> Files:
    root = Path(config.config_file_path).parent
    files.append(File.generated(config, COMMANDS_PAGE, content=commands_page(root)))
    files.append(File.generated(config, SPEC_PAGE, content=spec_page(root)))
    return files


def _run(root: Path, *args: str) -> str:
    """Output of `python -m ARGS` in the repository, or a build error saying what failed."""
    command = [sys.executable, "-m", *args]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PluginError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr}")
    return done.stdout


def commands_page(root: Path) -> str:
    """Typer's Markdown for the app: every command, its arguments and options with defaults."""
    typer_docs = ("typer", "densecli.cli._app", "utils", "docs", "--name", "densecli")
    return _run(root, *typer_docs, "--title", "Command reference")


def spec_page(root: Path) -> str:
    schema = json.loads(_run(root, "densecli", "schema"))
    sections: dict[str, list[str]] = {TOP_LEVEL: []}
    for key, node in schema["properties"].items():
        section = _object(node, schema)
        if section is None:
            sections[TOP_LEVEL].append(_row(key, node, schema, schema.get("required", [])))
        else:
            sections[f"`{key}`"] = list(_key_rows(key, section, schema))
    parts = [SPEC_INTRO]
    for heading, rows in sections.items():
        parts.append(f"## {heading}\n\n{TABLE_HEAD}")
        parts.append("\n".join(rows) + "\n")
    return "\n".join(parts)


def _key_rows(prefix: str, obj: dict[str, Any], schema: dict[str, Any]) -> Iterator[str]:
    """One row per key of an object, descending into nested objects and lists of objects."""
    required = obj.get("required", [])
    for key, node in obj.get("properties", {}).items():
        path = f"{prefix}.{key}"
        yield _row(path, node, schema, required)
        nested = _object(node, schema)
        items = _object(node.get("items", {}), schema) if node.get("type") == "array" else None
        if nested is not None:
            yield from _key_rows(path, nested, schema)
        elif items is not None:
            yield from _key_rows(f"{path}.<i>", items, schema)


def _row(path: str, node: dict[str, Any], schema: dict[str, Any], required: list[str]) -> str:
    name = path.rsplit(".", 1)[-1]
    if name in required:
        default = "required"
    elif "default" in node:
        default = f"`{json.dumps(node['default'])}`"
    else:
        default = "—"
    description = node.get("description", "—").replace("|", "\\|")
    return f"| `{path}` | {_kind(node, schema)} | {default} | {description} |"


def _object(node: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any] | None:
    """The object definition a property refers to (directly or as one of its options)."""
    for option in [node, *node.get("anyOf", [])]:
        if "$ref" in option:
            found: dict[str, Any] = schema["$defs"][option["$ref"].rsplit("/", 1)[-1]]
            return found
    return None


def _kind(node: dict[str, Any], schema: dict[str, Any]) -> str:
    """A short human reading of a schema node: its type, allowed values and bounds."""
    if "anyOf" in node:
        return " or ".join(_kind(option, schema) for option in node["anyOf"])
    if "$ref" in node:
        return "mapping (keys below)"
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return "one of " + ", ".join(f"`{json.dumps(value)}`" for value in node["enum"])
    kinds = node.get("type", "any")
    text = " or ".join(_type_name(kind, node, schema) for kind in _as_list(kinds))
    bounds = _bounds(node)
    return f"{text} ({bounds})" if bounds else text


def _type_name(kind: str, node: dict[str, Any], schema: dict[str, Any]) -> str:
    if kind == "array":
        items = node.get("items")
        return f"list of {_kind(items, schema)}" if items else "list"
    if kind == "object":
        names = node.get("required", [])
        return f"mapping with {', '.join(f'`{n}`' for n in names)}" if names else "mapping"
    return {"integer": "integer", "number": "number", "string": "text", "boolean": "boolean"}.get(
        kind, kind
    )


def _bounds(node: dict[str, Any]) -> str:
    signs = {
        "minimum": "≥",
        "exclusiveMinimum": ">",
        "maximum": "≤",
        "exclusiveMaximum": "<",
        "minItems": "at least",
    }
    found = [f"{sign} {node[key]}" for key, sign in signs.items() if key in node]
    if "pattern" in node:
        found.append(f"matching `{node['pattern']}`")
    return ", ".join(found)


def _as_list(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]
