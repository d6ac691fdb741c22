"""Every check that can refuse training, made before any of it: one piece that `train`, `cv`,
`sweep` and `tune` all call, so the four refuse things the same way.

In order, cheapest first: the folds the data can fill (CV), memory for what trains at once,
the runs folder (writable, with room), then Keras resolving every name and parameter (SGD's
momentum in [0, 1], a positive VarianceScaling scale) by building the models once. Building
runs TensorFlow's first op, after which its threads are fixed, so they are chosen for the
training ahead first (a wrong order once cost 2.7x per epoch). A search may let a warm worker,
whose TensorFlow is imported anyway, do the Keras step (`keras`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from densecli.engine import MemoryEstimate, bundle_key, check_fits, estimate
from densecli.errors import ConfigError, DensecliError
from densecli.experiment._prepare import Experiment, Plan
from densecli.experiment._record import step_macs
from densecli.experiment._resampling import cv_folds
from densecli.runs import estimate_bytes, preflight
from densecli.spec import Spec

Scope = Literal["run", "sweep", "tune"]
# (name in errors, spec) of every distinct network, the inputs, the step's multiply-adds.
KerasCheck = Callable[[list[tuple[str, Spec]], int, int], None]


@dataclass(frozen=True)
class Candidate:
    """An experiment about to train, and how an error names it (a search's point)."""

    experiment: Experiment
    label: str = ""  # "p003"; empty for a single run
    values: str = ""  # the point's values, "model.layers.0.units=8"

    @property
    def named(self) -> str:
        """`point p003 (units=8)` before a problem; empty for a single run."""
        if not self.label:
            return ""
        return f"point {self.label}" + (f" ({self.values})" if self.values else "")


def check_before_training(
    candidates: Sequence[Candidate],
    plan: Plan,
    runs_dir: Path,
    *,
    cv: bool = True,
    bundles: Sequence[Sequence[int]] | None = None,
    at_once: int = 1,
    scope: Scope = "run",
    keras: KerasCheck | None = None,
) -> None:
    """Refuse what cannot train, in one-line errors, before anything is written but the
    runs folder. `bundles`: which candidates (by index) train together, None for each alone;
    `at_once`: bundles trained at the same time; the threads are chosen for the largest
    bundle."""
    if not candidates:
        return
    alone = [[i] for i in range(len(candidates))]
    groups = alone if bundles is None else [list(bundle) for bundle in bundles]
    if cv:
        _check_folds(candidates, plan)
    _check_memory(candidates, plan, cv, groups, at_once, scope)
    preflight(runs_dir, sum(_run_bytes(c.experiment, plan, cv) for c in candidates))
    n_features = candidates[0].experiment.data.n_features
    steps = [_step(c.experiment, plan, cv) for c in candidates]
    macs = max(sum(steps[i] for i in group) for group in groups)
    (keras or check_with_keras)(_distinct_networks(candidates), n_features, macs)


def _models(experiment: Experiment, plan: Plan, cv: bool) -> int:
    """Models one run trains: every fold of every repeat (CV), times the seeds."""
    folds = experiment.spec.cv.folds * plan.repeats if cv else 1
    return folds * plan.seeds


def memory_needed(experiment: Experiment, plan: Plan, cv: bool) -> MemoryEstimate:
    """What training this run takes in memory (`.with_runtime`: the whole process)."""
    spec, data = experiment.spec, experiment.data
    if cv:
        eval_rows = -(-data.n_rows // spec.cv.folds)
        train_rows = data.n_rows - eval_rows + 1
    else:
        train_rows = spec.data.train_rows or data.default_train_rows()
        eval_rows = data.n_rows - train_rows
    models = _models(experiment, plan, cv)
    return estimate(spec, data.n_features, models, train_rows, eval_rows)


def _step(experiment: Experiment, plan: Plan, cv: bool) -> int:
    """Multiply-adds of one training step of a run's models."""
    spec = experiment.spec
    return step_macs(spec, experiment.data.n_features, _models(experiment, plan, cv))


def _check_folds(candidates: Sequence[Candidate], plan: Plan) -> None:
    """A fold count the data cannot fill, refused before anything starts."""
    for candidate in candidates:
        try:
            cv_folds(candidate.experiment, plan)
        except DensecliError as err:
            if not candidate.label:
                raise
            raise ConfigError(f"point {candidate.label}: {err.problems[0]}") from None


def _check_memory(
    candidates: Sequence[Candidate],
    plan: Plan,
    cv: bool,
    groups: list[list[int]],
    at_once: int,
    scope: Scope,
) -> None:
    """The largest bundles that train at once must fit in the memory available."""
    estimates = [memory_needed(c.experiment, plan, cv) for c in candidates]
    bundled = []
    for group in groups:
        members = [estimates[i] for i in group]
        largest = max(members, key=lambda e: e.total)
        jobs, total = sum(e.jobs for e in members), sum(e.total for e in members)
        bundled.append(MemoryEstimate(largest.widths, jobs, largest.params, total))
    heaviest = sorted(bundled, key=lambda b: b.total, reverse=True)[:at_once]
    if scope == "run":
        several = _models(candidates[0].experiment, plan, cv) > 1
        fix = "use fewer or narrower layers" + (", or fewer folds/seeds" if several else "")
    else:
        fix = "use fewer or narrower layers, or fewer --workers"
    check_fits(heaviest, f"this {scope}", fix)


def _run_bytes(experiment: Experiment, plan: Plan, cv: bool) -> int:
    """A run folder on disk, generously."""
    spec, data = experiment.spec, experiment.data
    widths = [data.n_features] + [layer.units for layer in spec.model.layers]
    eval_rows = data.n_rows * (plan.repeats if cv else 1)
    return estimate_bytes(widths, _models(experiment, plan, cv), spec.train.epochs, eval_rows)


def _distinct_networks(candidates: Sequence[Candidate]) -> list[tuple[str, Spec]]:
    """One spec per distinct network, optimizer and initializers: what Keras resolves."""
    seen: set[str] = set()
    distinct = []
    for candidate in candidates:
        spec = candidate.experiment.spec
        initializers = [[lay.kernel_initializer, lay.bias_initializer] for lay in spec.model.layers]
        key = bundle_key(spec) + json.dumps(initializers, default=str)
        if key not in seen:
            seen.add(key)
            distinct.append((candidate.named, spec))
    return distinct


def keras_problems(networks: list[tuple[str, Spec]], n_features: int) -> list[str]:
    """What Keras refuses when it builds and compiles each network, named."""
    from densecli.engine import build_model, compile_model

    problems: list[str] = []
    for name, spec in networks:
        try:
            compile_model(build_model(spec, n_features), spec)
        except ConfigError as err:
            problems += [f"{name}: {p}" if name else p for p in err.problems]
    return problems


def check_with_keras(networks: list[tuple[str, Spec]], n_features: int, macs: int) -> None:
    """In this process: threads for a step of `macs` multiply-adds, then Keras builds each
    network once; training starts from a fresh Keras state afterwards."""
    from densecli.backend import import_keras, prefer_threads_for

    prefer_threads_for(macs)
    problems = keras_problems(networks, n_features)
    import_keras().backend.clear_session()
    if problems:
        named = any(name for name, _ in networks)
        tail = ["nothing was trained; fix the grid or the base spec"] if named else []
        raise ConfigError(*problems, *tail)
