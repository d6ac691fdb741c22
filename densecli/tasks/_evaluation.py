"""Scores of a classifier on its evaluation rows, computed by scikit-learn."""

from __future__ import annotations

from typing import Any

import numpy as np

from densecli.tasks._labels import TargetEncoding


def classification_metrics(
    class_index: np.ndarray, outputs: np.ndarray, encoding: TargetEncoding
) -> dict[str, Any]:
    """Accuracy, precision, recall, F1 (class 1 positive; macro for 3+ classes), ROC AUC."""
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    predicted = encoding.predict(outputs)
    binary = encoding.n_classes == 2
    precision, recall, f1, _ = precision_recall_fscore_support(
        class_index,
        predicted,
        average="binary" if binary else "macro",
        labels=None if binary else list(range(encoding.n_classes)),
        zero_division=0,
    )
    score = encoding.positive_score(outputs)
    roc_auc = None
    if score is not None and np.unique(class_index).size == 2 and np.all(np.isfinite(score)):
        roc_auc = float(roc_auc_score(class_index, score))
    return {
        "accuracy": float(accuracy_score(class_index, predicted)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "roc_auc": roc_auc,
        "confusion_matrix": confusion_matrix(
            class_index, predicted, labels=list(range(encoding.n_classes))
        ).tolist(),
    }


def majority_accuracy(train_index: np.ndarray, eval_index: np.ndarray, n_classes: int) -> float:
    """Accuracy on the evaluation rows of always answering the training rows' commonest class."""
    majority = int(np.bincount(train_index, minlength=n_classes).argmax())
    return float(np.mean(eval_index == majority))
