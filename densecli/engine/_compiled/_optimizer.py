"""One Keras optimizer for a bundle's stacked parameter rows, with per-job hyperparameters.

Exact for optimizers that work element by element (Adam, SGD, RMSprop, …): B stacked Adams
are B independent Adams. A hyperparameter that differs between jobs becomes a [B, 1] tensor
where Keras' update expects a float; `densecli.engine.PER_JOB_OPTIMIZER_KEYS` lists the ones
whose update only does arithmetic with them, and tests/test_perjob_optimizer.py checks each
against the installed Keras, job by job. Only public Keras API is used: a learning rate that
differs is given to the optimizer's constructor as a callable (or as a schedule whose start
is per job), as Keras' `learning_rate` argument allows.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np

from densecli.backend import import_keras
from densecli.engine._compiled._support import Unsupported
from densecli.engine._perjob import per_job_optimizer_keys


def _config_values(configs: list[dict[str, Any]], key: str) -> list[Any]:
    return [config.get(key) for config in configs]


def _differs(values: list[Any]) -> bool:
    first = json.dumps(values[0], sort_keys=True, default=str)
    return any(json.dumps(v, sort_keys=True, default=str) != first for v in values[1:])


def per_job_optimizer(tf: Any, optimizers: list[Any], params: Any) -> Any:
    """One optimizer for the stacked parameter rows, with per-job hyperparameters.

    A hyperparameter every job shares stays the Python float Keras' own update expects (so
    a bundle computes bit for bit what each job's model would). One that differs becomes a
    [B, 1] tensor in its place: the update's arithmetic broadcasts it over each job's row.
    """
    kind = type(optimizers[0])
    if any(type(o) is not kind for o in optimizers):
        raise Unsupported("different optimizers in one bundle")
    configs = [o.get_config() for o in optimizers]
    # Keras numbers the names of optimizers it makes (adam, adam_1, …): not a setting.
    differing = [k for k in configs[0] if k != "name" and _differs(_config_values(configs, k))]
    own = per_job_optimizer_keys(kind.__name__)
    shared_only = [k for k in differing if k not in own]
    if shared_only:
        raise Unsupported(f"{kind.__name__} {shared_only} differing within one bundle")
    config = copy.deepcopy(configs[0])  # from_config deserializes it in place
    if "learning_rate" in differing:
        config["learning_rate"] = _per_job_learning_rate(
            tf, _config_values(configs, "learning_rate")
        )
    optimizer = kind.from_config(config)
    optimizer.build([params])
    for key in differing:
        if key != "learning_rate":
            setattr(optimizer, key, _column(tf, [float(v) for v in _config_values(configs, key)]))
    return optimizer


def _column(tf: Any, values: list[float]) -> Any:
    """Per-job values as float32 [B, 1], rounded from float64 as Keras rounds Python floats."""
    return tf.constant(np.asarray(values, dtype=np.float64).astype(np.float32)[:, None])


def _per_job_learning_rate(tf: Any, values: list[Any]) -> Any:
    """The `learning_rate` argument that gives each job its own: a schedule whose start is a
    [B, 1] tensor, or a callable returning the [B, 1] rates (Keras calls a callable learning
    rate at every step; a variable would have to be a scalar)."""
    if all(isinstance(v, dict) for v in values):  # a schedule: only its start may differ
        configs = [dict(v["config"]) for v in values]
        starts = [float(c.pop("initial_learning_rate")) for c in configs]
        if _differs([{**v, "config": c} for v, c in zip(values, configs, strict=True)]):
            raise Unsupported("learning-rate schedules differing beyond their start")
        schedule = import_keras().optimizers.schedules.deserialize(copy.deepcopy(values[0]))
        schedule.initial_learning_rate = _column(tf, starts)
        return schedule
    if any(isinstance(v, dict) for v in values):
        raise Unsupported("a learning-rate schedule in some jobs only")
    rates = _column(tf, [float(v) for v in values])
    return lambda: rates
