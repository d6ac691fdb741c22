from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from densecli.experiment import Experiment, Plan, cv_folds
from densecli.tasks import ClassificationTask, corrected_resampled_t_test, view_for

from conftest import CONFIGS


def test_corrected_t_test_matches_nadeau_and_bengio() -> None:
    differences = [0.01, 0.03, -0.01, 0.02, 0.00]
    t, p = corrected_resampled_t_test(differences, n_train=90, n_test=10)  # type: ignore[misc]
    # mean 0.01, variance 0.00025; (1/5 + 10/90) · 0.00025 = 7.78e-05 → t = 0.01 / 0.00882
    assert t == pytest.approx(1.1339, abs=1e-4)
    assert p == pytest.approx(0.3202, abs=1e-3)


def test_no_test_without_variation_or_folds() -> None:
    assert corrected_resampled_t_test([0.1], 90, 10) is None
    assert corrected_resampled_t_test([0.1, 0.1], 90, 10) is None


def test_a_fold_reference_is_fitted_once_per_content_of_its_rows() -> None:
    from densecli.tasks._stats import once_per_fold

    fits: list[int] = []

    @once_per_fold
    def fit(features: np.ndarray, targets: np.ndarray, train: np.ndarray, test: np.ndarray) -> int:
        fits.append(1)
        return int(features[train].sum() + targets[test].sum())

    features, targets = np.arange(12.0).reshape(6, 2), np.array([0, 1, 0, 1, 1, 0])
    train, test = np.array([0, 1, 2, 3]), np.array([4, 5])
    first = fit(features, targets, train, test)
    again = fit(features.copy(), targets.copy(), train.copy(), test.copy())  # equal, not same
    assert first == again and len(fits) == 1
    assert fit(features, targets, test, train) != first and len(fits) == 2  # other rows
    changed = features.copy()
    changed[0, 0] = 100.0
    fit(changed, targets, train, test)
    assert len(fits) == 3  # other data: fitted again


# --- the references on the same folds (issue 23) -------------------------------------------


def _experiment(config: str, *overrides: str, data: Path | None = None) -> Experiment:
    from densecli.experiment import prepare_file

    return prepare_file(CONFIGS / config, list(overrides), data)


def _scored(experiment: Experiment, network: list[float]) -> tuple[Any, dict[str, Any]]:
    folds = cv_folds(experiment, Plan())
    return folds, experiment.task.compare_folds(folds, network)


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    """scikit-learn's OpenMP threads wait for busy cores on a shared machine (ten times the
    fit); one thread gives the same models."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def _boosting(classifier: bool, seed: int, native: list[bool] | None = None) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    options: dict[str, Any] = {"random_state": seed}
    if native is not None:
        options["categorical_features"] = native
    if classifier:
        return HistGradientBoostingClassifier(**options)
    return HistGradientBoostingRegressor(**options)


@pytest.mark.data
def test_boosting_on_pima_is_cross_val_score_on_the_same_folds() -> None:
    from sklearn.model_selection import cross_val_score

    experiment = _experiment("pima.yaml")
    folds, record = _scored(experiment, [0.70] * 10)
    task = experiment.task
    assert isinstance(task, ClassificationTask)
    expected = cross_val_score(
        _boosting(True, experiment.spec.seed), experiment.data.features, task.class_index,
        cv=folds, scoring="accuracy",
    )  # fmt: skip
    assert record["references"] == ["majority", "linear", "boosting"]
    assert np.allclose(record["boosting_fold_accuracy"], expected, rtol=0, atol=1e-9)
    assert record["boosting_accuracy"] == pytest.approx(expected.mean(), abs=1e-9)
    _assert_t_test_against_the_strongest(record, folds, [0.70] * 10, higher_is_better=True)


def test_boosting_on_a_regression_is_cross_val_score_on_the_same_folds() -> None:
    from sklearn.model_selection import cross_val_score

    experiment = _experiment("diabetes-regression.yaml")
    network = [50.0 + fold for fold in range(10)]
    folds, record = _scored(experiment, network)
    values = experiment.task.encode(np.arange(experiment.data.n_rows))[:, 0]
    expected = -cross_val_score(
        _boosting(False, experiment.spec.seed), experiment.data.features, values, cv=folds,
        scoring="neg_root_mean_squared_error",
    )  # fmt: skip
    assert np.allclose(record["boosting_fold_rmse"], expected, rtol=0, atol=1e-9)
    r2 = cross_val_score(
        _boosting(False, experiment.spec.seed), experiment.data.features, values, cv=folds,
        scoring="r2",
    )  # fmt: skip
    assert record["boosting_r2"] == pytest.approx(r2.mean(), abs=1e-9)
    _assert_t_test_against_the_strongest(record, folds, network, higher_is_better=False)


def test_boosting_takes_text_columns_as_native_categories(tmp_path: Path) -> None:
    """A table with a text column and empty cells: boosting sees the numbers with their gaps
    and the text column as one column of category codes, as scikit-learn's own
    categorical support takes it."""
    from golden.cases import write_messy_table
    from sklearn.model_selection import cross_val_score

    table = write_messy_table(tmp_path)
    experiment = _experiment(
        "iris.yaml", "data.target=species", "preprocess.impute=median",
        "model.layers.0.input_dim=null", data=table,
    )  # fmt: skip
    folds, record = _scored(experiment, [0.9] * 10)
    data = experiment.data
    (site,) = data.layout.categorical
    assert data.feature_names[site] == "site"
    codes = data.block.codes[:, 0].astype(float)
    inputs = np.column_stack([data.block.numeric, np.where(codes >= 0, codes, np.nan)])
    assert np.isnan(inputs).any()  # the empty cells stay missing
    task = experiment.task
    assert isinstance(task, ClassificationTask)
    expected = cross_val_score(
        _boosting(True, experiment.spec.seed, [False] * 4 + [True]), inputs, task.class_index,
        cv=folds, scoring="accuracy",
    )  # fmt: skip
    assert np.allclose(record["boosting_fold_accuracy"], expected, rtol=0, atol=1e-9)


def _assert_t_test_against_the_strongest(
    record: dict[str, Any], folds: Any, network: list[float], higher_is_better: bool
) -> None:
    from densecli.tasks._stats import paired_on_folds

    view = view_for({"task": "regression" if not higher_is_better else "classification"})
    found = view.fold_references(record)
    assert [r.name for r, _ in found] == ["majority", "linear", "boosting"]
    sign = 1 if higher_is_better else -1
    strongest, _ = max(found, key=lambda item: sign * item[1])
    assert record["t_test_reference"] == strongest.name
    difference, t, p = paired_on_folds(network, record[strongest.fold_key], folds)
    assert (record["network_minus_reference"], record["t_statistic"], record["p_value"]) == (
        difference, t, p,
    )  # fmt: skip
    named = view.t_test_name(record)
    assert named == f"{strongest.label} (the strongest reference)"


def test_boosting_is_left_out_of_a_large_table_by_default_and_said(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import densecli.tasks._references as references

    experiment = _experiment("diabetes-regression.yaml")
    cells = experiment.data.n_rows * len(experiment.data.feature_names)
    monkeypatch.setattr(references, "BOOSTING_MAX_CELLS", cells - 1)
    chosen, note = references.chosen_references(experiment.spec, experiment.data)
    assert chosen == ("majority", "linear")
    assert f"{cells:,} cells" in note and "cv.references: [majority, linear, boosting]" in note
    asked = experiment.spec.model_copy(
        update={"cv": experiment.spec.cv.model_copy(update={"references": ["boosting"]})}
    )
    assert references.chosen_references(asked, experiment.data) == (("boosting",), "")
    monkeypatch.setattr(references, "BOOSTING_MAX_CELLS", cells)
    assert references.chosen_references(experiment.spec, experiment.data)[0][-1] == "boosting"


def test_runs_recorded_before_boosting_read_as_before() -> None:
    """An old run: the two references it had, its t-test against the logistic regression."""
    old = {
        "task": "classification",
        "majority_rule_accuracy": 0.651,
        "logistic_regression_accuracy": 0.780,
        "network_minus_logistic": -0.048,
        "t_statistic": -2.73,
        "p_value": 0.023,
    }
    view = view_for(old)
    assert [r.name for r, _ in view.fold_references(old)] == ["majority", "linear"]
    assert view.fold_reference(old) == ("logistic regression", 0.780)
    assert view.ranked_cells(old | {"accuracy": 0.732}, {})["vs best ref (pts)"] == "-4.8"
