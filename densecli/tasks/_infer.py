"""Which task a spec means when it does not say (`task:`), with the reason, or an error.

String labels or exactly two distinct values are classes; a numeric target with one linear
output unit and a regression loss is a quantity; integer labels with a K-unit or softmax
output are classes. Anything else is ambiguous: the spec must say `task:`. The tutorial's
regression loss on 0/1 labels with a sigmoid unit stays classification (two values).
"""

from __future__ import annotations

import numpy as np

from densecli.data import Dataset
from densecli.errors import ConfigError, DataError
from densecli.spec import Spec
from densecli.tasks._labels import CATEGORICAL_LOSSES, snake_case
from densecli.tasks._regression import REGRESSION_LOSSES

TaskName = str


def infer_task(spec: Spec, data: Dataset) -> tuple[TaskName, str]:
    """The task and why, from the target column and the output layer."""
    target = data.target
    if target.dtype.kind not in "fiu":
        return "classification", "the target holds text labels"
    distinct = int(np.unique(target).size)
    if distinct < 2:
        raise DataError(
            f"data.target: column {data.target_name!r} of {data.path} holds a single class "
            "(one value); need 2+ classes, or a varying quantity"
        )
    if distinct == 2:
        return "classification", "the target has exactly two values"
    output = spec.model.layers[-1]
    activation = snake_case(output.activation if isinstance(output.activation, str) else "")
    loss = snake_case(spec.train.loss)
    if output.units == 1 and activation == "linear" and loss in REGRESSION_LOSSES:
        return "regression", (
            f"a numeric target with {distinct} values, one linear output unit and {loss}"
        )
    integers = bool(np.all(target == np.round(target)))
    classes_shaped = output.units > 1 or activation in {"softmax", "sigmoid"}
    if not integers and (classes_shaped or "crossentropy" in loss):
        raise DataError(
            f"data.target: column {data.target_name!r} of {data.path} holds non-integer "
            "values, but the output layer and loss are a classifier's; class labels are whole "
            "numbers or names; for a quantity use one linear output unit, a regression loss "
            "and task: regression"
        )
    if integers and (output.units > 1 or activation == "softmax" or loss in CATEGORICAL_LOSSES):
        shown = activation or "custom"
        return "classification", (
            f"integer labels ({distinct} values) and a {output.units}-unit {shown} output"
        )
    raise ConfigError(
        f"task: cannot tell whether column {data.target_name!r} ({distinct} distinct values) "
        "holds classes or a quantity with this output layer and loss; add task: "
        "classification or task: regression to the spec"
    )
