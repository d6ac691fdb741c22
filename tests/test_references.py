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
