"""A sweep's definition: a base spec, the values to vary by dotted key, grid or random.

    base: pima.yaml                 # the spec every point starts from (relative to this file)
    set:                            # optional: overrides of the base shared by every point
      train.epochs: 300
    grid:                           # the keys to vary and their values
      model.layers.0.units: [8, 12, 16]
      train.optimizer.learning_rate: {low: 0.0001, high: 0.01, log: true}
    random: {samples: 20, seed: 0}  # optional: draw points instead of taking every combination

Without `random`, the points are every combination of the listed values, in file order (the
last key varies fastest). With it, each point draws each key independently: a list uniformly,
a range `{low, high}` uniformly or, with `log: true`, log-uniformly; integer bounds draw
integers. A range needs `random`, since a grid cannot enumerate it.

Every point is the base with `set`, then the command line's `--set`, then its own values
applied, and is validated as a whole spec before anything trains. No TensorFlow here.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from densecli.errors import ConfigError
from densecli.spec import Spec, apply_overrides, assign_value, load_yaml, read_yaml, validate_spec

MAX_POINTS = 10_000  # --max-points' default: more is a typo far more often than a plan


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


class SweepFile(_Strict):
    base: str = Field(description="The spec file every point starts from.")
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$")
    set: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any] | Range] = Field(min_length=1)
    random: RandomSearch | None = None

    @model_validator(mode="after")
    def _values(self) -> SweepFile:
        for key, values in self.grid.items():
            if isinstance(values, list) and not values:
                raise ValueError(f"grid.{key}: give at least one value")
            if isinstance(values, Range) and self.random is None:
                raise ValueError(
                    f"grid.{key}: a range needs random sampling; add random: {{samples: N}} "
                    "or list the values"
                )
        return self


@dataclass(frozen=True)
class Point:
    """One point of the sweep: its values of the varied keys and the spec they make."""

    number: int  # 1-based, in generation order
    values: dict[str, Any]
    spec: Spec

    @property
    def label(self) -> str:
        return f"p{self.number:03d}"

    def describe(self) -> str:
        return ", ".join(f"{key}={format_value(v)}" for key, v in self.values.items())


@dataclass(frozen=True)
class Sweep:
    name: str
    source: str  # the sweep file, or the spec file when the grid came from --grid
    base: dict[str, Any]  # the base spec's YAML data with every shared override applied
    grid: dict[str, list[Any] | Range]
    random: RandomSearch | None
    points: list[Point]

    def definition(self) -> dict[str, Any]:
        """What makes the sweep's points, as plain data (recorded in the sweep folder)."""
        random = None if self.random is None else self.random.model_dump()
        return {**definition_record(self.name, self.source, self.base, self.grid), "random": random}


def definition_record(
    name: str, source: str, base: dict[str, Any], grid: dict[str, list[Any] | Range]
) -> dict[str, Any]:
    """A search's name, source, base spec and grid as plain data (sweep.json, tune.json)."""
    return {
        "name": name,
        "source": source,
        "base": base,
        # The same, exactly: JSON would turn class_weight's integer labels into strings.
        "base_yaml": yaml.safe_dump(base, sort_keys=False),
        "grid": {k: v.model_dump() if isinstance(v, Range) else v for k, v in grid.items()},
    }


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


def is_sweep_file(raw: Any) -> bool:
    return isinstance(raw, dict) and ("base" in raw or "grid" in raw) and "model" not in raw


def load_sweep(
    path: Path,
    overrides: Sequence[str] = (),
    grid_options: Sequence[str] = (),
    max_points: int = MAX_POINTS,
) -> Sweep:
    """A sweep from a sweep file, or from a spec file and `--grid` options; every point
    validated (all problems of all points reported together, nothing trained)."""
    raw = read_yaml(path)
    if is_sweep_file(raw):
        try:
            sweep_file = SweepFile.model_validate(raw)
        except ValidationError as err:
            raise ConfigError(*_describe_errors(str(path), err)) from None
        base_path = (path.parent / sweep_file.base).resolve()
        base_raw = read_yaml(base_path)
        shared = sweep_file.set
        grid, random, name = dict(sweep_file.grid), sweep_file.random, sweep_file.name
    else:
        base_raw, shared, grid, random, name = raw, {}, {}, None, None
    grid = with_grid_options(path, base_raw, grid, grid_options, "vary; give a sweep file")
    base = _shared_base(base_raw, shared, overrides)
    return make_sweep(name, str(path), base, grid, random, max_points)


def with_grid_options(
    path: Path,
    base_raw: Any,
    grid: dict[str, list[Any] | Range],
    grid_options: Sequence[str],
    what: str,
) -> dict[str, list[Any] | Range]:
    """The file's grid with `--grid KEY=V1,V2` options added; refuses a base that is not a
    mapping and a search with nothing to vary (`what`: "vary; give a sweep file")."""
    if not isinstance(base_raw, dict):
        raise ConfigError(f"{path}: the base spec must be a mapping of keys")
    for option in grid_options:
        key, values = parse_grid_option(option)
        grid[key] = values
    if not grid:
        raise ConfigError(f"{path}: nothing to {what} with grid:, or --grid KEY=V1,V2")
    return grid


def make_sweep(
    name: str | None,
    source: str,
    base: dict[str, Any],
    grid: dict[str, list[Any] | Range],
    random: RandomSearch | None,
    max_points: int = MAX_POINTS,
) -> Sweep:
    _check_base(base, grid, source)
    _check_count(grid, random, source, max_points)
    points = _validated_points(base, _combinations(grid, random), source)
    base_name = str(base.get("name") or points[0].spec.name.rsplit("-p", 1)[0])
    return Sweep(name or base_name, source, base, grid, random, points)


def sweep_from_record(definition: dict[str, Any]) -> Sweep:
    """The same sweep again, from the definition recorded in its folder (for --resume)."""
    grid = {
        k: Range.model_validate(v) if isinstance(v, dict) and "low" in v else v
        for k, v in definition["grid"].items()
    }
    random = definition.get("random")
    return make_sweep(
        definition["name"],
        definition["source"],
        load_yaml(definition["base_yaml"]),
        grid,
        None if random is None else RandomSearch.model_validate(random),
    )


def _shared_base(
    raw: dict[str, Any], shared: dict[str, Any], overrides: Sequence[str]
) -> dict[str, Any]:
    base = copy.deepcopy(raw)
    for key, value in shared.items():
        _assign(base, key, value, "set")
    return apply_overrides(base, overrides)


def _assign(raw: dict[str, Any], key: str, value: Any, where: str) -> None:
    try:
        assign_value(raw, key, value)
    except ConfigError as err:
        raise ConfigError(*(p.replace("--set ", f"{where}: ", 1) for p in err.problems)) from None


def count_points(grid: dict[str, list[Any] | Range], random: RandomSearch | None) -> int:
    """How many points the grid makes, without making them."""
    if random is not None:
        return random.samples
    return math.prod(len(values) for values in grid.values() if isinstance(values, list))


def _check_count(
    grid: dict[str, list[Any] | Range], random: RandomSearch | None, source: str, limit: int
) -> None:
    count = count_points(grid, random)
    if count <= limit:
        return
    sizes = " × ".join(str(len(v)) for v in grid.values() if isinstance(v, list))
    raise ConfigError(
        f"{source}: the grid makes {count:,} points ({sizes} values), more than --max-points "
        f"{limit:,}; vary fewer keys or values, sample some with random: {{samples: N}}, "
        "or raise --max-points"
    )


def _combinations(
    grid: dict[str, list[Any] | Range], random: RandomSearch | None
) -> list[dict[str, Any]]:
    keys = list(grid)
    if random is None:
        lists = [grid[k] for k in keys]  # ranges were refused without random
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*lists)]
    rng = np.random.default_rng(random.seed)
    return [{k: _draw(rng, grid[k]) for k in keys} for _ in range(random.samples)]


def _draw(rng: np.random.Generator, values: list[Any] | Range) -> Any:
    if isinstance(values, list):
        return values[int(rng.integers(len(values)))]
    low, high = float(values.low), float(values.high)
    if values.log:
        drawn = math.exp(rng.uniform(math.log(low), math.log(high)))
    else:
        drawn = float(rng.uniform(low, high))
    if values.integer:
        return int(np.clip(round(drawn), low, high))
    return float(f"{drawn:.6g}")  # readable in tables and file names; far finer than any effect


def _check_base(base: dict[str, Any], grid: dict[str, Any], source: str) -> None:
    """A problem of the base itself, in a key no point changes, is reported once, not per point."""
    try:
        validate_spec(base, source=source)
    except ConfigError as err:
        own = [p for p in err.problems if not p.startswith(tuple(grid))]
        if own:
            raise ConfigError(
                *(f"base spec: {p}" for p in own), "nothing was trained; fix the base spec or --set"
            ) from None


def _validated_points(
    base: dict[str, Any], combinations: list[dict[str, Any]], source: str
) -> list[Point]:
    points: list[Point] = []
    problems: list[str] = []
    for number, values in enumerate(combinations, start=1):
        shown = ", ".join(f"{k}={format_value(v)}" for k, v in values.items())
        label = f"point p{number:03d} ({shown})"
        raw = copy.deepcopy(base)
        try:
            for key, value in values.items():
                _assign(raw, key, copy.deepcopy(value), "grid")  # later keys may edit it
            spec = validate_spec(raw, source=source)
        except ConfigError as err:
            problems.extend(f"{label}: {problem}" for problem in err.problems)
            continue
        # Each point's runs carry its number: `<base name>-p003`.
        named = spec.model_copy(update={"name": f"{spec.name[:72]}-p{number:03d}"})
        points.append(Point(number, values, named))
    if problems:
        raise ConfigError(*problems, "nothing was trained; fix the grid or the base spec")
    return points
