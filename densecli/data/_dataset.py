"""A data set: a CSV parsed into feature columns and one target column, rows in file order.

Cells are read as text. A column whose non-missing cells are all numbers is numeric, any
other column is categorical (`preprocess.categorical` forces a numeric-coded one to be).
Missing cells (empty, NA, NaN, ?) are kept as NaN; filling them is preprocessing's job,
per model. What the target means (class labels, …) is the task's business
(`densecli.tasks`): here it is the column's numbers, or its text when not all are numbers.
Row numbers in error messages are the file's own line numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np

from densecli.data._csv import Rows, is_missing, is_number, read_rows
from densecli.data._pima import KNOWN_DATA, KnownData, locate_pima, sha256_of
from densecli.errors import DataError

Header = bool | Literal["auto"]
# Without a known split, the classic split trains on this share of the rows.
DEFAULT_TRAIN_SHARE = 0.9
# A categorical column with more distinct values than this (or than half the rows) is refused.
MAX_CATEGORIES = 1000
_SHOWN = 3  # cells named in an error before "…"


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
class Dataset:
    """Feature cells and the target column of one CSV, rows in file order."""

    path: Path
    sha256: str
    # object array, rows × feature columns: floats in numeric columns, text in categorical
    # ones, NaN where a cell is missing
    cells: np.ndarray
    target: np.ndarray  # float64 when every target cell is a number, else text (object)
    feature_names: tuple[str, ...]
    target_name: str
    layout: ColumnLayout
    lines: tuple[int, ...] = ()  # each row's line in the file
    target_index: int | None = None  # the target's column in the file
    header: bool = False
    source: str = ""  # "scikit-learn's bundled iris", or empty for a user's file
    inferences: tuple[str, ...] = field(default=())  # what was inferred, one short line each

    @property
    def known(self) -> KnownData | None:
        """The published data set this file is (Pima), recognised by its checksum."""
        return KNOWN_DATA.get(self.sha256)

    @property
    def n_rows(self) -> int:
        return int(self.cells.shape[0])

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
        numeric = np.asarray(self.cells[:, list(self.layout.numeric)], dtype=np.float64)
        blocks = [numeric.astype(np.float32)]
        for column, categories in zip(self.layout.categorical, self.layout.categories, strict=True):
            values = self.cells[:, column]
            blocks.append(
                np.stack([values == c for c in categories], axis=1).astype(np.float32)
                if categories
                else np.zeros((self.n_rows, 0), np.float32)
            )
        return np.hstack(blocks)

    def default_train_rows(self) -> int:
        known = self.known
        return known.train_rows if known else int(self.n_rows * DEFAULT_TRAIN_SHARE)

    def missing_cells(self) -> list[tuple[int, int]]:
        """(line, 1-based file column) of every missing cell in a numeric column."""
        found = []
        for j in self.layout.numeric:
            column = np.asarray(self.cells[:, j], dtype=np.float64)
            for i in np.flatnonzero(np.isnan(column)):
                found.append((self.lines[i], self._file_column(j)))
        return sorted(found)

    def _file_column(self, feature: int) -> int:
        """A feature's 1-based column number in the file."""
        if self.target_index is not None and feature >= self.target_index:
            return feature + 2
        return feature + 1

    def inference_line(self) -> str | None:
        """What was inferred about the file, as one short line (None: nothing to say)."""
        return f"{self.path.name}: " + "; ".join(self.inferences) if self.inferences else None

    def describe(self) -> dict[str, object]:
        """What inputs.json records about how the file was read."""
        return {
            "header": self.header,
            "categorical": [self.feature_names[j] for j in self.layout.categorical],
            "categories": {
                self.feature_names[j]: list(c)
                for j, c in zip(self.layout.categorical, self.layout.categories, strict=True)
            },
            "source": self.source or str(self.path),
            "inferences": list(self.inferences),
        }


def _cells(cells: list[str]) -> str:
    shown = ", ".join(cells[:_SHOWN])
    return shown + (f" … ({len(cells)} in all)" if len(cells) > _SHOWN else "")


def _split_header(path: Path, rows: Rows, header: Header) -> tuple[list[str] | None, Rows]:
    first = rows[0][1]
    if header == "auto":
        given = [c for c in first if not is_missing(c)]
        numbers = [c for c in given if is_number(c)]
        if numbers and len(numbers) < len(given):
            words = [f"column {j + 1} {c!r}" for j, c in enumerate(first) if not is_number(c)]
            raise DataError(
                f"{path}: row 1 mixes numbers and text ({_cells(words)}); set data.header: true "
                "if it names the columns, or data.header: false if it is a data row"
            )
        has_header = not numbers
    else:
        has_header = header
    if not has_header:
        return None, rows
    if len(set(first)) != len(first) or not all(first):
        raise DataError(f"{path}: row 1: column names must be unique and non-empty")
    if len(rows) == 1:
        raise DataError(f"{path}: only a header row; expected data rows below it")
    return first, rows[1:]


def _text_columns(path: Path, rows: Rows, width: int) -> list[list[str]]:
    for line, row in rows:
        if len(row) != width:
            raise DataError(
                f"{path}: row {line} has {len(row)} columns, expected {width} like the first row"
            )
    return [list(column) for column in zip(*(row for _, row in rows), strict=True)]


def _first_text(column: list[str], lines: list[int]) -> str | None:
    """Where a column is not numeric: its first non-number cell, or None."""
    for line, cell in zip(lines, column, strict=True):
        if not is_missing(cell) and not is_number(cell):
            return f"row {line}: {cell!r}"
    return None


def _check_categorical(
    path: Path, column: list[str], name: str, j: int, why: str, n_rows: int
) -> tuple[str, ...]:
    categories = tuple(sorted({c for c in column if not is_missing(c)}))
    limit = min(MAX_CATEGORIES, n_rows // 2)
    if len(categories) > limit:
        which = (
            f"more than {MAX_CATEGORIES}"
            if len(categories) > MAX_CATEGORIES
            else (f"more than half of the {n_rows} rows")
        )
        raise DataError(
            f"{path}: column {j + 1} ({name!r}) is categorical ({why}) with {len(categories)} "
            f"distinct values, {which}; drop it, or fix its cells if it should be numeric"
        )
    return categories


def _numbers(column: list[str]) -> np.ndarray:
    return np.array([np.nan if is_missing(c) else float(c) for c in column], dtype=np.float64)


def _column_names(path: Path, names: list[str] | None, width: int, digest: str) -> list[str]:
    known = KNOWN_DATA.get(digest)
    if known is not None and len(known.columns) == width:
        return list(known.columns)
    names = names or [f"column_{j + 1}" for j in range(width)]
    if len(names) < 2:
        raise DataError(f"{path}: one column only; expected feature columns and a target column")
    return names


def _target_column(target: int | str, names: list[str], path: Path) -> int:
    if isinstance(target, str):
        if target not in names:
            raise DataError(
                f"data.target: no column named {target!r} in {path}; columns are {', '.join(names)}"
            )
        return names.index(target)
    if not -len(names) <= target < len(names):
        raise DataError(
            f"data.target: column index {target} is out of range for {path}, which has "
            f"{len(names)} columns; use 0..{len(names) - 1} or -1 for the last"
        )
    return target % len(names)


def feature_index(key: str, column: int | str, features: Sequence[str]) -> int:
    """A feature named or numbered in the spec (`key` names the setting), or an error."""
    from densecli.errors import ConfigError

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


def _target_values(path: Path, column: list[str], lines: list[int], name: str) -> np.ndarray:
    missing = [f"row {line}" for line, c in zip(lines, column, strict=True) if is_missing(c)]
    if missing:
        raise DataError(
            f"{path}: target column {name!r} is missing in {_cells(missing)}; every row needs "
            "its target: fill them in or drop those rows"
        )
    if all(is_number(c) for c in column):
        return np.array([float(c) for c in column], dtype=np.float64)
    return np.array(column, dtype=object)


Kind = tuple[int, tuple[str, ...], str]  # a categorical feature, its categories, and why


def _feature_cells(
    path: Path, columns: list[tuple[str, int, list[str]]], lines: list[int], forced: set[int]
) -> tuple[np.ndarray, list[Kind]]:
    """The feature cells (floats or text, NaN where missing) and which columns are categorical."""
    cells = np.empty((len(lines), len(columns)), dtype=object)
    kinds: list[Kind] = []
    for f, (name, j, column) in enumerate(columns):
        if all(is_missing(c) for c in column):
            raise DataError(f"{path}: column {j + 1} ({name!r}) is empty in every row; remove it")
        text = _first_text(column, lines)
        if text is None and f not in forced:
            cells[:, f] = _numbers(column)
            continue
        why = "preprocess.categorical" if text is None else f"{text} is not a number"
        kinds.append((f, _check_categorical(path, column, name, j, why, len(lines)), why))
        cells[:, f] = [np.nan if is_missing(c) else c for c in column]
    return cells, kinds


def load_dataset(
    path: Path,
    target: int | str = -1,
    header: Header = "auto",
    categorical: Sequence[int | str] = (),
    source: str = "",
) -> Dataset:
    digest = sha256_of(path) if path.is_file() else ""
    rows = read_rows(path, "data file; check data.path or --data", "rows of comma-separated values")
    names, body = _split_header(path, rows, header)
    width = len(names) if names else len(body[0][1])
    columns = _text_columns(path, body, width)
    names = _column_names(path, names, width, digest)
    lines = [line for line, _ in body]
    position = _target_column(target, names, path)
    features = [n for j, n in enumerate(names) if j != position]
    forced = _forced(categorical, features)
    feature_columns = [(names[j], j, columns[j]) for j in range(width) if j != position]
    cells, kinds = _feature_cells(path, feature_columns, lines, forced)
    numeric = tuple(f for f in range(len(features)) if f not in {k[0] for k in kinds})
    layout = ColumnLayout(
        numeric, tuple(k[0] for k in kinds), tuple(k[1] for k in kinds), tuple(features)
    )
    inferences = (
        ()
        if KNOWN_DATA.get(digest) is not None
        else _inferences(header == "auto", body, rows, features, kinds)
    )
    return Dataset(
        path=path,
        sha256=digest,
        cells=cells,
        target=_target_values(path, columns[position], lines, names[position]),
        feature_names=tuple(features),
        target_name=names[position],
        layout=layout,
        lines=tuple(lines),
        target_index=position,
        header=len(body) < len(rows),
        source=source,
        inferences=inferences,
    )


def _inferences(
    header_inferred: bool,
    body: Rows,
    rows: Rows,
    features: list[str],
    kinds: list[Kind],
) -> tuple[str, ...]:
    found = []
    if len(body) < len(rows):
        how = "it holds no numbers" if header_inferred else "data.header: true"
        found.append(f"header: row 1 names the columns ({how})")
    else:
        found.append("header: none (row 1 holds numbers)")
    for f, categories, why in kinds:
        found.append(
            f"categorical: {features[f]!r} ({why}), {len(categories)} categories, one-hot encoded"
        )
    return tuple(found)


def dataset_for(
    path: str | None,
    target: int | str = -1,
    header: Header = "auto",
    categorical: Sequence[int | str] = (),
    name: str | None = None,
) -> Dataset:
    """The spec's data: its `path` if given, else a built-in data set (default Pima)."""
    if path:
        return load_dataset(Path(path), target, header, categorical)
    if name is None or name == "pima":
        return load_dataset(locate_pima(), target, header, categorical)
    from densecli.data._builtin import builtin_csv

    csv, description = builtin_csv(name)
    return load_dataset(csv, target, header, categorical, source=description)


def target_position(data: Dataset) -> int | None:
    """The target's column in the training file, so a copied row with it can be recognised."""
    return data.target_index
