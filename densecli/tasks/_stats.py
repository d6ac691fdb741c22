"""Statistics any task reports: mean and spread over models, intervals, the paired t-test."""

from __future__ import annotations

import functools
import hashlib
import math
import statistics
import weakref
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np

Fit = TypeVar("Fit", bound=Callable[..., Any])


def mean_or_none(values: list[float | None]) -> float | None:
    """The mean, or None when any model lacks the score (e.g. ROC AUC on one class)."""
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if len(present) == len(values) else None


def t_interval(values: list[float]) -> tuple[float, float, float]:
    """Mean, sample standard deviation (n − 1) and half-width of the 95 % t-interval."""
    from scipy.stats import t as student_t

    n = len(values)
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if n > 1 else 0.0
    half = float(student_t.ppf(0.975, n - 1)) * std / n**0.5 if n > 1 else 0.0
    return mean, std, half


def wilson_interval(correct: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95 % interval for a proportion measured on `total` rows: how noisy a small test set is."""
    if total == 0:
        return (0.0, 1.0)
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return (centre - half, centre + half)


def corrected_resampled_t_test(
    differences: list[float], n_train: int, n_test: int
) -> tuple[float, float] | None:
    """t statistic and two-sided p-value of the mean difference; None if undefined.

    Nadeau & Bengio (2003): CV folds share training rows, so the variance of the per-fold
    differences is widened by n_test / n_train.
    """
    from scipy.stats import t as student_t

    count = len(differences)
    if count < 2:
        return None
    variance = statistics.variance(differences)
    if variance == 0:
        return None
    t = statistics.fmean(differences) / math.sqrt((1 / count + n_test / n_train) * variance)
    return t, float(2 * student_t.sf(abs(t), count - 1))


Folds = list[tuple[Any, Any]]  # (training rows, evaluation rows) per fold


def paired_on_folds(
    network: list[float], reference: list[float], folds: list[tuple[Any, Any]]
) -> tuple[float, float | None, float | None]:
    """The network's mean difference from a reference scored on the same folds, with the
    corrected resampled t statistic and p-value (None when undefined)."""
    differences = [n - r for n, r in zip(network, reference, strict=True)]
    n_train = int(statistics.fmean(len(train) for train, _ in folds))
    n_test = int(statistics.fmean(len(test) for _, test in folds))
    t_test = corrected_resampled_t_test(differences, n_train, n_test)
    t, p = (None, None) if t_test is None else t_test
    return statistics.fmean(differences), t, p


def median_filled(
    features: np.ndarray, train: np.ndarray, test: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A reference model's training and evaluation rows, with missing cells (NaN) given the
    training rows' median by scikit-learn's SimpleImputer, fitted on the columns that have
    one anywhere (on the others it would change nothing, and its median over a wide table
    costs more than the model's fit)."""
    from sklearn.impute import SimpleImputer

    x_train, x_test = features[train], features[test]
    gaps = np.flatnonzero(np.isnan(features).any(axis=0))
    if gaps.size:
        imputer = SimpleImputer(strategy="median", keep_empty_features=True)
        x_train[:, gaps] = imputer.fit_transform(x_train[:, gaps])
        x_test[:, gaps] = imputer.transform(x_test[:, gaps])
    return x_train, x_test


def once_per_fold(fit: Fit) -> Fit:
    """A reference model's score on (features, targets, training rows, evaluation rows, and
    any hashable settings after them), computed once per process for equal arrays: the
    points of a sweep share the data and the folds, so a worker fits each fold's reference
    once, not once per point."""
    scores: dict[bytes, Any] = {}

    @functools.wraps(fit)
    def remembered(
        features: np.ndarray, targets: np.ndarray, train: np.ndarray, test: np.ndarray, *extra: Any
    ) -> Any:
        key = _content_key(features, targets, train, test) + repr(extra).encode()
        if key not in scores:
            scores[key] = fit(features, targets, train, test, *extra)
        return scores[key]

    return cast(Fit, remembered)


def _content_key(*arrays: np.ndarray) -> bytes:
    digest = hashlib.blake2b(digest_size=20)
    for array in arrays:
        digest.update(_array_digest(array))
    return digest.digest()


# Digests of large read-only arrays, by identity: a run's feature matrix (read-only, so it
# cannot change under its digest) is hashed once, not once per fold (hashing a wide table ten
# times cost more than the ten fits).
_DIGESTS: dict[int, tuple[weakref.ref[np.ndarray], bytes]] = {}
_LARGE = 1 << 20  # bytes


def _array_digest(array: np.ndarray) -> bytes:
    if array.nbytes < _LARGE or array.flags.writeable:
        return _digest(array)
    known = _DIGESTS.get(id(array))
    if known is not None and known[0]() is array:
        return known[1]
    found = _digest(array)
    _DIGESTS[id(array)] = (weakref.ref(array), found)
    return found


def _digest(array: np.ndarray) -> bytes:
    digest = hashlib.blake2b(digest_size=20)
    digest.update(f"{array.dtype}{array.shape}".encode())
    digest.update(np.ascontiguousarray(array).tobytes())
    return digest.digest()
