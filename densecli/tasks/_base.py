"""The task seam: one object per kind of problem (classification today).

A `Task` is built for one spec and one data set before anything trains. It owns what the
rest of densecli must not assume: which targets it accepts and how they are fed to the
network, the check of output layer ↔ loss ↔ target, the scores of a trained model, the
reference models scored on the same rows, and the history's metric.

A `TaskView` reads what a finished run recorded (metrics.json) without the data or
TensorFlow: which score ranks runs, and the columns and tables that show them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from rich.console import Console

from densecli.spec import ReferenceName
from densecli.tasks._references import (
    Reference,
    recorded_references,
    strongest_reference,
    versus_strongest,
)


@dataclass(frozen=True)
class Score:
    """The score that ranks runs of a task."""

    key: str  # its metrics.json key, e.g. "accuracy"
    label: str  # how tables name it
    higher_is_better: bool
    percent: bool  # shown as a percentage
    short: str  # in the progress bar, e.g. "acc"


class JobTargets:
    """One model's view of the target: how its rows are fed to the loss and how its outputs
    return to the target's own units. Fitted on that model's training rows only."""

    scale = 1.0  # outputs' units per target unit, for metrics recorded while training

    def __init__(self, task: Task) -> None:
        self.task = task

    def encode(self, rows: np.ndarray) -> np.ndarray:
        return self.task.encode(rows)

    def decode(self, outputs: np.ndarray) -> np.ndarray:
        """The network's outputs in the target's units (identity for class probabilities)."""
        return outputs

    def to_json(self) -> dict[str, Any] | None:
        """What predict needs to decode this model's outputs (None: nothing)."""
        return None


class Task(ABC):
    """What one kind of problem means for one spec on one data set."""

    reason: str | None = None  # why this task was inferred (None: the spec said so)
    references: tuple[ReferenceName, ...] = ()  # scored on a CV run's folds (cv.references)
    references_note: str = ""  # why a default reference is left out, and how to ask for it

    name: str  # recorded as metrics.json's "task"
    score: Score
    history_metric: str  # the per-epoch metric recorded next to the loss
    keras_metrics: frozenset[str]  # train.metrics names that mean the history metric
    default_metrics: tuple[str, ...]  # train.metrics when the spec gives none

    @property
    def history_keys(self) -> tuple[str, ...]:
        """The history's columns per epoch and model, in the engines' order."""
        m = self.history_metric
        return ("loss", m, "eval_loss", f"eval_{m}", "val_loss", f"val_{m}")

    @abstractmethod
    def encode(self, rows: np.ndarray) -> np.ndarray:
        """The target of these rows as the network's loss expects it."""

    def job_targets(self, fit_rows: np.ndarray) -> JobTargets:
        """The target as one model trained on `fit_rows` sees it."""
        return JobTargets(self)

    def epoch_value(self, tf: Any, mean_row_score: Any, scale: Any) -> Any:
        """The history metric from the mean of row_scores over an epoch's rows, with each
        job's `scale` (JobTargets.scale) as a tensor."""
        return mean_row_score

    def fit_metrics(self, keras: Any) -> list[Any] | None:
        """Keras metrics for `model.fit` (None: the spec's train.metrics)."""
        return None

    def fit_history(
        self, history: dict[str, list[float]], targets: JobTargets
    ) -> dict[str, list[float]]:
        """model.fit's history with the task's metric in the task's units."""
        return history

    @abstractmethod
    def stratify(self, rows: np.ndarray) -> np.ndarray | None:
        """Labels to stratify a split of these rows by, or None for a plain split."""

    @abstractmethod
    def row_weights(self, rows: np.ndarray) -> np.ndarray:
        """Each row's loss weight (class weights), float32."""

    @abstractmethod
    def row_scores(self, tf: Any, y_true: Any, y_pred: Any) -> Any:
        """TensorFlow ops: the history metric per row, whose mean is the epoch's value."""

    def cv_folds(
        self, folds: int, seed: int, rows: np.ndarray | None = None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """One repeat of k-fold CV over all rows, or over `rows` only (a nested tune's outer
        training rows): the folds of those rows as if they were the whole table, as indices
        of the data's rows."""
        if rows is None:
            return self.folds_of_all(folds, seed)
        return [(rows[train], rows[test]) for train, test in self.folds_of(rows, folds, seed)]

    @abstractmethod
    def folds_of_all(self, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """One repeat of k-fold CV over all rows."""

    @abstractmethod
    def folds_of(
        self, rows: np.ndarray, folds: int, seed: int
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """One repeat of k-fold CV over these rows, as positions among them."""

    @abstractmethod
    def fold_method(self, folds: int) -> str:
        """How cv_folds chooses its folds, as folds.json describes it."""

    @abstractmethod
    def job_metrics(
        self, train_rows: np.ndarray, eval_rows: np.ndarray, outputs: np.ndarray
    ) -> dict[str, Any]:
        """Scores of one model's outputs on its evaluation rows."""

    @abstractmethod
    def eval_references(self, train_rows: np.ndarray, eval_rows: np.ndarray) -> dict[str, Any]:
        """Simple rules fitted on the training rows, scored on the evaluation rows."""

    @abstractmethod
    def summarize(self, per_job: list[dict[str, Any]]) -> dict[str, Any]:
        """Mean over models of every score, with spread and interval of the ranking score."""

    @abstractmethod
    def single_split(self, metrics: dict[str, Any]) -> dict[str, Any]:
        """What a classic split with one model adds to its scores (an interval)."""

    @abstractmethod
    def compare_folds(
        self, folds: list[tuple[np.ndarray, np.ndarray]], fold_scores: list[float]
    ) -> dict[str, Any]:
        """Reference models on exactly these folds, and the network against them."""

    @abstractmethod
    def data_references(self) -> dict[str, Any]:
        """Scores every run on this data set is read against (baseline, reported best)."""

    @abstractmethod
    def prediction_rows(self, eval_rows: np.ndarray, outputs: np.ndarray) -> list[dict[str, Any]]:
        """predictions.csv's rows for one model: target, prediction and outputs per row."""

    @abstractmethod
    def describe_target(self) -> dict[str, Any]:
        """What inputs.json records about the target (class labels, …) for predict."""

    @abstractmethod
    def describe_data(self) -> str:
        """The target in a few words, for `densecli validate`."""


class TaskView(ABC):
    """How recorded runs of a task are ranked and shown; files only, no data, no TensorFlow."""

    name: str
    score: Score
    history_columns: tuple[str, ...]  # the history's name of the metric (older names after)
    # Scores compare can sort by, each with whether higher is better.
    sort_keys: ClassVar[dict[str, bool]]
    json_keys: tuple[str, ...]  # scores `compare --format json` lists, as recorded
    prediction_plot = False  # draw predicted against actual values from predictions.csv

    @abstractmethod
    def check_record(self, metrics: dict[str, Any]) -> None:
        """Raise ValueError when a recorded score is outside its possible range (a damaged
        record, never a result)."""

    @abstractmethod
    def shared_references(self, runs: list[dict[str, Any]]) -> dict[str, float | None]:
        """References every one of these runs' metrics share (None where they differ)."""

    @abstractmethod
    def compare_cells(
        self, metrics: dict[str, Any], shared: dict[str, float | None]
    ) -> dict[str, str]:
        """compare's score columns for one run; `shared` as shared_references gave it."""

    @abstractmethod
    def compare_note(self, shared: dict[str, float | None]) -> str:
        """A line under compare's table saying what its reference columns are."""

    @abstractmethod
    def result_cells(self, metrics: dict[str, Any]) -> dict[str, str]:
        """A sweep's results.csv score columns for one point."""

    # results.csv's columns for each reference on the same folds: its score, the network's
    # score minus it.
    result_columns: ClassVar[Mapping[ReferenceName, tuple[str, str]]]

    @abstractmethod
    def score_text(self, value: Any) -> str:
        """A recorded score as results.csv writes it ("" for None)."""

    def difference_text(self, value: Any) -> str:
        """The network's score minus a reference's, as results.csv writes it."""
        return self.score_text(value)

    def reference_result_cells(self, metrics: dict[str, Any]) -> dict[str, str]:
        """results.csv's reference columns (`result_columns`), the t-test's reference and
        its p value."""
        cells = {}
        for name, (score, versus) in self.result_columns.items():
            reference = self.reference_table[name]
            cells[score] = self.score_text(metrics.get(reference.mean_key))
            difference = metrics.get(reference.versus_key) if reference.versus_key else None
            cells[versus] = self.difference_text(difference)
        p_value = metrics.get("p_value")
        cells["t-test vs"] = self.t_test_name(metrics)
        cells["p value"] = "" if p_value is None else f"{p_value:.3g}"
        return cells

    @abstractmethod
    def sweep_references(self, runs: list[dict[str, Any]]) -> list[tuple[str, float]]:
        """References a sweep's points are ranked among: label and value, from their runs."""

    # The references a CV run scores on its folds, by name: how metrics.json records them.
    reference_table: ClassVar[Mapping[ReferenceName, Reference]]

    def fold_references(self, metrics: dict[str, Any]) -> list[tuple[Reference, float]]:
        """The references this run scored on its folds, with their mean scores."""
        return recorded_references(self.reference_table, metrics)

    def fold_reference(self, metrics: dict[str, Any]) -> tuple[str, float] | None:
        """The strongest of them (the one the t-test compares with): its name and score
        (None: the run has none, e.g. a split)."""
        found = strongest_reference(self.reference_table, metrics)
        return None if found is None else (found[0].label, found[1])

    def t_test_name(self, metrics: dict[str, Any]) -> str:
        """The reference the t-test compared with ("" when there was none), named as the
        strongest when the run had more than one."""
        strongest = self.fold_reference(metrics)
        if strongest is None or metrics.get("p_value") is None:
            return ""
        several = len(self.fold_references(metrics)) > 1
        return strongest[0] + (" (the strongest reference)" if several else "")

    @abstractmethod
    def difference_words(self, difference: float) -> str:
        """The network's score minus a reference's in words, with its unit ("+1.25 points")."""

    def render_t_test(self, console: Console, metrics: dict[str, Any]) -> None:
        """The corrected t-test against the strongest reference, and which references were
        left out, under a CV run's tables."""
        difference = versus_strongest(self.reference_table, metrics)
        if metrics.get("p_value") is not None and difference is not None:
            folds = metrics["folds"] * metrics.get("repeats", 1)
            console.print(
                f"Network − {self.t_test_name(metrics)}: {self.difference_words(difference)} "
                f"over {folds} folds; corrected resampled t-test (Nadeau & Bengio 2003): "
                f"t = {metrics['t_statistic']:.2f}, p = {metrics['p_value']:.3f}.",
                highlight=False,
            )
        if metrics.get("references_left_out"):
            console.print(f"Note: {metrics['references_left_out']}.", highlight=False)

    @abstractmethod
    def ranked_cells(self, metrics: dict[str, Any], references: dict[str, float]) -> dict[str, str]:
        """A point's score columns in a sweep's ranked table (empty metrics: the headers)."""

    @abstractmethod
    def reference_lines(self, metrics: dict[str, Any]) -> list[tuple[str, float]]:
        """Horizontal lines plots of the history metric draw, label and value."""

    @abstractmethod
    def describe_target(self, inputs: dict[str, Any]) -> str:
        """The target as inputs.json records it, in a few words ("2 classes")."""

    @abstractmethod
    def render_run(self, console: Console, metrics: dict[str, Any], run_dir: Path) -> None:
        """The tables printed when a run finishes (and by `densecli show`)."""
