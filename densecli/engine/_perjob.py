"""Which spec keys a compiled bundle lets every job have its own value of.

The compiled engine trains a bundle of jobs as one stacked program. Keys that change the
program — the network's shape and activations, the loss, the optimizer's kind, batch size,
epochs, the data, the folds — must be equal across a bundle. Keys listed here need not be:
each job carries its own rows, seed, initializers, preprocessing and class weights, its own
kernel penalty strengths (L1/L2 as per-job factors), its own optimizer hyperparameters
(per-job [B, 1] tensors in the optimizer's own update; a job's update never reads another's)
and its own dropout rates (jobs with other rates run their own Keras call over their slice;
only whether a layer has dropout at all changes the program).

No TensorFlow here: sweeps group points with `bundle_key` before any worker starts.
"""

from __future__ import annotations

import json
from typing import Any

from densecli.spec import Spec

PER_JOB_LAYER_KEYS = ("kernel_initializer", "bias_initializer", "kernel_regularizer")
PER_JOB_TRAIN_KEYS = ("class_weight", "tensorboard")

# Optimizer parameters that may differ per job, by Keras class name in lower case. Only
# parameters the update uses arithmetically (never in a Python `if`) can be tensors: SGD's
# and RMSprop's `momentum`, for instance, choose a code path, so they stay shared.
_EVERY_OPTIMIZER = ("learning_rate",)
PER_JOB_OPTIMIZER_KEYS: dict[str, tuple[str, ...]] = {
    "sgd": _EVERY_OPTIMIZER,
    "adam": (*_EVERY_OPTIMIZER, "beta_1", "beta_2", "epsilon"),
    "adamw": (*_EVERY_OPTIMIZER, "beta_1", "beta_2", "epsilon"),
    "adamax": (*_EVERY_OPTIMIZER, "beta_1", "beta_2", "epsilon"),
    "nadam": (*_EVERY_OPTIMIZER, "epsilon"),
    "rmsprop": (*_EVERY_OPTIMIZER, "rho", "epsilon"),
    "adagrad": (*_EVERY_OPTIMIZER, "epsilon"),
    "adadelta": (*_EVERY_OPTIMIZER, "rho", "epsilon"),
    "ftrl": _EVERY_OPTIMIZER,
    "lion": _EVERY_OPTIMIZER,
}


def per_job_optimizer_keys(name: str) -> tuple[str, ...]:
    return PER_JOB_OPTIMIZER_KEYS.get(name.lower(), ())


def _shared_optimizer(optimizer: str | dict[str, Any]) -> dict[str, Any]:
    """The optimizer's kind and the parameters every job of a bundle must share."""
    if isinstance(optimizer, str):
        return {"name": optimizer.lower()}
    name = str(optimizer["name"]).lower()
    own = per_job_optimizer_keys(name)
    return {"name": name, **{k: v for k, v in optimizer.items() if k != "name" and k not in own}}


def bundle_key(spec: Spec) -> str:
    """Specs with equal keys build the same program and can train as one compiled bundle."""
    resolved = spec.resolved()
    layers = [
        {k: v for k, v in layer.items() if k not in PER_JOB_LAYER_KEYS}
        for layer in resolved["model"]["layers"]
    ]
    for layer in layers:  # a dropout layer (its seed state) or none: its rate is per job
        layer["dropout"] = layer["dropout"] > 0
    train = {k: v for k, v in resolved["train"].items() if k not in PER_JOB_TRAIN_KEYS}
    train["optimizer"] = _shared_optimizer(resolved["train"]["optimizer"])
    # cv.folds too: folds of another size would pad the smaller jobs' epochs with extra steps.
    shared = [layers, train, resolved["data"], resolved["cv"]]
    return json.dumps(shared, sort_keys=True)
