"""Reference classifiers on exactly the network's folds, and the test that compares them.

Every CV report shows, next to the network, the majority-class rule and a standardized
logistic regression (scikit-learn) trained and scored on the same rows. With several
folds the network is compared with the logistic regression by the corrected resampled
t-test of Nadeau & Bengio (2003).
"""

from __future__ import annotations

import statistics
from typing import Any

import numpy as np

from densecli.tasks._evaluation import majority_accuracy
from densecli.tasks._stats import median_filled, once_per_fold, paired_on_folds

# What the linear reference is, recorded in metrics.json beside its scores.
LOGISTIC_REFERENCE = (
    "median-imputed, standardized LogisticRegression(solver='lbfgs', max_iter=1000)"
)


@once_per_fold
def logistic_accuracy(
    features: np.ndarray, class_index: np.ndarray, train_rows: np.ndarray, eval_rows: np.ndarray
) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train, x_eval = median_filled(features, train_rows, eval_rows)
    model = make_pipeline(StandardScaler(), LogisticRegression(solver="lbfgs", max_iter=1000))
    model.fit(x_train, class_index[train_rows])
    return float(np.mean(model.predict(x_eval) == class_index[eval_rows]))


def compare_with_references(
    features: np.ndarray,
    class_index: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    network_accuracy: list[float],
) -> dict[str, Any]:
    """Majority rule and logistic regression per fold, and the network against the latter.

    `network_accuracy[i]` is the network's accuracy on fold i (averaged over its seeds).
    """
    n_classes = int(class_index.max()) + 1
    logistic = [logistic_accuracy(features, class_index, train, test) for train, test in folds]
    majority = [
        majority_accuracy(class_index[train], class_index[test], n_classes) for train, test in folds
    ]
    difference, t, p = paired_on_folds(network_accuracy, logistic, folds)
    return {
        "logistic_regression_accuracy": statistics.fmean(logistic),
        "logistic_regression_model": LOGISTIC_REFERENCE,
        "logistic_regression_fold_accuracy": logistic,
        "majority_rule_accuracy": statistics.fmean(majority),
        "network_minus_logistic": difference,
        "t_statistic": t,
        "p_value": p,
    }
