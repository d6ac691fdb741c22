"""What the compiled engine can run; anything else goes to the reference engine (`fit`)."""

from __future__ import annotations

from densecli.engine._model import make_optimizer
from densecli.spec import Spec
from densecli.tasks import Task

# Optimizers whose update of each weight depends only on that weight's own gradient history:
# stacking jobs along a new axis leaves each job's update unchanged.
ELEMENTWISE_OPTIMIZERS = {
    "SGD",
    "Adam",
    "AdamW",
    "Adamax",
    "Nadam",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "Ftrl",
    "Lion",
}


class Unsupported(Exception):
    """The spec needs something the compiled engine does not do; use the reference engine."""


def check_supported(spec: Spec, task: Task, n_features: int) -> None:
    """Raise Unsupported with a short reason when the compiled engine cannot run this spec."""
    schedule = spec.train.schedule
    if schedule is not None and schedule.name == "reduce_on_plateau":
        raise Unsupported("reduce_on_plateau (each model would need its own learning rate)")
    extra_metrics = [m for m in spec.train.metrics or [] if m not in task.keras_metrics]
    if extra_metrics:
        raise Unsupported(
            f"train.metrics {extra_metrics} (the compiled engine tracks {task.history_metric})"
        )
    optimizer = make_optimizer(spec)
    name = type(optimizer).__name__
    if name not in ELEMENTWISE_OPTIMIZERS:
        raise Unsupported(f"optimizer {name} (not element-wise, so jobs cannot share it)")
    if optimizer.clipnorm is not None or optimizer.global_clipnorm is not None:
        raise Unsupported("clipnorm / global_clipnorm (norms would mix the bundle's jobs)")
