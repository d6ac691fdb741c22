"""A tune's search space: the search file read as Optuna distributions.

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

from densecli.runs import trial_name
from densecli.search._file import (
    Definition,
    Grid,
    Point,
    Range,
    Reading,
    checked_points,
    definition_from_record,
    read_definition,
    validated_points,
)

SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Space(Reading):
    corners: list[Point]  # every list value and both ends of every range, validated

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

    def point(self, number: int, params: dict[str, Any], tag: str = "") -> Point:
        """Trial `number`'s spec, named `<name>-t0007` (a nested tune's outer fold 2:
        `<name>-o2-t0007`, its `tag` being "-o2")."""
        values = self.values(params)
        point = validated_points(self.spec, [values])[0]
        spec = point.spec.model_copy(update={"name": trial_name(self.name, number, tag)})
        return Point(number, values, spec)


def load_space(
    path: Path, overrides: Sequence[str] = (), grid_options: Sequence[str] = ()
) -> Space:
    """The search space of a tune file (or a spec with --grid), validated to its corners."""
    return make_space(read_definition(path, overrides, grid_options, "tune"))


def space_from_record(record: dict[str, Any]) -> Space:
    """The same space again, from the definition recorded in its folder (for --resume)."""
    return make_space(definition_from_record(record))


def make_space(definition: Definition) -> Space:
    corners = checked_points(definition, _corners(definition.grid))
    return Space(definition.named(corners[0]), definition, corners)


def _corners(grid: Grid) -> list[dict[str, Any]]:
    """Every list value and both ends of every range, the other keys at their first value
    (or low end): each must make a valid spec."""
    first = {k: v[0] if isinstance(v, list) else v.low for k, v in grid.items()}
    combinations = [first]
    for key, values in grid.items():
        ends = values[1:] if isinstance(values, list) else [values.high]
        combinations += [{**first, key: value} for value in ends]
    return combinations
