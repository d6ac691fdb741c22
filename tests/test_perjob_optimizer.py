"""The compiled engine's per-job optimizer, checked against the installed Keras.

A bundle's optimizer puts [B, 1] tensors where Keras' update expects each hyperparameter's
float. Whether every update step only does arithmetic with them is Keras' business: a Keras
release that changes it must fail here, not in a user's sweep. No data file needed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from densecli.backend import import_keras
from densecli.engine import PER_JOB_OPTIMIZER_KEYS

# Two values of each per-job key, valid for every optimizer that has the key.
VALUES = {
    "learning_rate": (0.01, 0.002),
    "beta_1": (0.9, 0.7),
    "beta_2": (0.999, 0.95),
    "epsilon": (1e-7, 1e-3),
    "rho": (0.9, 0.7),
}
JOBS, PARAMS, STEPS = 2, 5, 4
# Float32 rounding of the same update in another order; a job stepped with another job's
# setting is off by ~1e-4 or more.
TOLERANCE = 1e-6  # relative and absolute


def _optimizer(name: str, config: dict[str, Any]) -> Any:
    return import_keras().optimizers.get({"class_name": name, "config": config})


def _stepped(optimizer: Any, start: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """The variable after the optimizer applied each gradient in turn."""
    import tensorflow as tf

    variable = tf.Variable(start)
    optimizer.build([variable])
    for gradient in gradients:
        optimizer.apply_gradients([(tf.constant(gradient), variable)])
    return np.asarray(variable.numpy())


def _bundled_and_alone(configs: list[Any], name: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """The stacked rows after the bundle's optimizer ran, and each job's row run alone."""
    import tensorflow as tf

    from densecli.engine._compiled._optimizer import per_job_optimizer

    rng = np.random.default_rng(7)
    start = rng.normal(size=(JOBS, PARAMS)).astype(np.float32)
    gradients = rng.normal(size=(STEPS, JOBS, PARAMS)).astype(np.float32)
    params = tf.Variable(start)
    bundled = per_job_optimizer(tf, [_optimizer(name, c) for c in configs], params)
    for gradient in gradients:
        bundled.apply_gradients([(tf.constant(gradient), params)])
    alone = [
        _stepped(_optimizer(name, config), start[job], gradients[:, job])
        for job, config in enumerate(configs)
    ]
    return np.asarray(params.numpy()), alone


@pytest.mark.parametrize("name", sorted(PER_JOB_OPTIMIZER_KEYS))
def test_each_job_of_a_bundle_steps_as_its_own_optimizer(name: str) -> None:
    keys = PER_JOB_OPTIMIZER_KEYS[name]
    configs = [{key: VALUES[key][job] for key in keys} for job in range(JOBS)]
    bundled, alone = _bundled_and_alone(configs, name)
    assert not np.allclose(alone[0], alone[1])  # the jobs' settings made a difference
    for job in range(JOBS):
        np.testing.assert_allclose(
            bundled[job], alone[job], TOLERANCE, TOLERANCE, err_msg=str(configs[job])
        )


def test_a_schedule_may_start_at_a_learning_rate_per_job() -> None:
    schedules = import_keras().optimizers.schedules
    configs = [
        {"learning_rate": schedules.CosineDecay(start, decay_steps=STEPS, alpha=0.1)}
        for start in VALUES["learning_rate"]
    ]
    bundled, alone = _bundled_and_alone(configs, "adam")
    for job in range(JOBS):
        np.testing.assert_allclose(bundled[job], alone[job], TOLERANCE, TOLERANCE)


@pytest.mark.parametrize(
    ("configs", "reason"),
    [
        ([("sgd", {"momentum": 0.0}), ("sgd", {"momentum": 0.9})], r"SGD \['momentum'\] differing"),
        ([("sgd", {}), ("adam", {})], "different optimizers"),
    ],
)
def test_settings_a_bundle_cannot_hold_per_job_are_refused(
    configs: list[tuple[str, dict[str, Any]]], reason: str
) -> None:
    import tensorflow as tf

    from densecli.engine._compiled import Unsupported
    from densecli.engine._compiled._optimizer import per_job_optimizer

    optimizers = [_optimizer(name, config) for name, config in configs]
    with pytest.raises(Unsupported, match=reason):
        per_job_optimizer(tf, optimizers, tf.Variable(np.zeros((2, 3), np.float32)))
