"""Feature preprocessing from the spec, fitted on one model's training rows only.

Fitted with scikit-learn's `ColumnTransformer`: numeric columns through `SimpleImputer`
(`preprocess.impute`, for missing cells and for "zero means missing" columns such as Pima's
glucose, blood pressure, skin thickness, insulin and BMI) and an optional `StandardScaler`;
categorical columns through a most-frequent `SimpleImputer` and a `OneHotEncoder`. Every
statistic comes from the training rows of the model being trained, never from its
evaluation rows. The fitted parameters are saved with the model as plain JSON (never a
pickle) and applied from that JSON, in training and in `predict` alike, so both see exactly
the same inputs.

Every model of a run has the same input width: one input per category found anywhere in
the file (the `ColumnLayout`); a category a model never saw in its training rows, or one
unseen at predict time, leaves all of its column's inputs at 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from densecli.data._dataset import ColumnLayout, Dataset, feature_index
from densecli.errors import DataError
from densecli.spec import PreprocessSpec

# Told the column name and value of a category a model does not know.
UnknownCategory = Callable[[str, str], None]
_SHOWN = 3


def resolve_columns(spec: PreprocessSpec, feature_names: tuple[str, ...]) -> list[int]:
    """Feature indices of preprocess.zero_as_missing, which may name or number columns."""
    indices = {
        feature_index(f"preprocess.zero_as_missing.{position}", column, feature_names)
        for position, column in enumerate(spec.zero_as_missing)
    }
    return sorted(indices)


def check_missing_cells(spec: PreprocessSpec, data: Dataset) -> None:
    """Missing cells in numeric columns need preprocess.impute; say so before training."""
    if spec.impute is not None:
        return
    cells = data.missing_cells()
    if not cells:
        return
    where = "; ".join(f"row {line}, column {column}" for line, column in cells[:_SHOWN])
    more = f" and {len(cells) - _SHOWN} more" if len(cells) > _SHOWN else ""
    first_line, first_column = cells[0]
    listed = f" ({len(cells)} missing cells in numeric columns: {where}{more})"
    raise DataError(
        f"{data.path}: row {first_line}, column {first_column}: missing value"
        f"{listed if len(cells) > 1 else ''}; set preprocess.impute: median (or mean) to "
        "fill missing cells per model, or fill them in"
    )


def _missing(value: object) -> bool:
    return isinstance(value, float) and np.isnan(value)


@dataclass(frozen=True)
class CategoricalStep:
    """One categorical column: its fill for missing cells and its categories."""

    column: int  # feature index
    name: str
    fill: str
    categories: list[str]  # the run's layout: one input each, in this order
    known: list[str]  # those seen in this model's training rows

    def one_hot(self, values: np.ndarray, unknown: UnknownCategory | None) -> np.ndarray:
        position = {c: i for i, c in enumerate(self.categories) if c in set(self.known)}
        out = np.zeros((values.size, len(self.categories)), dtype=np.float64)
        for row, value in enumerate(values):
            cell = self.fill if _missing(value) else str(value)
            if cell in position:
                out[row, position[cell]] = 1.0
            elif unknown is not None:
                unknown(self.name, cell)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "name": self.name,
            "fill": self.fill,
            "categories": self.categories,
            "known": self.known,
        }


@dataclass(frozen=True)
class Preprocessor:
    """Fitted statistics: fills, scaling, and one-hot layouts, all from training rows."""

    missing_columns: list[int]  # zero-as-missing feature columns
    fill_values: list[float]  # their fills
    means: list[float] | None  # of the numeric columns, in order
    scales: list[float] | None
    numeric_columns: list[int] | None = None  # None: every column (records before 0.2)
    cell_columns: list[int] = field(default_factory=list)  # numeric columns that fill NaN
    cell_fills: list[float] = field(default_factory=list)
    categorical: list[CategoricalStep] = field(default_factory=list)

    @property
    def is_identity(self) -> bool:
        return (
            not self.missing_columns
            and self.means is None
            and not self.cell_columns
            and not self.categorical
        )

    def transform(self, features: np.ndarray, unknown: UnknownCategory | None = None) -> np.ndarray:
        """Feature cells (numbers, or an object array with text) → the network's float32 inputs."""
        features = np.asarray(features)
        numeric = self.numeric_columns
        if numeric is None:
            numeric = list(range(features.shape[1]))
        # Through float32, as the features always were, so statistics and inputs match.
        out = np.asarray(features[:, numeric], dtype=np.float32).astype(np.float64)
        place = {column: i for i, column in enumerate(numeric)}
        for column, fill in zip(self.cell_columns, self.cell_fills, strict=True):
            values = out[:, place[column]]
            values[np.isnan(values)] = fill
        for column, fill in zip(self.missing_columns, self.fill_values, strict=True):
            out[out[:, place[column]] == 0, place[column]] = fill
        if self.means is not None and self.scales is not None:
            out = (out - np.asarray(self.means)) / np.asarray(self.scales)
        blocks = [out] + [
            step.one_hot(features[:, step.column], unknown) for step in self.categorical
        ]
        return np.hstack(blocks).astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        return {
            "missing_columns": self.missing_columns,
            "fill_values": self.fill_values,
            "means": self.means,
            "scales": self.scales,
            "numeric_columns": self.numeric_columns,
            "cell_columns": self.cell_columns,
            "cell_fills": self.cell_fills,
            "categorical": [step.to_json() for step in self.categorical],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Preprocessor:
        """Reads records of every version: older ones lack the keys after `scales`."""
        return cls(
            data["missing_columns"],
            data["fill_values"],
            data["means"],
            data["scales"],
            data.get("numeric_columns"),
            data.get("cell_columns", []),
            data.get("cell_fills", []),
            [CategoricalStep(**step) for step in data.get("categorical", [])],
        )


def _transformer(spec: PreprocessSpec, layout: ColumnLayout, impute: bool) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric: list[tuple[str, Any]] = []
    if impute:
        strategy = spec.impute or "median"
        numeric.append(("impute", SimpleImputer(strategy=strategy, keep_empty_features=True)))
    if spec.standardize:
        numeric.append(("scale", StandardScaler()))
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="most_frequent", keep_empty_features=True)),
            ("one_hot", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    width = len(layout.numeric)
    return ColumnTransformer(
        [
            ("numeric", Pipeline(numeric) if numeric else "passthrough", list(range(width))),
            ("categorical", categorical, list(range(width, width + len(layout.categorical)))),
        ]
    )


def fit_preprocessor(
    spec: PreprocessSpec,
    missing_columns: list[int],
    train_features: np.ndarray,
    layout: ColumnLayout | None = None,
) -> Preprocessor:
    """Fit on one model's training rows (feature cells, file order) and keep the statistics."""
    features = np.asarray(train_features)
    layout = layout or ColumnLayout.all_numeric(features.shape[1])
    numeric = list(layout.numeric)
    block = np.asarray(features[:, numeric], dtype=np.float32).astype(np.float64)
    zero = [numeric.index(c) for c in missing_columns]
    for j in zero:
        block[block[:, j] == 0, j] = np.nan
    impute = bool(zero) or spec.impute is not None
    table = np.empty((features.shape[0], len(numeric) + len(layout.categorical)), dtype=object)
    table[:, : len(numeric)] = block
    table[:, len(numeric) :] = features[:, list(layout.categorical)]
    fitted = _transformer(spec, layout, impute).fit(table)
    return _statistics(spec, layout, missing_columns, fitted)


def _statistics(
    spec: PreprocessSpec, layout: ColumnLayout, missing_columns: list[int], fitted: Any
) -> Preprocessor:
    numeric = list(layout.numeric)
    steps = fitted.named_transformers_["numeric"]
    fills: list[float] = []
    means = scales = None
    if hasattr(steps, "named_steps"):  # else passthrough: nothing fitted
        if "impute" in steps.named_steps:
            fills = [float(v) for v in steps.named_steps["impute"].statistics_]
        if "scale" in steps.named_steps:
            means = [float(v) for v in steps.named_steps["scale"].mean_]
            scales = [float(v) for v in steps.named_steps["scale"].scale_]
    categorical = []
    if layout.categorical:
        pipeline = fitted.named_transformers_["categorical"]
        most_frequent = pipeline.named_steps["impute"].statistics_
        known = pipeline.named_steps["one_hot"].categories_
        for i, column in enumerate(layout.categorical):
            categorical.append(
                CategoricalStep(
                    column,
                    layout.names[column] if layout.names else f"column_{column + 1}",
                    str(most_frequent[i]),
                    list(layout.categories[i]),
                    sorted(str(c) for c in known[i]),
                )
            )
    cell_columns = numeric if spec.impute is not None else []
    return Preprocessor(
        missing_columns,
        [fills[numeric.index(c)] for c in missing_columns],
        means,
        scales,
        numeric,
        cell_columns,
        [fills[numeric.index(c)] for c in cell_columns],
        categorical,
    )


def unseen_category_warning(name: str, value: str) -> str:
    return (
        f"column {name!r}: category {value!r} was not among a model's training categories; "
        "its one-hot inputs are all 0 for that model"
    )
