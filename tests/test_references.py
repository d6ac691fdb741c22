import numpy as np
import pytest

from densecli.tasks import corrected_resampled_t_test


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
