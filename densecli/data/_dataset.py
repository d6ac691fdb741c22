"""A data set: a CSV parsed into feature columns and one target column, rows in file order.

A column whose non-missing cells are all numbers is numeric, any other column is
categorical (`preprocess.categorical` forces a numeric-coded one to be). Features are held
as one float32 matrix of the numeric columns (NaN where a cell is missing) and one matrix
of category codes (-1 where missing); folds take rows of them by index. Filling missing
cells is preprocessing's job, per model. What the target means (class labels, …) is the
task's business (`densecli.tasks`): here it is the column's numbers, or its text when not
all are numbers. Row numbers in error messages are the file's own line numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np

from densecli.data._columns import chosen_features, column_index
from densecli.data._csv import (
    DELIMITER_NAMES,
    Numbers,
    Table,
    first_text,
    is_missing,
    is_number,
    missing_mask,
    read_numbers,
    read_table,
    release_memory,
)
from densecli.data._pima import KNOWN_DATA, KnownData, locate_pima, sha256_of
from densecli.errors import ConfigError, DataError
from densecli.spec import MissingTarget

Header = bool | Literal["auto"]
# Without a known split, the classic split trains on this share of the rows.
DEFAULT_TRAIN_SHARE = 0.9
# A categorical column with more distinct values than this (or than half the rows) is refused.
MAX_CATEGORIES = 1000
_SHOWN = 3  # cells named in an error before "…"
MISSING_CODE = -1  # a category code: the cell is missing
UNKNOWN_CODE = -2  # a category code: a category the run never saw (rows to score)


@dataclass(frozen=True)
class TableOptions:
    """How the spec's data section says to read a table."""

    target: int | str = -1
    header: Header = "auto"
    categorical: Sequence[int | str] = ()
    features: Sequence[int | str] | None = None
    drop: Sequence[int | str] = ()
    missing_target: MissingTarget = "drop"
    delimiter: str | None = None


@dataclass(frozen=True)
class ColumnLayout:
    """Which feature columns are numeric and which categorical, with every category found.

    The network's inputs are the numeric columns in file order, then one input per
    category of each categorical column; every model of a run has this same width.
    """

    numeric: tuple[int, ...]
    categorical: tuple[int, ...] = ()
    categories: tuple[tuple[str, ...], ...] = ()  # per categorical column, sorted
    names: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        return len(self.numeric) + sum(len(c) for c in self.categories)

    @classmethod
    def all_numeric(cls, n_columns: int) -> ColumnLayout:
        return cls(tuple(range(n_columns)))


@dataclass(frozen=True)
class FeatureBlock:
    """Feature rows as the network's preprocessing takes them."""

    numeric: np.ndarray  # float32, rows × the layout's numeric columns; NaN where missing
    codes: np.ndarray  # int32, rows × its categorical columns: index into the categories

    @classmethod
    def numbers(cls, values: np.ndarray) -> FeatureBlock:
        """A block of numeric columns only."""
        numeric = np.asarray(values, dtype=np.float32)
        return cls(numeric, np.zeros((numeric.shape[0], 0), dtype=np.int32))

    @property
    def n_rows(self) -> int:
        return int(self.numeric.shape[0])

    def take(self, rows: np.ndarray) -> FeatureBlock:
        return FeatureBlock(self.numeric[rows], self.codes[rows])


@dataclass(frozen=True)
class Dataset:
    """The feature columns and the target column of one CSV, rows in file order."""

    path: Path
    sha256: str
    block: FeatureBlock
    target: np.ndarray  # float64 when every target cell is a number, else text (object)
    feature_names: tuple[str, ...]
    target_name: str
    layout: ColumnLayout
    lines: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    target_index: int | None = None  # the target's column in the file
    header: bool = False
    source: str = ""  # "scikit-learn's bundled iris", or empty for a user's file
    inferences: tuple[str, ...] = field(default=())  # what was inferred, one short line each
    columns: tuple[str, ...] = ()  # every column of the file, by name
    feature_columns: tuple[int, ...] = ()  # each feature's column in the file
    delimiter: str = ","
    dropped_lines: tuple[int, ...] = ()  # rows left out because their target is missing

    @property
    def known(self) -> KnownData | None:
        """The published data set this file is (Pima), recognised by its checksum."""
        return KNOWN_DATA.get(self.sha256)

    @property
    def n_rows(self) -> int:
        return self.block.n_rows

    @property
    def n_features(self) -> int:
        """The network's input width (numeric columns plus one input per category)."""
        return self.layout.width

    @cached_property
    def features(self) -> np.ndarray:
        """float32: numeric columns (NaN where missing), then the file's one-hot categories.

        For an all-numeric file without missing cells this is the file's feature matrix;
        reference models use it (with imputation); networks get `Preprocessor` output.
        """
        blocks = [self.block.numeric]
        for j, categories in enumerate(self.layout.categories):
            codes = self.block.codes[:, j]
            blocks.append((codes[:, None] == np.arange(len(categories))).astype(np.float32))
        features = np.hstack(blocks)
        features.flags.writeable = False  # shared by every reference fit of the run
        return features

    def default_train_rows(self) -> int:
        known = self.known
        return known.train_rows if known else int(self.n_rows * DEFAULT_TRAIN_SHARE)

    def missing_cells(self, shown: int = _SHOWN) -> tuple[int, list[tuple[int, int]]]:
        """How many cells of numeric columns are missing, and the first `shown` of them as
        (line, 1-based file column)."""
        rows, positions = np.nonzero(np.isnan(self.block.numeric))  # row by row, in order
        first = zip(self.lines[rows[:shown]].tolist(), positions[:shown].tolist(), strict=True)
        return int(rows.size), [
            (line, self.file_column(self.layout.numeric[p])) for line, p in first
        ]

    def file_column(self, feature: int) -> int:
        """A feature's 1-based column number in the file."""
        return self.feature_columns[feature] + 1

    def inference_line(self) -> str | None:
        """What was inferred about the file, as one short line (None: nothing to say)."""
        return f"{self.path.name}: " + "; ".join(self.inferences) if self.inferences else None

    def describe(self) -> dict[str, object]:
        """What inputs.json records about how the file was read."""
        return {
            "header": self.header,
            "delimiter": self.delimiter,
            "columns": list(self.columns),
            "dropped_columns": [
                c
                for j, c in enumerate(self.columns)
                if j not in self.feature_columns and j != self.target_index
            ],
            "categorical": [self.feature_names[j] for j in self.layout.categorical],
            "categories": {
                self.feature_names[j]: list(c)
                for j, c in zip(self.layout.categorical, self.layout.categories, strict=True)
            },
            "rows_without_target": {
                "count": len(self.dropped_lines),
                "lines": list(self.dropped_lines),
            },
            "source": self.source or str(self.path),
            "inferences": list(self.inferences),
        }


def _cells(cells: list[str]) -> str:
    shown = ", ".join(cells[:_SHOWN])
    return shown + (f" … ({len(cells)} in all)" if len(cells) > _SHOWN else "")


def split_header(table: Table, header: Header) -> tuple[list[str] | None, Table]:
    """The column names (None without a header row) and the data rows."""
    path, first = table.path, table.row(0)
    if header == "auto":
        given = [c for c in first if not is_missing(c)]
        numbers = [c for c in given if is_number(c)]
        if numbers and len(numbers) < len(given):
            words = [f"column {j + 1} {c!r}" for j, c in enumerate(first) if not is_number(c)]
            raise DataError(
                f"{path}: row {table.lines[0]} mixes numbers and text ({_cells(words)}); set "
                "data.header: true if it names the columns, or data.header: false if it is a "
                "data row"
            )
        has_header = not numbers
    else:
        has_header = header
    if not has_header:
        return None, table
    if len(set(first)) != len(first) or not all(first):
        raise DataError(f"{path}: row {table.lines[0]}: column names must be unique and non-empty")
    if table.n_rows == 1:
        raise DataError(f"{path}: only a header row; expected data rows below it")
    return first, table.rows_from(1)


def column_names(path: Path, names: list[str] | None, width: int, digest: str) -> list[str]:
    known = KNOWN_DATA.get(digest)
    if known is not None and len(known.columns) == width:
        return list(known.columns)
    names = names or [f"column_{j + 1}" for j in range(width)]
    if len(names) < 2:
        raise DataError(f"{path}: one column only; expected feature columns and a target column")
    return names


def feature_index(key: str, column: int | str, features: Sequence[str]) -> int:
    """A feature named or numbered in the spec (`key` names the setting), or an error."""
    if isinstance(column, str):
        if column not in features:
            raise ConfigError(
                f"{key}: no feature named {column!r}; features are {', '.join(features)}"
            )
        return list(features).index(column)
    if not -len(features) <= column < len(features):
        raise ConfigError(
            f"{key}: feature index {column} is out of range; use 0..{len(features) - 1}"
        )
    return column % len(features)


def _forced(categorical: Sequence[int | str], features: list[str]) -> set[int]:
    """Feature indices of preprocess.categorical (names or indices among the features)."""
    return {
        feature_index(f"preprocess.categorical.{position}", column, features)
        for position, column in enumerate(categorical)
    }


def _lines_named(lines: np.ndarray) -> str:
    shown = ", ".join(f"row {line}" for line in lines[:_SHOWN].tolist())
    return shown + (f" … ({lines.size} in all)" if lines.size > _SHOWN else "")


def _rows_with_target(
    table: Table, position: int, name: str, policy: MissingTarget
) -> tuple[Table, np.ndarray]:
    """The rows that have a target, and the lines of those left out (policy: drop)."""
    missing = missing_mask(table.columns[position])
    if not missing.any():
        return table, np.zeros(0, dtype=np.int64)
    lines = table.lines[missing]
    if policy == "error":
        raise DataError(
            f"{table.path}: target column {name!r} is missing in {_lines_named(lines)}; every "
            "row needs its target: fill them in, drop those rows, or set "
            "data.missing_target: drop"
        )
    if missing.all():
        raise DataError(
            f"{table.path}: target column {name!r} is empty in every row; check data.target"
        )
    return table.keep(~missing), lines


def _target_values(column: Any) -> np.ndarray:
    numbers = read_numbers(column)
    if numbers.number.all():
        return numbers.values
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)


@dataclass(frozen=True)
class _Typed:
    """A feature column read: numbers, or category codes with its categories and why."""

    values: np.ndarray | None  # float32 numbers, or None for a categorical column
    codes: np.ndarray | None  # int32 codes of a categorical column
    categories: tuple[str, ...] = ()
    why: str = ""


def _categorical_column(
    path: Path, column: Any, name: str, file_column: int, why: str, n_rows: int, missing: np.ndarray
) -> _Typed:
    import pyarrow as pa
    import pyarrow.compute as pc

    present = pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), column)
    encoded = present.dictionary_encode()
    dictionary = encoded.dictionary
    order = np.asarray(pc.sort_indices(dictionary).to_numpy(), dtype=np.int64)
    categories = tuple(str(c) for c in dictionary.take(pa.array(order)).to_pylist())
    limit = min(MAX_CATEGORIES, n_rows // 2)
    if len(categories) > limit:
        which = (
            f"more than {MAX_CATEGORIES}"
            if len(categories) > MAX_CATEGORIES
            else f"more than half of the {n_rows} rows"
        )
        raise DataError(
            f"{path}: column {file_column + 1} ({name!r}) is categorical ({why}) with "
            f"{len(categories)} distinct values, {which}; drop it (data.drop: [{name}]), or fix "
            "its cells if it should be numeric"
        )
    rank = np.empty(len(categories), dtype=np.int32)
    rank[order] = np.arange(len(categories), dtype=np.int32)
    indices = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    codes = np.where(indices >= 0, rank[np.maximum(indices, 0)], MISSING_CODE).astype(np.int32)
    return _Typed(None, codes, categories, why)


def _typed_column(
    table: Table, file_column: int, name: str, forced: bool, missing_ok: bool = False
) -> _Typed:
    column = table.columns[file_column]
    numbers: Numbers = read_numbers(column)
    if numbers.missing.all() and not missing_ok:
        raise DataError(
            f"{table.path}: column {file_column + 1} ({name!r}) is empty in every row; drop it "
            f"(data.drop: [{name}])"
        )
    text = first_text(column, numbers, table.lines)
    if text is None and not forced:
        return _Typed(numbers.values.astype(np.float32), None)
    why = "preprocess.categorical" if text is None else f"{text} is not a number"
    return _categorical_column(
        table.path, column, name, file_column, why, table.n_rows, numbers.missing
    )


@dataclass(frozen=True)
class _Read:
    """A file's table with its header, names, target position and features decided."""

    table: Table
    names: list[str]
    target: int
    features: list[int]
    has_header: bool
    dropped_lines: np.ndarray


def _read(path: Path, options: TableOptions, digest: str) -> _Read:
    table = read_table(
        path, options.delimiter, "data file; check data.path or --data",
        "rows of comma-separated values",
    )  # fmt: skip
    header, body = split_header(table, options.header)
    names = column_names(path, header, body.width, digest)
    target = column_index("data.target", options.target, names, str(path))
    features = chosen_features(names, target, options.features, options.drop, str(path))
    body, dropped = _rows_with_target(body, target, names[target], options.missing_target)
    return _Read(body, names, target, features, header is not None, dropped)


def load_dataset(path: Path, options: TableOptions | None = None, source: str = "") -> Dataset:
    dataset = _load_dataset(path, options or TableOptions(), source)
    release_memory()  # the file's text columns are gone now
    return dataset


def _load_dataset(path: Path, options: TableOptions, source: str) -> Dataset:
    digest = sha256_of(path) if path.is_file() else ""
    read = _read(path, options, digest)
    table, names = read.table, read.names
    feature_names = [names[j] for j in read.features]
    forced = _forced(options.categorical, feature_names)
    typed = [_typed_column(table, j, names[j], f in forced) for f, j in enumerate(read.features)]
    numeric = tuple(f for f, t in enumerate(typed) if t.codes is None)
    categorical = tuple(f for f, t in enumerate(typed) if t.codes is not None)
    layout = ColumnLayout(
        numeric, categorical, tuple(typed[f].categories for f in categorical), tuple(feature_names)
    )
    block = _block(typed, numeric, categorical, table.n_rows)
    inferences = (
        ()
        if KNOWN_DATA.get(digest) is not None
        else _inferences(options, read, feature_names, typed, table.delimiter)
    )
    return Dataset(
        path=path,
        sha256=digest,
        block=block,
        target=_target_values(table.columns[read.target]),
        feature_names=tuple(feature_names),
        target_name=names[read.target],
        layout=layout,
        lines=table.lines,
        target_index=read.target,
        header=read.has_header,
        source=source,
        inferences=inferences,
        columns=tuple(names),
        feature_columns=tuple(read.features),
        delimiter=table.delimiter,
        dropped_lines=tuple(read.dropped_lines.tolist()),
    )


def _block(
    typed: list[_Typed], numeric: tuple[int, ...], categorical: tuple[int, ...], n_rows: int
) -> FeatureBlock:
    values = np.empty((n_rows, len(numeric)), dtype=np.float32)
    for j, f in enumerate(numeric):
        values[:, j] = np.asarray(typed[f].values)
    codes = np.empty((n_rows, len(categorical)), dtype=np.int32)
    for j, f in enumerate(categorical):
        codes[:, j] = np.asarray(typed[f].codes)
    return FeatureBlock(values, codes)


def _inferences(
    options: TableOptions, read: _Read, features: list[str], typed: list[_Typed], delimiter: str
) -> tuple[str, ...]:
    found = []
    if read.has_header:
        how = "it holds no numbers" if options.header == "auto" else "data.header: true"
        found.append(f"header: row 1 names the columns ({how})")
    else:
        found.append("header: none (row 1 holds numbers)")
    if options.delimiter is None and delimiter != ",":
        found.append(f"delimiter: {DELIMITER_NAMES[delimiter]} (sniffed)")
    for name, column in zip(features, typed, strict=True):
        if column.codes is not None:
            found.append(
                f"categorical: {name!r} ({column.why}), {len(column.categories)} categories, "
                "one-hot encoded"
            )
    if read.dropped_lines.size:
        found.append(
            f"{read.dropped_lines.size} rows without a target left out "
            f"({_lines_named(read.dropped_lines)}; data.missing_target: drop)"
        )
    return tuple(found)


def dataset_for(
    path: str | None, options: TableOptions | None = None, name: str | None = None
) -> Dataset:
    """The spec's data: its `path` if given, else a built-in data set (default Pima)."""
    if path:
        return load_dataset(Path(path), options)
    if name is None or name == "pima":
        return load_dataset(locate_pima(), options)
    from densecli.data._builtin import builtin_csv

    csv, description = builtin_csv(name)
    return load_dataset(csv, options, source=description)


def target_position(data: Dataset) -> int | None:
    """The target's column in the training file, so a copied row with it can be recognised."""
    return data.target_index
