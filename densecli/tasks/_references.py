"""Reference models scored on exactly the network's folds, and the test that compares them.

A CV run scores, on the same folds and repeats as its network, the references
`cv.references` lists: by default the majority rule, a linear model and, for tables up to
`BOOSTING_MAX_CELLS` cells, gradient-boosted trees (scikit-learn's `HistGradientBoosting*`
with its defaults). The network is compared with the strongest of them by the corrected
resampled t-test of Nadeau & Bengio (2003). Each task says how it scores a reference on one
fold and under which metrics.json keys it is recorded (`Reference`); runs recorded before
boosting keep their keys, so they read as they always did.
"""

from __future__ import annotations

import statistics
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from densecli.data import Dataset
from densecli.spec import BOOSTING_MAX_CELLS, REFERENCE_NAMES, ReferenceName, Spec
from densecli.tasks._stats import median_filled, once_per_fold, paired_on_folds

# What the linear reference is, recorded in metrics.json beside its scores.
LOGISTIC_REFERENCE = (
    "median-imputed, standardized LogisticRegression(solver='lbfgs', max_iter=1000)"
)
BOOSTING_REFERENCE = (
    "{estimator}(random_state=seed) with scikit-learn's defaults; empty cells as missing, "
    "text columns as native categories (one-hot beyond 255 categories)"
)
NATIVE_CATEGORIES = 255  # HistGradientBoosting's limit on a categorical feature's categories
# The references recorded before `references` was: runs without that key scored these two,
# and compared the network with the linear one.
OLD_REFERENCES: tuple[ReferenceName, ...] = ("majority", "linear")
OLD_T_TEST: ReferenceName = "linear"

FoldScore = Callable[[np.ndarray, np.ndarray], float]  # (training rows, evaluation rows)


@dataclass(frozen=True)
class Reference:
    """One reference as a task records it in metrics.json and tables name it."""

    name: ReferenceName
    label: str  # "logistic regression"
    mean_key: str  # its mean score over the folds
    fold_key: str  # its score on each fold
    versus_key: str | None = None  # the network's mean score minus this one's
    model_key: str | None = None  # what the model is, in words
    model: str = ""


def chosen_references(spec: Spec, data: Dataset) -> tuple[tuple[ReferenceName, ...], str]:
    """The references a CV run scores, and (when boosting is left out by default) why and
    how to ask for it; empty when nothing is left out."""
    if spec.cv.references is not None:
        return tuple(spec.cv.references), ""
    columns = len(data.feature_names)
    cells = data.n_rows * columns
    if cells <= BOOSTING_MAX_CELLS:
        return REFERENCE_NAMES, ""
    note = (
        f"boosting reference left out: {data.n_rows:,} rows × {columns:,} columns = "
        f"{cells:,} cells, more than {BOOSTING_MAX_CELLS:,}; to score it anyway, set "
        "cv.references: [majority, linear, boosting]"
    )
    return tuple(n for n in REFERENCE_NAMES if n != "boosting"), note


def score_on_folds(
    references: Sequence[Reference],
    scorers: Mapping[ReferenceName, FoldScore],
    folds: list[tuple[np.ndarray, np.ndarray]],
    network: list[float],
    higher_is_better: bool,
) -> dict[str, Any]:
    """Each reference on every fold, and the network against the strongest of them.

    `network[i]` is the network's score on fold i (averaged over its seeds).
    """
    record: dict[str, Any] = {"references": [r.name for r in references]}
    means: dict[ReferenceName, float] = {}
    tests: dict[ReferenceName, tuple[float, float | None, float | None]] = {}
    for reference in references:
        scores = [scorers[reference.name](train, test) for train, test in folds]
        means[reference.name] = statistics.fmean(scores)
        tests[reference.name] = paired_on_folds(network, scores, folds)
        record[reference.mean_key] = means[reference.name]
        record[reference.fold_key] = scores
        if reference.model_key:
            record[reference.model_key] = reference.model
        if reference.versus_key:
            record[reference.versus_key] = tests[reference.name][0]
    if not means:
        return record
    sign = 1.0 if higher_is_better else -1.0
    strongest = max(means, key=lambda name: sign * means[name])  # ties: the first listed
    difference, t, p = tests[strongest]
    return record | {
        "t_test_reference": strongest,
        "network_minus_reference": difference,
        "t_statistic": t,
        "p_value": p,
    }


def recorded_references(
    table: Mapping[ReferenceName, Reference], metrics: dict[str, Any]
) -> list[tuple[Reference, float]]:
    """The references a run recorded on its folds, with their mean scores, in table order."""
    names = metrics.get("references", OLD_REFERENCES)
    found = []
    for name in names:
        reference = table.get(name)
        if reference is not None and metrics.get(reference.mean_key) is not None:
            found.append((reference, float(metrics[reference.mean_key])))
    return found


def strongest_reference(
    table: Mapping[ReferenceName, Reference], metrics: dict[str, Any]
) -> tuple[Reference, float] | None:
    """The reference a run's t-test was made against, and its mean score."""
    name = metrics.get("t_test_reference", OLD_T_TEST)
    return next(((r, v) for r, v in recorded_references(table, metrics) if r.name == name), None)


def versus_strongest(table: Mapping[ReferenceName, Reference], metrics: dict[str, Any]) -> Any:
    """The network's mean score minus the strongest reference's (None: none recorded)."""
    if "network_minus_reference" in metrics:
        return metrics["network_minus_reference"]
    old = table[OLD_T_TEST].versus_key
    return None if old is None else metrics.get(old)


def same_folds_references(
    table: Mapping[ReferenceName, Reference],
    runs: list[dict[str, Any]],
    labels: Mapping[ReferenceName, str],
) -> list[tuple[str, float]]:
    """A search's model references (those `labels` names), from its points' runs: "same
    folds" when every run scored the same, else their mean."""
    found = []
    for name, short in labels.items():
        key = table[name].mean_key
        values = [float(m[key]) for m in runs if m.get(key) is not None]
        if values:
            same = len({round(v, 12) for v in values}) == 1
            found.append(
                (f"{short} ({'same folds' if same else 'mean'})", statistics.fmean(values))
            )
    return found


# --- the models ------------------------------------------------------------------------------


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


# The boosting inputs of a data set, by identity: built once per data set, and read-only, so
# that the per-fold cache hashes them once (see `_stats._array_digest`).
_INPUTS: dict[int, tuple[weakref.ref[Dataset], np.ndarray, tuple[bool, ...]]] = {}


def boosting_inputs(data: Dataset) -> tuple[np.ndarray, tuple[bool, ...]]:
    """The table as HistGradientBoosting takes it: the numeric columns with their empty
    cells (NaN: it handles missing values itself), then each categorical column as one
    column of category codes (a native category; empty cells NaN) or, beyond 255
    categories, one-hot; and which columns are native categories."""
    known = _INPUTS.get(id(data))
    if known is not None and known[0]() is data:
        return known[1], known[2]
    blocks = [np.asarray(data.block.numeric, dtype=np.float64)]
    native = [False] * blocks[0].shape[1]
    for j, categories in enumerate(data.layout.categories):
        codes = data.block.codes[:, j]
        if len(categories) <= NATIVE_CATEGORIES:
            blocks.append(np.where(codes >= 0, codes, np.nan).astype(np.float64)[:, None])
            native.append(True)
        else:
            blocks.append((codes[:, None] == np.arange(len(categories))).astype(np.float64))
            native += [False] * len(categories)
    inputs = np.hstack(blocks)
    inputs.flags.writeable = False
    _INPUTS[id(data)] = (weakref.ref(data), inputs, tuple(native))
    return inputs, tuple(native)


def boosting_model(classifier: bool, seed: int, native: tuple[bool, ...]) -> Any:
    """scikit-learn's HistGradientBoosting with its defaults, seeded, categories native."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    options: dict[str, Any] = {"random_state": seed}
    if any(native):
        options["categorical_features"] = np.asarray(native)
    if classifier:
        return HistGradientBoostingClassifier(**options)
    return HistGradientBoostingRegressor(**options)


def fitted_boosting(
    classifier: bool,
    inputs: np.ndarray,
    targets: np.ndarray,
    train: np.ndarray,
    seed: int,
    native: tuple[bool, ...],
) -> Any:
    """Fitted on one thread: the network's workers use the others, and OpenMP threads that
    wait for a busy core cost it ten times the fit (measured on a shared 2-core machine)."""
    from threadpoolctl import threadpool_limits

    model = boosting_model(classifier, seed, native)
    with threadpool_limits(limits=1, user_api="openmp"):
        model.fit(inputs[train], targets[train])
    return model


@once_per_fold
def boosting_accuracy(
    inputs: np.ndarray,
    class_index: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    seed: int,
    native: tuple[bool, ...],
) -> float:
    model = fitted_boosting(True, inputs, class_index, train, seed, native)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        predicted = model.predict(inputs[test])
    return float(np.mean(predicted == class_index[test]))
