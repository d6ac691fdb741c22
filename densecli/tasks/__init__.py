"""Kinds of problem behind one seam: a `Task` for training, a `TaskView` for reading runs.

Classification (binary and multi-class) is the one task today; a new kind of problem is a
new `Task` and `TaskView` pair registered here.
"""

from __future__ import annotations

from typing import Any

from densecli.data import Dataset
from densecli.errors import RunsError
from densecli.spec import Spec
from densecli.tasks._base import Score, Task, TaskView
from densecli.tasks._classification import ClassificationTask, ClassPredictions
from densecli.tasks._classification_view import ClassificationView
from densecli.tasks._labels import TargetEncoding, snake_case, target_encoding
from densecli.tasks._stats import corrected_resampled_t_test, wilson_interval

# Runs recorded before metrics.json named its task were all classification runs.
DEFAULT_TASK = "classification"
_VIEWS: dict[str, TaskView] = {view.name: view for view in (ClassificationView(),)}


def task_for(spec: Spec, data: Dataset) -> Task:
    """The task of this spec on this data, with every check that needs no training."""
    return ClassificationTask(spec, data)


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


def predictions_for(spec: Spec, target: dict[str, Any]) -> ClassPredictions:
    """predict's output columns for a run of this spec; `target` as inputs.json records it."""
    return ClassPredictions(spec, [c if isinstance(c, str) else int(c) for c in target["classes"]])


__all__ = [
    "DEFAULT_TASK",
    "ClassPredictions",
    "ClassificationTask",
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
