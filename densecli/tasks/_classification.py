"""Classification, binary and multi-class: the first task.

The target holds integer class labels; classes are its distinct values in sorted order and
the network sees them as 0..K-1 (`TargetEncoding`). A trained model is scored by
accuracy, precision, recall, F1 and ROC AUC, and read against the majority-class rule and a
standardized logistic regression on the same rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from densecli.data import Dataset, stratified_folds
from densecli.errors import ConfigError
from densecli.spec import ReferenceName, Spec
from densecli.tasks._base import Score, Task
from densecli.tasks._evaluation import classification_metrics, majority_accuracy
from densecli.tasks._labels import TargetEncoding, class_labels, class_name, target_encoding
from densecli.tasks._references import (
    BOOSTING_REFERENCE,
    LOGISTIC_REFERENCE,
    FoldScore,
    Reference,
    boosting_accuracy,
    boosting_inputs,
    chosen_references,
    logistic_accuracy,
    score_on_folds,
)
from densecli.tasks._stats import mean_or_none, t_interval, wilson_interval

ACCURACY = Score("accuracy", "accuracy", higher_is_better=True, percent=True, short="acc")
# Scores averaged over a run's models (majority_accuracy: the rule on each model's rows).
_MEAN_KEYS = ("accuracy", "loss", "precision", "recall", "f1", "roc_auc", "majority_accuracy")
# The references on the same folds, as metrics.json records them (the first two as before).
CLASSIFICATION_REFERENCES: dict[ReferenceName, Reference] = {
    "majority": Reference(
        "majority", "majority class", "majority_rule_accuracy", "majority_rule_fold_accuracy"
    ),
    "linear": Reference(
        "linear", "logistic regression", "logistic_regression_accuracy",
        "logistic_regression_fold_accuracy", "network_minus_logistic",
        "logistic_regression_model", LOGISTIC_REFERENCE,
    ),
    "boosting": Reference(
        "boosting", "gradient boosting", "boosting_accuracy", "boosting_fold_accuracy",
        "network_minus_boosting", "boosting_model",
        BOOSTING_REFERENCE.format(estimator="HistGradientBoostingClassifier"),
    ),
}  # fmt: skip


class ClassificationTask(Task):
    name = "classification"
    score = ACCURACY
    history_metric = "accuracy"
    keras_metrics = frozenset({"accuracy", "acc"})
    default_metrics = ("accuracy",)

    def __init__(self, spec: Spec, data: Dataset) -> None:
        labels = class_labels(data.target, data.target_name, data.path)
        self.classes = np.unique(labels)
        self.class_index = np.searchsorted(self.classes, labels)
        self.encoding: TargetEncoding = target_encoding(spec, int(self.classes.size))
        self.class_weight = spec.train.class_weight
        if isinstance(self.class_weight, dict) and self.classes.dtype == object:
            raise ConfigError(
                f"train.class_weight: its keys are integer labels, but the classes are names "
                f"({', '.join(map(str, self.classes))}); use class_weight: balanced"
            )
        self.data = data
        self.seed = spec.seed
        self.references, self.references_note = chosen_references(spec, data)

    @property
    def names(self) -> list[int | str]:
        """The classes in sorted order, as the run records them."""
        return [class_name(c) for c in self.classes]

    @property
    def n_classes(self) -> int:
        return int(self.classes.size)

    @property
    def majority_rate(self) -> float:
        """Accuracy of always answering the most frequent class (Pima: 500/768 = 65.1 %)."""
        return float(np.bincount(self.class_index).max() / self.class_index.size)

    # --- feeding the network --------------------------------------------------------------

    def encode(self, rows: np.ndarray) -> np.ndarray:
        return self.encoding.encode(self.class_index[rows])

    def stratify(self, rows: np.ndarray) -> np.ndarray | None:
        return np.asarray(self.class_index[rows])

    def row_weights(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self._class_weights(rows)[self.class_index[rows]], dtype=np.float32)

    def _class_weights(self, rows: np.ndarray) -> np.ndarray:
        """One weight per class index (all 1 when the spec sets none)."""
        setting = self.class_weight
        if setting is None:
            return np.ones(self.n_classes)
        if setting == "balanced":
            counts = np.bincount(self.class_index[rows], minlength=self.n_classes)
            return rows.size / (self.n_classes * np.maximum(counts, 1))
        # class_weight keys are integer labels; text class names get weight 1
        return np.array([setting.get(c, 1.0) if isinstance(c, int) else 1.0 for c in self.names])

    def row_scores(self, tf: Any, y_true: Any, y_pred: Any) -> Any:
        """1.0 where the output picks the true class (one unit: at 0.5, as Keras' accuracy)."""
        if self.encoding.kind == "binary":
            hit = tf.equal(tf.cast(y_pred[..., 0] > 0.5, y_true.dtype), y_true[..., 0])
            return tf.cast(hit, tf.float32)
        predicted = tf.argmax(y_pred, axis=-1)
        if self.encoding.kind == "sparse":
            truth = tf.cast(y_true, tf.int64)
        else:
            truth = tf.argmax(y_true, axis=-1)
        return tf.cast(tf.equal(predicted, truth), tf.float32)

    def folds_of_all(self, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
        return stratified_folds(self.class_index, folds, seed, self.classes)

    def folds_of(
        self, rows: np.ndarray, folds: int, seed: int
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        return stratified_folds(self.class_index[rows], folds, seed, self.classes)

    def fold_method(self, folds: int) -> str:
        return f"sklearn StratifiedKFold(n_splits={folds}, shuffle=True, random_state=seed + r)"

    # --- scores ---------------------------------------------------------------------------

    def job_metrics(
        self, train_rows: np.ndarray, eval_rows: np.ndarray, outputs: np.ndarray
    ) -> dict[str, Any]:
        return classification_metrics(self.class_index[eval_rows], outputs, self.encoding)

    def eval_references(self, train_rows: np.ndarray, eval_rows: np.ndarray) -> dict[str, Any]:
        """The majority rule of the training rows, scored on the evaluation rows, and the
        evaluation rows' own share of their commonest class."""
        truth = self.class_index
        rate = majority_accuracy(truth[train_rows], truth[eval_rows], self.n_classes)
        counts = np.bincount(truth[eval_rows], minlength=self.n_classes)
        return {
            "majority_accuracy": rate,
            # the evaluation rows' own balance: how often their commonest class appears
            "test_majority_share": float(counts.max() / max(1, counts.sum())),
            "test_classes": int(np.count_nonzero(counts)),
        }

    def summarize(self, per_job: list[dict[str, Any]]) -> dict[str, Any]:
        summary: dict[str, Any] = {
            key: mean_or_none([m[key] for m in per_job]) for key in _MEAN_KEYS
        }
        _, std, half = t_interval([m["accuracy"] for m in per_job])
        summary["accuracy_std"] = std
        summary["accuracy_interval_95"] = [summary["accuracy"] - half, summary["accuracy"] + half]
        summary["confusion_matrix"] = np.sum(
            [m["confusion_matrix"] for m in per_job], axis=0
        ).tolist()
        return summary

    def single_split(self, metrics: dict[str, Any]) -> dict[str, Any]:
        correct = round(metrics["accuracy"] * metrics["test_rows"])
        return {"accuracy_interval_95": list(wilson_interval(correct, metrics["test_rows"]))}

    def compare_folds(
        self, folds: list[tuple[np.ndarray, np.ndarray]], fold_scores: list[float]
    ) -> dict[str, Any]:
        chosen = [CLASSIFICATION_REFERENCES[name] for name in self.references]
        record = score_on_folds(chosen, self._scorers(), folds, fold_scores, True)
        return record | (
            {"references_left_out": self.references_note} if self.references_note else {}
        )

    def _scorers(self) -> dict[ReferenceName, FoldScore]:
        """Each reference's accuracy on one fold (training rows, evaluation rows)."""
        truth, n = self.class_index, self.n_classes
        features = self.data.features

        def boosting(train: np.ndarray, test: np.ndarray) -> float:
            inputs, native = boosting_inputs(self.data)
            return float(boosting_accuracy(inputs, truth, train, test, self.seed, native))

        return {
            "majority": lambda train, test: majority_accuracy(truth[train], truth[test], n),
            "linear": lambda train, test: float(logistic_accuracy(features, truth, train, test)),
            "boosting": boosting,
        }

    def data_references(self) -> dict[str, Any]:
        known = self.data.known
        return {
            "classes": self.names,
            "baseline_accuracy": self.majority_rate,
            "reported_best_accuracy": known.reported_best.get("accuracy") if known else None,
        }

    # --- records --------------------------------------------------------------------------

    def prediction_rows(self, eval_rows: np.ndarray, outputs: np.ndarray) -> list[dict[str, Any]]:
        predicted = self.encoding.predict(outputs)
        return [
            {
                "row": int(row),
                "label": class_name(self.classes[self.class_index[row]]),
                "predicted": class_name(self.classes[guess]),
                **{f"output_{k}": float(v) for k, v in enumerate(out)},
            }
            for row, guess, out in zip(eval_rows, predicted, outputs, strict=True)
        ]

    def describe_target(self) -> dict[str, Any]:
        return {"classes": self.names}

    def describe_data(self) -> str:
        return f"classes {self.names}, {self.encoding.kind} labels"


class ClassPredictions:
    """predict's columns for a classifier: one probability per class, then the class."""

    def __init__(self, spec: Spec, classes: list[int | str]) -> None:
        self.classes = classes
        self.encoding = target_encoding(spec, len(classes))

    def header(self) -> list[str]:
        return [*(f"probability_{c}" for c in self.classes), "predicted"]

    def cells(self, outputs: np.ndarray) -> list[list[str]]:
        predicted = self.encoding.predict(outputs)
        if self.encoding.kind == "binary":
            probabilities = np.column_stack([1.0 - outputs[:, 0], outputs[:, 0]])
        else:
            probabilities = outputs
        return [
            [*(repr(float(p)) for p in probs), str(self.classes[int(guess)])]
            for probs, guess in zip(probabilities, predicted, strict=True)
        ]
