"""Searches: many points of a spec, each a CV run, trained as compiled bundles; one core in
the spirit of scikit-learn's `BaseSearchCV`, where each strategy only proposes points.

The search file is read once (`_file`); the grid strategy takes every combination or a seeded
random draw (`_grid`, `densecli sweep`); the Optuna strategy asks a study a batch at a time
(`_space`, `_optuna`, `_tune`, `densecli tune`), with its own pruning (`_pruning`) and
confirmation (`_confirm`). Both share one folder type (`_folder`), the checks and the
evaluation of points (`_core`: `_groups` bundles equal networks, `_worker` trains one group,
`_local` and `_ray` run groups) and one ranked table (`_results`). `run_search` drives them
all; a `Strategy` only reads the file, names the points to validate and proposes points.
"""

from densecli.engine import bundle_key
from densecli.search._choices import (
    BATCH,
    DEFAULT_CONFIRM_REPEATS,
    DEFAULT_PRUNER,
    DEFAULT_SAMPLER,
    DEFAULT_TRIALS,
    DEFAULT_WORKERS,
    MAX_POINTS,
    PRUNERS,
    SAMPLERS,
    PrunerKind,
    SamplerKind,
)
from densecli.search._commands import sweep, tune
from densecli.search._core import Search, Strategy, run_search
from densecli.search._file import (
    Definition,
    Point,
    RandomSearch,
    Range,
    SearchFile,
    format_value,
    is_search_file,
    parse_grid_option,
    read_definition,
)
from densecli.search._folder import SearchFolder, find_to_resume
from densecli.search._grid import Sweep, load_sweep, make_sweep, sweep_from_record
from densecli.search._groups import group_points
from densecli.search._local import run_local
from densecli.search._ray import import_ray, ray_session, run_ray
from densecli.search._request import SearchRequest
from densecli.search._results import Ranked, render_ranked
from densecli.search._space import Space, load_space
from densecli.search._sweep import SweepOutcome, SweepRequest, run_sweep
from densecli.search._tune import TuneOutcome, TuneRequest, run_tune
from densecli.search._worker import GroupTask, PointResult, run_group, run_group_packed

__all__ = [
    "BATCH",
    "DEFAULT_CONFIRM_REPEATS",
    "DEFAULT_PRUNER",
    "DEFAULT_SAMPLER",
    "DEFAULT_TRIALS",
    "DEFAULT_WORKERS",
    "MAX_POINTS",
    "PRUNERS",
    "SAMPLERS",
    "Definition",
    "GroupTask",
    "Point",
    "PointResult",
    "PrunerKind",
    "RandomSearch",
    "Range",
    "Ranked",
    "SamplerKind",
    "Search",
    "SearchFile",
    "SearchFolder",
    "SearchRequest",
    "Space",
    "Strategy",
    "Sweep",
    "SweepOutcome",
    "SweepRequest",
    "TuneOutcome",
    "TuneRequest",
    "bundle_key",
    "find_to_resume",
    "format_value",
    "group_points",
    "import_ray",
    "is_search_file",
    "load_space",
    "load_sweep",
    "make_sweep",
    "parse_grid_option",
    "ray_session",
    "read_definition",
    "render_ranked",
    "run_group",
    "run_group_packed",
    "run_local",
    "run_ray",
    "run_search",
    "run_sweep",
    "run_tune",
    "sweep",
    "sweep_from_record",
    "tune",
]
