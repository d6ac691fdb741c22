"""Which points train together: equal networks form one compiled bundle.

Points that build the same network (`bundle_key`) may differ in what every job carries
itself — seed, initializers, preprocessing, class weights — and so train as one bundle.
Which points share a group depends only on the points and the worker count, so a Ray sweep
trains exactly the bundles a local one does.
"""

from __future__ import annotations

from collections.abc import Callable

from densecli.engine import bundle_key
from densecli.search._file import Point

GroupKey = Callable[[Point], str]  # points with equal keys may train as one bundle


def network_key(point: Point) -> str:
    return bundle_key(point.spec)


def group_points(
    points: list[Point], workers: int, key: GroupKey = network_key
) -> list[list[Point]]:
    """Points with equal bundle keys form a group; while there are fewer groups than
    workers, the largest group is halved so that every worker has a bundle to train."""
    by_key: dict[str, list[Point]] = {}
    for point in points:
        by_key.setdefault(key(point), []).append(point)
    groups = list(by_key.values())
    while groups and len(groups) < workers:
        largest = max(groups, key=len)
        if len(largest) < 2:
            break
        groups.remove(largest)
        half = (len(largest) + 1) // 2
        groups += [largest[:half], largest[half:]]
    return sorted(groups, key=lambda group: group[0].number)
