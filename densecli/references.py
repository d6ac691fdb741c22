"""Reference models on exactly the network's folds, and the test that compares them.

Every CV report shows, next to the network, the majority-class rule and a standardized
logistic regression (scikit-learn) trained and scored on the same rows. With several
folds the network is compared with the logistic regression by the corrected resampled
t-test of Nadeau & Bengio (2003), which widens the variance of the per-fold differences by
n_test / n_train because CV folds share training rows.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np

from densecli.data import Dataset


def logistic_accuracy(data: Dataset, train_rows: np.ndarray, eval_rows: np.ndarray) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(data.features[train_rows], data.class_index[train_rows])
    return float(np.mean(model.predict(data.features[eval_rows]) == data.class_index[eval_rows]))


def corrected_resampled_t_test(
    differences: list[float], n_train: int, n_test: int
) -> tuple[float, float] | None:
    """t statistic and two-sided p-value of the mean difference; None if undefined."""
    from scipy.stats import t as student_t

    count = len(differences)
    if count < 2:
        return None
    variance = statistics.variance(differences)
    if variance == 0:
        return None
    t = statistics.fmean(differences) / math.sqrt((1 / count + n_test / n_train) * variance)
    return t, float(2 * student_t.sf(abs(t), count - 1))


def compare_with_references(
    data: Dataset, folds: list[tuple[np.ndarray, np.ndarray]], network_accuracy: list[float]
) -> dict[str, Any]:
    """Majority rule and logistic regression per fold, and the network against the latter.

    `network_accuracy[i]` is the network's accuracy on fold i (averaged over its seeds).
    """
    logistic = [logistic_accuracy(data, train, test) for train, test in folds]
    majority = []
    for train, test in folds:
        common = np.bincount(data.class_index[train]).argmax()
        majority.append(float(np.mean(data.class_index[test] == common)))
    differences = [n - r for n, r in zip(network_accuracy, logistic, strict=True)]
    n_train = int(np.mean([train.size for train, _ in folds]))
    n_test = int(np.mean([test.size for _, test in folds]))
    t_test = corrected_resampled_t_test(differences, n_train, n_test)
    return {
        "logistic_regression_accuracy": statistics.fmean(logistic),
        "logistic_regression_fold_accuracy": logistic,
        "majority_rule_accuracy": statistics.fmean(majority),
        "network_minus_logistic": statistics.fmean(differences),
        "t_statistic": None if t_test is None else t_test[0],
        "p_value": None if t_test is None else t_test[1],
    }
