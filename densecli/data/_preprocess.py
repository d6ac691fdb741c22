"""Feature preprocessing from the spec, fitted on one model's training rows only.

Numeric columns go through scikit-learn's `SimpleImputer` (`preprocess.impute`, for
missing cells and for "zero means missing" columns such as Pima's glucose, blood pressure,
skin thickness, insulin and BMI) and an optional `StandardScaler`, fitted on whole arrays;
a categorical column's missing cells get its most frequent category and each category one
input, counted from the category codes. Every statistic comes from the training rows of
the model being trained, never from its evaluation rows. The fitted parameters are saved
with the model as plain JSON (never a pickle) and applied from that JSON, in training and
in `predict` alike, so both see exactly the same inputs.

Every model of a run has the same input width: one input per category found anywhere in
the file (the `ColumnLayout`); a category a model never saw in its training rows, or one
unseen at predict time, leaves all of its column's inputs at 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from densecli.data._dataset import (
    MISSING_CODE,
    UNKNOWN_CODE,
    ColumnLayout,
    Dataset,
    FeatureBlock,
    feature_index,
)
from densecli.errors import DataError
from densecli.spec import PreprocessSpec

# Rows transformed at a time: float64 work on a bounded piece of a large table.
_CHUNK_ROWS = 8192
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
    count, cells = data.missing_cells(_SHOWN)
    if not count:
        return
    where = "; ".join(f"row {line}, column {column}" for line, column in cells)
    more = f" and {count - _SHOWN} more" if count > _SHOWN else ""
    first_line, first_column = cells[0]
    listed = f" ({count} missing cells in numeric columns: {where}{more})"
    raise DataError(
        f"{data.path}: row {first_line}, column {first_column}: missing value"
        f"{listed if count > 1 else ''}; set preprocess.impute: median (or mean) to "
        "fill missing cells per model, or fill them in"
    )


@dataclass(frozen=True)
class CategoricalStep:
    """One categorical column: its fill for missing cells and its categories."""

    column: int  # feature index
    name: str
    fill: str
    categories: list[str]  # the run's layout: one input each, in this order
    known: list[str]  # those seen in this model's training rows

    def one_hot(self, codes: np.ndarray, unknown: UnknownCategory | None) -> np.ndarray:
        """Codes into the run's categories (-1 missing, -2 a category the run never saw)
        → one input per category; a missing cell is the fill, a category this model did
        not see in its training rows leaves every input at 0."""
        known = np.isin(self.categories, self.known)
        fill = self.categories.index(self.fill) if self.fill in self.categories else UNKNOWN_CODE
        codes = np.where(codes == MISSING_CODE, fill, codes)
        usable = codes >= 0
        usable[usable] = known[codes[usable]]
        out = np.zeros((codes.size, len(self.categories)), dtype=np.float64)
        out[np.flatnonzero(usable), codes[usable]] = 1.0
        if unknown is not None:
            for code in np.unique(codes[(codes >= 0) & ~usable]):
                unknown(self.name, self.categories[int(code)])
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

    def transform(
        self,
        features: FeatureBlock | np.ndarray,
        unknown: UnknownCategory | None = None,
        rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """Feature rows (those of `rows` when given) → the network's float32 inputs.

        A few thousand rows at a time, so a large table never needs a float64 copy of itself.
        """
        block = features if isinstance(features, FeatureBlock) else FeatureBlock.numbers(features)
        picked = np.arange(block.n_rows) if rows is None else rows
        width = block.numeric.shape[1] + sum(len(step.categories) for step in self.categorical)
        out = np.empty((picked.size, width), dtype=np.float32)
        for start in range(0, picked.size, _CHUNK_ROWS):
            part = picked[start : start + _CHUNK_ROWS]
            chunk = block.numeric[part], block.codes[part]
            out[start : start + _CHUNK_ROWS] = self._transform_rows(*chunk, unknown)
        return out

    def _transform_rows(
        self, numbers: np.ndarray, codes: np.ndarray, unknown: UnknownCategory | None
    ) -> np.ndarray:
        # Float64 arithmetic on the float32 features, as the statistics were computed.
        out = numbers.astype(np.float64)
        numeric = self.numeric_columns
        place = {column: i for i, column in enumerate(numeric or range(out.shape[1]))}
        for column, fill in zip(self.cell_columns, self.cell_fills, strict=True):
            values = out[:, place[column]]
            values[np.isnan(values)] = fill
        for column, fill in zip(self.missing_columns, self.fill_values, strict=True):
            out[out[:, place[column]] == 0, place[column]] = fill
        if self.means is not None and self.scales is not None:
            out -= np.asarray(self.means)
            out /= np.asarray(self.scales)
        blocks = [out] + [
            step.one_hot(codes[:, i], unknown) for i, step in enumerate(self.categorical)
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


def _numeric_steps(spec: PreprocessSpec, impute: bool) -> list[tuple[str, Any]]:
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

    steps: list[tuple[str, Any]] = []
    if impute:
        strategy = spec.impute or "median"
        steps.append(("impute", SimpleImputer(strategy=strategy, keep_empty_features=True)))
    if spec.standardize:
        steps.append(("scale", StandardScaler()))
    return steps


def column_blocks(width: int, size: int = 32) -> list[slice]:
    """Column ranges of about `size` columns, none of them one column wide unless the table
    is (a one-column array sums along its contiguous axis, pairwise, in another order)."""
    starts = list(range(0, width, size))
    if len(starts) > 1 and width - starts[-1] == 1:
        starts[-1] -= 1
    return [slice(a, b) for a, b in zip(starts, [*starts[1:], width], strict=True)]


def _block_statistics(
    spec: PreprocessSpec, numbers: np.ndarray, zeros: list[int], columns: slice, impute: bool
) -> tuple[list[float], list[float], list[float]]:
    """Fills, means and scales of some numeric columns: each column's statistics depend on
    that column alone, so fitting a large table a block of columns at a time gives the same
    numbers without a float64 copy of the whole table."""
    values = numbers.astype(np.float64)
    for j in zeros:
        if columns.start <= j < columns.stop:
            inside = j - columns.start
            values[values[:, inside] == 0, inside] = np.nan
    fills: list[float] = []
    means: list[float] = []
    scales: list[float] = []
    steps = _numeric_steps(spec, impute)
    for position, (name, step) in enumerate(steps):
        if position == len(steps) - 1:
            step.fit(values)  # nothing is fitted on its output
        else:
            values = step.fit_transform(values)
        if name == "impute":
            fills = [float(v) for v in step.statistics_]
        else:
            means = [float(v) for v in step.mean_]
            scales = [float(v) for v in step.scale_]
    return fills, means, scales


def fit_preprocessor(
    spec: PreprocessSpec,
    missing_columns: list[int],
    train_features: FeatureBlock | np.ndarray,
    layout: ColumnLayout | None = None,
) -> Preprocessor:
    """Fit on one model's training rows (feature rows, file order) and keep the statistics."""
    block = (
        train_features
        if isinstance(train_features, FeatureBlock)
        else FeatureBlock.numbers(train_features)
    )
    layout = layout or ColumnLayout.all_numeric(block.numeric.shape[1])
    numeric = list(layout.numeric)
    zeros = [numeric.index(c) for c in missing_columns]
    impute = bool(missing_columns) or spec.impute is not None
    fills, means, scales = [], [], []
    for columns in column_blocks(len(numeric)):
        found = _block_statistics(spec, block.numeric[:, columns], zeros, columns, impute)
        fills += found[0]
        means += found[1]
        scales += found[2]
    cell_columns = numeric if spec.impute is not None else []
    return Preprocessor(
        missing_columns,
        [fills[numeric.index(c)] for c in missing_columns],
        means if spec.standardize else None,
        scales if spec.standardize else None,
        numeric,
        cell_columns,
        [fills[numeric.index(c)] for c in cell_columns],
        _categorical_steps(layout, block.codes),
    )


def _categorical_steps(layout: ColumnLayout, codes: np.ndarray) -> list[CategoricalStep]:
    """Per categorical column: the most frequent category of these rows fills missing cells
    (the first in sorted order on a tie, as scikit-learn's most_frequent imputer), and the
    categories these rows hold are the ones this model knows."""
    steps = []
    for i, column in enumerate(layout.categorical):
        categories = list(layout.categories[i])
        present = codes[:, i][codes[:, i] >= 0]
        counts = np.bincount(present, minlength=len(categories))
        fill = categories[int(np.argmax(counts))] if present.size else ""
        seen = counts > 0
        steps.append(
            CategoricalStep(
                column,
                layout.names[column] if layout.names else f"column_{column + 1}",
                fill,
                categories,
                [c for c, s in zip(categories, seen, strict=True) if s],
            )
        )
    return steps


def unseen_category_warning(name: str, value: str) -> str:
    return (
        f"column {name!r}: category {value!r} was not among a model's training categories; "
        "its one-hot inputs are all 0 for that model"
    )
