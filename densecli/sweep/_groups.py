"""Which points train together: equal networks form one compiled bundle.

Points that build the same network (`bundle_key`) may differ in what every job carries
itself — seed, initializers, preprocessing, class weights — and so train as one bundle.
Which points share a group depends only on the points and the worker count, so a Ray sweep
trains exactly the bundles a local one does.
"""

from __future__ import annotations

import json

from densecli.engine import bundle_key
from densecli.errors import ConfigError
from densecli.sweep._definition import Point


def check_with_keras(points: list[Point], n_features: int) -> None:
    """Let Keras resolve every point's names and parameters (optimizer, initializers,
    activations), once per distinct network and optimizer, before anything trains."""
    from densecli.engine import build_model, compile_model

    problems: list[str] = []
    seen: set[str] = set()
    for point in points:
        key = bundle_key(point.spec) + json.dumps(
            [
                [layer.kernel_initializer, layer.bias_initializer]
                for layer in point.spec.model.layers
            ],
            default=str,
        )
        if key in seen:
            continue
        seen.add(key)
        try:
            compile_model(build_model(point.spec, n_features), point.spec)
        except ConfigError as err:
            problems += [f"point {point.label} ({point.describe()}): {p}" for p in err.problems]
    if problems:
        raise ConfigError(*problems, "nothing was trained; fix the grid or the base spec")


def group_points(points: list[Point], workers: int) -> list[list[Point]]:
    """Points with equal bundle keys form a group; while there are fewer groups than
    workers, the largest group is halved so that every worker has a bundle to train."""
    by_key: dict[str, list[Point]] = {}
    for point in points:
        by_key.setdefault(bundle_key(point.spec), []).append(point)
    groups = list(by_key.values())
    while groups and len(groups) < workers:
        largest = max(groups, key=len)
        if len(largest) < 2:
            break
        groups.remove(largest)
        half = (len(largest) + 1) // 2
        groups += [largest[:half], largest[half:]]
    return sorted(groups, key=lambda group: group[0].number)


# --- the sweep folder ----------------------------------------------------------------------
