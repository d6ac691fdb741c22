"""Sweeps: many points of a spec, each a CV run, trained as compiled bundles.

`_definition` reads sweep files and makes the points; `_groups` bundles equal networks;
`_worker` trains one group; `_local` and `_ray` run groups (a new backend is a new runner
beside them); `_folder` and `_results` own the sweep folder; `_run` is `densecli sweep`.
The adaptive backend, `densecli tune`: `_space` (a sweep-shaped file as Optuna
distributions), `_pruning` (the pruner inside a running bundle), `_tune` (study, batches,
resume) and `_tune_results` (tables, importances, plots, the confirmation).
"""

from densecli.engine import bundle_key
from densecli.sweep._definition import (
    Point,
    RandomSearch,
    Range,
    Sweep,
    SweepFile,
    format_value,
    is_sweep_file,
    load_sweep,
    make_sweep,
    parse_grid_option,
    sweep_from_record,
)
from densecli.sweep._folder import SweepFolder, find_sweep_to_resume
from densecli.sweep._groups import check_with_keras, group_points
from densecli.sweep._local import run_local
from densecli.sweep._ray import import_ray, ray_session, run_ray
from densecli.sweep._results import PointRow, collect_points, render_results, write_results
from densecli.sweep._run import SweepJob, SweepOutcome, SweepRequest, run_sweep
from densecli.sweep._space import Space, load_space
from densecli.sweep._tune import SAMPLERS, SamplerKind, TuneOutcome, TuneRequest, run_tune
from densecli.sweep._tune_results import render_tune
from densecli.sweep._worker import GroupTask, PointResult, run_group, run_group_packed

__all__ = [
    "SAMPLERS",
    "GroupTask",
    "Point",
    "PointResult",
    "PointRow",
    "RandomSearch",
    "Range",
    "SamplerKind",
    "Space",
    "Sweep",
    "SweepFile",
    "SweepFolder",
    "SweepJob",
    "SweepOutcome",
    "SweepRequest",
    "TuneOutcome",
    "TuneRequest",
    "bundle_key",
    "check_with_keras",
    "collect_points",
    "find_sweep_to_resume",
    "format_value",
    "group_points",
    "import_ray",
    "is_sweep_file",
    "load_space",
    "load_sweep",
    "make_sweep",
    "parse_grid_option",
    "ray_session",
    "render_results",
    "render_tune",
    "run_group",
    "run_group_packed",
    "run_local",
    "run_ray",
    "run_sweep",
    "run_tune",
    "sweep_from_record",
    "write_results",
]
