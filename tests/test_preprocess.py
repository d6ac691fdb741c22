import numpy as np
import pytest

from densecli.data import Preprocessor, dataset_for, fit_preprocessor, resolve_columns
from densecli.errors import ConfigError
from densecli.spec import PreprocessSpec, load_spec

from conftest import CONFIGS

MISSING: list[int | str] = ["glucose", "blood_pressure", "skin_thickness", "insulin", "bmi"]


@pytest.mark.data
def test_pima_has_the_documented_impossible_zeros() -> None:
    pima = dataset_for(None)
    columns = resolve_columns(PreprocessSpec(zero_as_missing=MISSING), pima.feature_names)
    assert (pima.features[:, columns] == 0).sum(axis=0).tolist() == [5, 35, 227, 374, 11]


def test_statistics_come_from_the_training_rows_only() -> None:
    train = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0], [6.0, 7.0]])
    spec = PreprocessSpec(zero_as_missing=[0], standardize=True)
    fitted = fit_preprocessor(spec, [0], train)
    assert fitted.fill_values == [4.0]  # median of 2, 4, 6: the zero is not a value
    assert fitted.means == pytest.approx([4.0, 4.0])
    out = fitted.transform(np.array([[0.0, 4.0], [100.0, 4.0]]))
    assert out[0].tolist() == pytest.approx([0.0, 0.0])  # imputed, then centred
    assert out[1, 0] > 10  # an evaluation row does not move the statistics


def test_saved_statistics_round_trip_through_json() -> None:
    fitted = fit_preprocessor(PreprocessSpec(standardize=True), [], np.array([[1.0], [3.0]]))
    again = Preprocessor.from_json(fitted.to_json())
    assert np.array_equal(again.transform(np.array([[2.0]])), fitted.transform(np.array([[2.0]])))


@pytest.mark.data
def test_unknown_columns_are_named() -> None:
    with pytest.raises(
        ConfigError, match=r"preprocess.zero_as_missing.0: no feature named 'glucoze'"
    ):
        resolve_columns(
            PreprocessSpec(zero_as_missing=["glucoze"]), dataset_for(None).feature_names
        )


def test_spec_accepts_the_new_keys() -> None:
    spec = load_spec(
        CONFIGS / "pima.yaml",
        [
            "preprocess.standardize=true",
            "model.layers.0.activation={name: leaky_relu, negative_slope: 0.1}",
            "model.layers.0.dropout=0.2",
            "model.layers.1.maxout=3",
            "model.layers.1.activation=linear",
            "model.layers.1.batch_norm=true",
            "model.layers.1.kernel_regularizer={l2: 0.01}",
            "train.early_stopping={patience: 5}",
            "train.schedule={name: cosine}",
            "train.class_weight=balanced",
            "train.threshold=0.4",
        ],
    )
    assert spec.model.layers[1].maxout == 3 and spec.train.early_stopping is not None


@pytest.mark.parametrize("width", [1, 2, 3, 31, 32, 33, 64, 65, 70])
def test_statistics_fitted_a_block_of_columns_at_a_time_equal_one_fit(width: int) -> None:
    """Large tables are fitted 32 columns at a time; the numbers must be those of one fit."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(width)
    values = rng.normal(3, 10, size=(997, width)).astype(np.float32)
    values[rng.random(values.shape) < 0.05] = np.nan
    values[rng.random(values.shape) < 0.05] = 0.0
    spec = PreprocessSpec(impute="median", standardize=True, zero_as_missing=[0])
    fitted = fit_preprocessor(spec, [0], values)
    whole = values.astype(np.float64)
    whole[whole[:, 0] == 0, 0] = np.nan
    imputer = SimpleImputer(strategy="median", keep_empty_features=True)
    scaler = StandardScaler().fit(imputer.fit_transform(whole))
    assert fitted.cell_fills == imputer.statistics_.tolist()
    assert fitted.means == scaler.mean_.tolist() and fitted.scales == scaler.scale_.tolist()
