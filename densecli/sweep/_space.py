"""A tune's search space: a sweep-shaped file read as Optuna distributions.

    base: pima.yaml
    set: {train.epochs: 300}
    grid:
      model.layers.0.units: [8, 12, 16]                                    # categorical
      train.optimizer.learning_rate: {low: 0.0003, high: 0.03, log: true}  # float range
      train.batch_size: {low: 16, high: 64}                                # integer range

A list is a categorical choice; a choice that is not a scalar (a layer stack) is given to
Optuna as its index ("0", "1", …) and mapped back here. Keys apply in file order. Everything
is validated before a study exists: the file, the base, and a "corner" spec for every value
of every list and both ends of every range. No TensorFlow and no Optuna at import.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError, model_validator

from densecli.errors import ConfigError
from densecli.spec import apply_overrides, load_yaml, read_yaml
from densecli.sweep._definition import (
    Point,
    Range,
    SweepFile,
    _assign,
    _check_base,
    _describe_errors,
    _validated_points,
    definition_record,
    is_sweep_file,
    with_grid_options,
)

SCALARS = (str, int, float, bool, type(None))


class SearchFile(SweepFile):
    """A sweep file whose ranges need no `random:` (the sampler draws them)."""

    @model_validator(mode="before")
    @classmethod
    def _no_random(cls, data: Any) -> Any:
        # SweepFile's own check refuses a range without random; a tune file gives one.
        if isinstance(data, dict) and "random" not in data:
            return {**data, "random": {"samples": 1}}
        return data


@dataclass(frozen=True)
class Space:
    name: str
    source: str
    base: dict[str, Any]  # the base spec's data with `set` and --set applied
    grid: dict[str, list[Any] | Range]

    def categorical_labels(self, key: str) -> bool:
        values = self.grid[key]
        return isinstance(values, list) and not all(isinstance(v, SCALARS) for v in values)

    def distributions(self) -> dict[str, Any]:
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        found: dict[str, Any] = {}
        for key, values in self.grid.items():
            if isinstance(values, Range) and values.integer:
                found[key] = IntDistribution(int(values.low), int(values.high), log=values.log)
            elif isinstance(values, Range):
                found[key] = FloatDistribution(
                    float(values.low), float(values.high), log=values.log
                )
            elif self.categorical_labels(key):
                found[key] = CategoricalDistribution([str(i) for i in range(len(values))])
            else:
                found[key] = CategoricalDistribution(values)
        return found

    def values(self, params: dict[str, Any]) -> dict[str, Any]:
        """A trial's params → the values its spec gets (labels mapped back), in file order."""
        out = {}
        for key, values in self.grid.items():
            param = params[key]
            if isinstance(values, list) and self.categorical_labels(key):
                param = copy.deepcopy(values[int(param)])
            out[key] = param
        return out

    def point(self, number: int, params: dict[str, Any]) -> Point:
        """Trial `number`'s spec, named `<name>-t0007`."""
        values = self.values(params)
        point = _validated_points(self.base, [values], self.source)[0]
        spec = point.spec.model_copy(update={"name": trial_name(self.name, number)})
        return Point(number, values, spec)

    def definition(self) -> dict[str, Any]:
        return definition_record(self.name, self.source, self.base, self.grid)


def trial_name(name: str, number: int) -> str:
    return f"{name[:72]}-t{number:04d}"


def load_space(
    path: Path, overrides: Sequence[str] = (), grid_options: Sequence[str] = ()
) -> Space:
    """The search space of a tune file (or a spec with --grid), validated to its corners."""
    raw = read_yaml(path)
    if is_sweep_file(raw):
        if isinstance(raw, dict) and "random" in raw:
            raise ConfigError(
                f"{path}: random: densecli tune draws its points with --sampler; remove random: "
                "(it is for densecli sweep)"
            )
        try:
            search = SearchFile.model_validate(raw)
        except ValidationError as err:
            raise ConfigError(*_describe_errors(str(path), err)) from None
        base_raw = read_yaml((path.parent / search.base).resolve())
        shared, grid, name = search.set, dict(search.grid), search.name
    else:
        base_raw, shared, grid, name = raw, {}, {}, None
    grid = with_grid_options(path, base_raw, grid, grid_options, "search; give a tune file")
    base = copy.deepcopy(base_raw)
    for key, value in shared.items():
        _assign(base, key, value, "set")
    base = apply_overrides(base, overrides)
    return make_space(name, str(path), base, grid)


def make_space(
    name: str | None, source: str, base: dict[str, Any], grid: dict[str, list[Any] | Range]
) -> Space:
    _check_base(base, grid, source)
    corners = corner_points(base, grid, source)
    base_name = str(base.get("name") or corners[0].spec.name.rsplit("-p", 1)[0])
    return Space(name or base_name, source, base, grid)


def space_from_record(definition: dict[str, Any]) -> Space:
    grid = {
        k: Range.model_validate(v) if isinstance(v, dict) and "low" in v else v
        for k, v in definition["grid"].items()
    }
    return make_space(
        definition["name"], definition["source"], load_yaml(definition["base_yaml"]), grid
    )


def corner_points(
    base: dict[str, Any], grid: dict[str, list[Any] | Range], source: str
) -> list[Point]:
    """Every list value and both ends of every range, the other keys at their first value
    (or low end): each must make a valid spec. All problems are reported together."""
    first = {k: v[0] if isinstance(v, list) else v.low for k, v in grid.items()}
    combinations = [first]
    for key, values in grid.items():
        ends = values[1:] if isinstance(values, list) else [values.high]
        combinations += [{**first, key: value} for value in ends]
    return _validated_points(base, combinations, source)
