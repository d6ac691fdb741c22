"""The search file, read once: a base spec, shared overrides, the values to vary by dotted key.

    base: pima.yaml                 # the spec every point starts from (relative to this file)
    set:                            # optional: overrides of the base shared by every point
      train.epochs: 300
    grid:                           # the keys to vary and their values
      model.layers.0.units: [8, 12, 16]
      train.optimizer.learning_rate: {low: 0.0001, high: 0.01, log: true}
    random: {samples: 20, seed: 0}  # sweep only: draw points instead of every combination

A spec file with `--grid KEY=V1,V2` options is a search too. A grid of every combination, a
seeded random draw (`_grid`) and an Optuna space (`_space`) are three readings of the same
`Definition`. Every point is the base with `set`, then the command line's `--set`, then its
own values applied, and is validated as a whole spec before anything trains. No TensorFlow.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from densecli.errors import ConfigError
from densecli.runs.files import SearchKind
from densecli.spec import Spec, apply_overrides, assign_value, load_yaml, read_yaml, validate_spec


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Range(_Strict):
    low: int | float  # two ints draw integers; a float bound draws floats
    high: int | float
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if not self.low < self.high:
            raise ValueError("low must be below high")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        return self

    @property
    def integer(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)


class RandomSearch(_Strict):
    samples: int = Field(ge=1, le=100_000)
    seed: int = Field(0, ge=0)


Grid = dict[str, list[Any] | Range]


class SearchFile(_Strict):
    base: str = Field(description="The spec file every point starts from.")
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$")
    set: dict[str, Any] = Field(default_factory=dict)
    grid: Grid = Field(min_length=1)
    random: RandomSearch | None = None

    @model_validator(mode="after")
    def _values(self, info: ValidationInfo) -> SearchFile:
        sampled = bool(info.context and info.context.get("sampled"))  # a tune's sampler
        for key, values in self.grid.items():
            if isinstance(values, list) and not values:
                raise ValueError(f"grid.{key}: give at least one value")
            if isinstance(values, Range) and self.random is None and not sampled:
                raise ValueError(
                    f"grid.{key}: a range needs random sampling; add random: {{samples: N}} "
                    "or list the values"
                )
        return self


@dataclass(frozen=True)
class Point:
    """One point of a search: its values of the varied keys and the spec they make."""

    number: int  # 1-based, in generation order (a tune's trial number)
    values: dict[str, Any]
    spec: Spec

    @property
    def label(self) -> str:
        return f"p{self.number:03d}"

    def describe(self) -> str:
        return ", ".join(f"{key}={format_value(v)}" for key, v in self.values.items())


@dataclass(frozen=True)
class Definition:
    """A search as its file (or a spec with --grid) defines it, before any point is made."""

    name: str | None  # the file's name:, else the base spec's (see `named`)
    source: str  # the search file, or the spec file when the grid came from --grid
    base: dict[str, Any]  # the base spec's YAML data with every shared override applied
    grid: Grid
    random: RandomSearch | None = None

    def named(self, first: Point) -> str:
        """The search's name: the file's, else the base spec's (its first point's, unnamed)."""
        return self.name or str(self.base.get("name") or first.spec.name.rsplit("-p", 1)[0])

    def record(self, name: str) -> dict[str, Any]:
        """Name, source, base spec and grid as plain data (sweep.json, tune.json)."""
        return {
            "name": name,
            "source": self.source,
            "base": self.base,
            # The same, exactly: JSON would turn class_weight's integer labels into strings.
            "base_yaml": yaml.safe_dump(self.base, sort_keys=False),
            "grid": {
                k: v.model_dump() if isinstance(v, Range) else v for k, v in self.grid.items()
            },
        }


@dataclass(frozen=True)
class Reading:
    """A strategy's reading of a definition (a sweep's points, a tune's space), named."""

    name: str
    spec: Definition

    def definition(self) -> dict[str, Any]:
        """What makes the search's points, as plain data (recorded in its folder)."""
        return self.spec.record(self.name)

    @property
    def grid(self) -> Grid:
        return self.spec.grid


def definition_from_record(record: dict[str, Any]) -> Definition:
    """The definition a search folder recorded (for --resume)."""
    grid: Grid = {
        k: Range.model_validate(v) if isinstance(v, dict) and "low" in v else v
        for k, v in record["grid"].items()
    }
    random = record.get("random")
    return Definition(
        record["name"],
        record["source"],
        load_yaml(record["base_yaml"]),
        grid,
        None if random is None else RandomSearch.model_validate(random),
    )


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {format_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def split_values(text: str) -> list[str]:
    """`8,12,[4, 2],{a: 1}` → items, splitting on commas outside brackets and braces."""
    items, depth, current = [], 0, ""
    for char in text:
        depth += char in "[{"
        depth -= char in "]}"
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    return [*items, current]


def parse_grid_option(text: str) -> tuple[str, list[Any]]:
    """`--grid key=a,b,c`: each value parsed as a YAML scalar or flow list/mapping."""
    key, sep, values = text.partition("=")
    key = key.strip()
    if not sep or not key or not values.strip():
        raise ConfigError(
            f"--grid {text!r}: expected KEY=V1,V2,…, for example --grid train.batch_size=16,64"
        )
    try:
        return key, [load_yaml(item) for item in split_values(values)]
    except yaml.YAMLError:
        raise ConfigError(f"--grid {text!r}: a value is not valid YAML; quote it") from None


def _describe_errors(source: str, error: ValidationError) -> list[str]:
    problems: list[str] = []
    for problem in error.errors():
        loc = [str(part) for part in problem["loc"]]
        if loc[:1] == ["grid"] and len(loc) > 2:
            where, message = f"grid.{loc[1]}", _grid_value_problem(problem)
        else:
            where, message = ".".join(loc) or "sweep", _problem(problem, loc)
        line = f"{source}: {where}: {message}"
        if message is not None and line not in problems:
            problems.append(line)
    return problems


def _problem(problem: Any, loc: list[str]) -> str:
    if problem["type"] == "extra_forbidden" and len(loc) == 1:
        return "unknown key; a sweep file has base, name, set, grid and random"
    if problem["type"] == "missing":
        return "required key is missing"
    return str(problem["msg"]).removeprefix("Value error, ")


def _grid_value_problem(problem: Any) -> str | None:
    """A grid value is a list or a range; pydantic reports both attempts, say one thing."""
    if problem["type"] == "list_type":
        if isinstance(problem.get("input"), dict):
            return None  # meant as a range: its own problems follow
        return "give a list of values or a range {low, high}"
    if problem["type"] == "model_type":
        return None
    if problem["type"] in ("missing", "extra_forbidden"):
        return "a range has low, high and, optionally, log: true"
    return str(problem["msg"]).removeprefix("Value error, ")


def is_search_file(raw: Any) -> bool:
    return isinstance(raw, dict) and ("base" in raw or "grid" in raw) and "model" not in raw


_NOTHING_TO = {"sweep": "vary; give a sweep file", "tune": "search; give a tune file"}


def read_definition(
    path: Path, overrides: Sequence[str], grid_options: Sequence[str], kind: SearchKind
) -> Definition:
    """A search from a search file, or from a spec file and `--grid` options; the base and
    shared overrides applied, nothing validated yet but the file itself."""
    raw = read_yaml(path)
    if is_search_file(raw):
        if kind == "tune" and isinstance(raw, dict) and "random" in raw:
            raise ConfigError(
                f"{path}: random: densecli tune draws its points with --sampler; remove random: "
                "(it is for densecli sweep)"
            )
        try:
            search = SearchFile.model_validate(raw, context={"sampled": kind == "tune"})
        except ValidationError as err:
            raise ConfigError(*_describe_errors(str(path), err)) from None
        base_raw = read_yaml((path.parent / search.base).resolve())
        shared, grid, random, name = search.set, dict(search.grid), search.random, search.name
    else:
        base_raw, shared, grid, random, name = raw, {}, {}, None, None
    if not isinstance(base_raw, dict):
        raise ConfigError(f"{path}: the base spec must be a mapping of keys")
    for option in grid_options:
        key, values = parse_grid_option(option)
        grid[key] = values
    if not grid:
        raise ConfigError(f"{path}: nothing to {_NOTHING_TO[kind]} with grid:, or --grid KEY=V1,V2")
    base = copy.deepcopy(base_raw)
    for key, value in shared.items():
        _assign(base, key, value, "set")
    return Definition(name, str(path), apply_overrides(base, overrides), grid, random)


def _assign(raw: dict[str, Any], key: str, value: Any, where: str) -> None:
    try:
        assign_value(raw, key, value)
    except ConfigError as err:
        raise ConfigError(*(p.replace("--set ", f"{where}: ", 1) for p in err.problems)) from None


def check_base(definition: Definition) -> None:
    """A problem of the base itself, in a key no point changes, is reported once, not per point."""
    try:
        validate_spec(definition.base, source=definition.source)
    except ConfigError as err:
        own = [p for p in err.problems if not p.startswith(tuple(definition.grid))]
        if own:
            raise ConfigError(
                *(f"base spec: {p}" for p in own), "nothing was trained; fix the base spec or --set"
            ) from None


def checked_points(definition: Definition, combinations: list[dict[str, Any]]) -> list[Point]:
    """A new search's points: the base checked once, then every point validated."""
    check_base(definition)
    return validated_points(definition, combinations)


def validated_points(definition: Definition, combinations: list[dict[str, Any]]) -> list[Point]:
    """A point per combination of values, each a whole valid spec named `<base>-p003`; the
    problems of every point reported together."""
    points: list[Point] = []
    problems: list[str] = []
    for number, values in enumerate(combinations, start=1):
        shown = ", ".join(f"{k}={format_value(v)}" for k, v in values.items())
        label = f"point p{number:03d} ({shown})"
        raw = copy.deepcopy(definition.base)
        try:
            for key, value in values.items():
                _assign(raw, key, copy.deepcopy(value), "grid")  # later keys may edit it
            spec = validate_spec(raw, source=definition.source)
        except ConfigError as err:
            problems.extend(f"{label}: {problem}" for problem in err.problems)
            continue
        named = spec.model_copy(update={"name": f"{spec.name[:72]}-p{number:03d}"})
        points.append(Point(number, values, named))
    if problems:
        raise ConfigError(*problems, "nothing was trained; fix the grid or the base spec")
    return points
