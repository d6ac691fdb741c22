"""Every choice and default of a search, declared once: the command line takes these as they
are (a `Literal` here; `typing.get_args` where a list is needed)."""

from __future__ import annotations

import os
from typing import Literal, get_args

SamplerKind = Literal["tpe", "random", "gp", "cmaes"]
SAMPLERS: tuple[SamplerKind, ...] = get_args(SamplerKind)
PrunerKind = Literal["none", "median", "wilcoxon"]
PRUNERS: tuple[PrunerKind, ...] = get_args(PrunerKind)

DEFAULT_SAMPLER: SamplerKind = "tpe"
DEFAULT_PRUNER: PrunerKind = "median"
DEFAULT_TRIALS = 50  # trials in a study, in all (a resumed tune continues toward them)
DEFAULT_CONFIRM_REPEATS = 3  # CV repeats of the best trial on unseen seeds (0: none)
BATCH = 8  # trials asked at a time after the first batch, at least two per worker
MAX_POINTS = 10_000  # a larger grid is a typo far more often than a plan
DEFAULT_WORKERS = (
    len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
)
