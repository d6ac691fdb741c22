"""Feature preprocessing from the spec, fitted on one model's training rows only.

"Zero means missing" columns (Pima's glucose, blood pressure, skin thickness, insulin and BMI
hold impossible zeros) become NaN, are imputed with scikit-learn's SimpleImputer, and all
features are optionally standardized with StandardScaler. Every statistic comes from the
training rows of the model being trained, never from its evaluation rows; the fitted
statistics are saved with the model as plain JSON so later predictions apply the same steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from densecli.errors import ConfigError
from densecli.spec import PreprocessSpec


def resolve_columns(spec: PreprocessSpec, feature_names: tuple[str, ...]) -> list[int]:
    """Feature indices of preprocess.zero_as_missing, which may name or number columns."""
    indices = []
    for position, column in enumerate(spec.zero_as_missing):
        key = f"preprocess.zero_as_missing.{position}"
        if isinstance(column, str):
            if column not in feature_names:
                raise ConfigError(
                    f"{key}: no feature named {column!r}; features are {', '.join(feature_names)}"
                )
            indices.append(feature_names.index(column))
        elif -len(feature_names) <= column < len(feature_names):
            indices.append(column % len(feature_names))
        else:
            raise ConfigError(
                f"{key}: feature index {column} is out of range; use 0..{len(feature_names) - 1}"
            )
    return sorted(set(indices))


@dataclass(frozen=True)
class Preprocessor:
    """Fitted statistics: what to impute per zero-as-missing column, and how to scale."""

    missing_columns: list[int]
    fill_values: list[float]
    means: list[float] | None
    scales: list[float] | None

    @property
    def is_identity(self) -> bool:
        return not self.missing_columns and self.means is None

    def transform(self, features: np.ndarray) -> np.ndarray:
        out = np.array(features, dtype=np.float64, copy=True)
        for column, fill in zip(self.missing_columns, self.fill_values, strict=True):
            out[out[:, column] == 0, column] = fill
        if self.means is not None and self.scales is not None:
            out = (out - np.asarray(self.means)) / np.asarray(self.scales)
        return out.astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        return {
            "missing_columns": self.missing_columns,
            "fill_values": self.fill_values,
            "means": self.means,
            "scales": self.scales,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Preprocessor:
        return cls(data["missing_columns"], data["fill_values"], data["means"], data["scales"])


def fit_preprocessor(
    spec: PreprocessSpec, missing_columns: list[int], train_features: np.ndarray
) -> Preprocessor:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

    fills: list[float] = []
    features = np.array(train_features, dtype=np.float64, copy=True)
    if missing_columns:
        block = features[:, missing_columns]
        block[block == 0] = np.nan
        imputer = SimpleImputer(strategy=spec.impute, keep_empty_features=True).fit(block)
        fills = [float(v) for v in imputer.statistics_]
        features[:, missing_columns] = imputer.transform(block)
    means = scales = None
    if spec.standardize:
        scaler = StandardScaler().fit(features)
        means = [float(v) for v in scaler.mean_]
        scales = [float(v) for v in scaler.scale_]
    return Preprocessor(missing_columns, fills, means, scales)
