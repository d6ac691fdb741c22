"""The grid strategy: every combination of the listed values, in file order (the last key
varies fastest), or with `random:` a seeded draw of `samples` points, each key independently:
a list uniformly, a range `{low, high}` uniformly or, with `log: true`, log-uniformly; integer
bounds draw integers. A range needs `random`, since a grid cannot enumerate it."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from densecli.errors import ConfigError
from densecli.search._choices import MAX_POINTS
from densecli.search._file import (
    Definition,
    Grid,
    Point,
    RandomSearch,
    Range,
    Reading,
    checked_points,
    definition_from_record,
    read_definition,
)


@dataclass(frozen=True)
class Sweep(Reading):
    """A definition and every point it makes, all validated."""

    points: list[Point]

    def definition(self) -> dict[str, Any]:
        random = self.spec.random
        return {
            **self.spec.record(self.name),
            "random": None if random is None else random.model_dump(),
        }


def load_sweep(
    path: Path,
    overrides: Sequence[str] = (),
    grid_options: Sequence[str] = (),
    max_points: int = MAX_POINTS,
) -> Sweep:
    """A sweep from a sweep file, or from a spec file and `--grid` options; every point
    validated (all problems of all points reported together, nothing trained)."""
    return make_sweep(read_definition(path, overrides, grid_options, "sweep"), max_points)


def sweep_from_record(record: dict[str, Any]) -> Sweep:
    """The same sweep again, from the definition recorded in its folder (for --resume)."""
    return make_sweep(definition_from_record(record))


def make_sweep(definition: Definition, max_points: int = MAX_POINTS) -> Sweep:
    _check_count(definition, max_points)
    points = checked_points(definition, _combinations(definition.grid, definition.random))
    return Sweep(definition.named(points[0]), definition, points)


def count_points(grid: Grid, random: RandomSearch | None) -> int:
    """How many points the grid makes, without making them."""
    if random is not None:
        return random.samples
    return math.prod(len(values) for values in grid.values() if isinstance(values, list))


def _check_count(definition: Definition, limit: int) -> None:
    grid = definition.grid
    count = count_points(grid, definition.random)
    if count <= limit:
        return
    sizes = " × ".join(str(len(v)) for v in grid.values() if isinstance(v, list))
    raise ConfigError(
        f"{definition.source}: the grid makes {count:,} points ({sizes} values), more than "
        f"--max-points {limit:,}; vary fewer keys or values, sample some with random: "
        "{samples: N}, or raise --max-points"
    )


def _combinations(grid: Grid, random: RandomSearch | None) -> list[dict[str, Any]]:
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
