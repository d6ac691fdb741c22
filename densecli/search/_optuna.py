"""The Optuna strategy's study: opening it (the folder's study.db or a shared storage), its
sampler and pruner, and which trials count. Optuna is imported only when a tune runs."""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict
from typing import Any

from densecli.errors import ConfigError
from densecli.experiment import Plan
from densecli.runs.files import STUDY_DB
from densecli.search._choices import PrunerKind, SamplerKind
from densecli.search._folder import SearchFolder
from densecli.search._pruning import checkpoints_for, make_pruner
from densecli.search._space import Space


def import_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ConfigError(
            "densecli tune needs Optuna; install it with pip install 'densecli[tune]'"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def check_sampler(kind: SamplerKind) -> None:
    """GP and CMA-ES construct without their packages and fail only after trials trained."""
    needs = {"gp": ("torch", "PyTorch (a CPU build is enough)"), "cmaes": ("cmaes", "cmaes")}
    if kind not in needs:
        return
    module, package = needs[kind]
    try:
        __import__(module)
    except ImportError:
        raise ConfigError(
            f"--sampler {kind} needs {package}; install it (pip install {module}), "
            "or use --sampler tpe"
        ) from None


def make_sampler(kind: SamplerKind, seed: int, startup: int) -> Any:
    import optuna

    samplers = optuna.samplers
    if kind == "random":
        return samplers.RandomSampler(seed=seed)
    if kind == "cmaes":
        return samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if kind == "gp":
        return samplers.GPSampler(seed=seed)
    return samplers.TPESampler(seed=seed, constant_liar=True, n_startup_trials=startup)


def first_batch(trials: int) -> int:
    """The sampler's random start; no trial can be pruned before these complete."""
    return max(2, min(10, trials // 4))


def study_name(folder: SearchFolder, space: Space, plan: Plan, storage: str | None) -> str:
    """The folder's name for its own study.db; for a shared --storage, a name every machine
    running the same search with the same protocol derives alike."""
    if storage is None:
        return folder.path.name
    same = json.dumps([space.definition(), asdict(plan)], sort_keys=True)
    return f"{space.name}-{hashlib.sha256(same.encode()).hexdigest()[:12]}"


def open_study(
    name: str,
    folder: SearchFolder,
    storage: str | None,
    maximize: bool,
    seed: int,
    trials: int,
    sampler: SamplerKind,
    pruner: PrunerKind,
    epochs: int,
) -> Any:
    optuna = import_optuna()
    url = storage or f"sqlite:///{(folder.path / STUDY_DB).resolve()}"
    startup = first_batch(trials)
    probe = optuna.create_study(
        study_name=name,
        storage=url,
        load_if_exists=True,
        direction="maximize" if maximize else "minimize",
    )
    # The sampler's random state is not stored: a resumed study seeds it anew, moved on by
    # the trials it has, or a random sampler would repeat the first session's draws.
    moved = seed + len(probe.trials)
    return optuna.load_study(
        study_name=name,
        storage=url,
        sampler=make_sampler(sampler, moved, startup),
        pruner=make_pruner(pruner, startup, checkpoints_for(epochs, pruner)),
    )


def retried(study: Any) -> set[int]:
    """Trials a later one asked again (interrupted ones)."""
    return {int(t.user_attrs["retry_of"]) for t in study.trials if "retry_of" in t.user_attrs}


def counted(study: Any) -> int:
    """Trials that count toward --trials: finished ones, except interrupted ones retried."""
    from optuna.trial import TrialState

    again = retried(study)
    return sum(
        t.state in (TrialState.COMPLETE, TrialState.PRUNED)
        or (t.state == TrialState.FAIL and t.number not in again)
        for t in study.trials
    )
