"""Kinds of problem behind one seam: a `Task` for training, a `TaskView` for reading runs.

Classification (binary and multi-class) is the one task today; a new kind of problem is a
new `Task` and `TaskView` pair registered here.
"""

from __future__ import annotations

from typing import Any

from densecli.data import Dataset
from densecli.errors import RunsError
from densecli.spec import Spec
from densecli.tasks._base import JobTargets, Score, Task, TaskView
from densecli.tasks._classification import ClassificationTask, ClassPredictions
from densecli.tasks._classification_view import ClassificationView
from densecli.tasks._infer import infer_task
from densecli.tasks._labels import TargetEncoding, snake_case, target_encoding
from densecli.tasks._regression import RegressionTask, ValuePredictions
from densecli.tasks._regression_view import RegressionView
from densecli.tasks._stats import corrected_resampled_t_test, wilson_interval

# Runs recorded before metrics.json named its task were all classification runs.
DEFAULT_TASK = "classification"
_VIEWS: dict[str, TaskView] = {view.name: view for view in (ClassificationView(), RegressionView())}


def task_for(spec: Spec, data: Dataset) -> Task:
    """The task of this spec on this data, with every check that needs no training.

    Without `task:` in the spec it is inferred; `Task.reason` then says why.
    """
    name, reason = (spec.task, None) if spec.task else infer_task(spec, data)
    regression = name == "regression"
    task: Task = RegressionTask(spec, data) if regression else ClassificationTask(spec, data)
    task.reason = reason
    return task


def view_for(metrics: dict[str, Any]) -> TaskView:
    """How to rank and show a recorded run, by the task its metrics.json names."""
    name = str(metrics.get("task", DEFAULT_TASK))
    try:
        return _VIEWS[name]
    except KeyError:
        raise RunsError(
            f"task {name!r} is unknown to this densecli; known: {', '.join(_VIEWS)}"
        ) from None


def all_views() -> list[TaskView]:
    return list(_VIEWS.values())


def predictions_for(
    spec: Spec, metrics: dict[str, Any], inputs: dict[str, Any]
) -> ClassPredictions | ValuePredictions:
    """predict's output columns for a run: its metrics name the task, inputs.json the classes."""
    if view_for(metrics).name == "regression":
        return ValuePredictions()
    classes = [c if isinstance(c, str) else int(c) for c in inputs["classes"]]
    return ClassPredictions(spec, classes)


__all__ = [
    "DEFAULT_TASK",
    "ClassPredictions",
    "ClassificationTask",
    "JobTargets",
    "RegressionTask",
    "Score",
    "TargetEncoding",
    "Task",
    "TaskView",
    "all_views",
    "corrected_resampled_t_test",
    "predictions_for",
    "snake_case",
    "target_encoding",
    "task_for",
    "view_for",
    "wilson_interval",
]
