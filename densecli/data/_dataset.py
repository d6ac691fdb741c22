"""A data set: a CSV parsed into feature columns and one target column, rows in file order.

What the target means (class labels, …) is the task's business (`densecli.tasks`); here it
is the column's numbers. Row numbers in error messages are the file's own line numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from densecli.data._csv import Rows, cell_problem, is_number, read_rows
from densecli.data._pima import KNOWN_DATA, KnownData, locate_pima, sha256_of
from densecli.errors import DataError

Header = bool | Literal["auto"]
# Without a known split, the classic split trains on this share of the rows.
DEFAULT_TRAIN_SHARE = 0.9


@dataclass(frozen=True)
class Dataset:
    """Features and the target column of one CSV, rows in file order."""

    path: Path
    sha256: str
    features: np.ndarray  # float32, rows × features
    target: np.ndarray  # the target column's values, float64
    feature_names: tuple[str, ...]
    target_name: str

    @property
    def known(self) -> KnownData | None:
        """The published data set this file is (Pima), recognised by its checksum."""
        return KNOWN_DATA.get(self.sha256)

    @property
    def n_rows(self) -> int:
        return int(self.features.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.features.shape[1])

    def default_train_rows(self) -> int:
        known = self.known
        return known.train_rows if known else int(self.n_rows * DEFAULT_TRAIN_SHARE)


def _split_header(path: Path, rows: Rows, header: Header) -> tuple[list[str] | None, Rows]:
    first = rows[0][1]
    has_header = header if header != "auto" else _is_header(path, first)
    if not has_header:
        return None, rows
    if len(set(first)) != len(first) or not all(first):
        raise DataError(f"{path}: row 1: column names must be unique and non-empty")
    if len(rows) == 1:
        raise DataError(f"{path}: only a header row; expected data rows below it")
    return first, rows[1:]


def _is_header(path: Path, first: list[str]) -> bool:
    """A first row is a header when none of its cells is a number, data when all are; a row
    mixing both is a typo in the data or a header with numbers as names: refused."""
    numbers = [is_number(cell) for cell in first]
    if all(numbers) or not any(numbers):
        return not any(numbers)
    text = [f"column {j + 1}: {cell!r}" for j, cell in enumerate(first) if not numbers[j]]
    shown = ", ".join(text[:5]) + (f" and {len(text) - 5} more" if len(text) > 5 else "")
    raise DataError(
        f"{path}: row 1 mixes numbers with cells that are not numbers ({shown}); fix those "
        "cells if it is data, or set data.header: true if it is a header"
    )


def _parse_numbers(path: Path, rows: Rows, width: int) -> np.ndarray:
    values = np.empty((len(rows), width), dtype=np.float64)
    for i, (line, row) in enumerate(rows):
        if len(row) != width:
            raise DataError(
                f"{path}: row {line} has {len(row)} columns, expected {width} like the first row"
            )
        for j, cell in enumerate(row):
            problem = cell_problem(f"{path}: row {line}", j + 1, cell)
            if problem:
                raise DataError(problem)
            values[i, j] = float(cell)
    return values


def read_table(path: Path, header: Header = "auto") -> tuple[list[str] | None, np.ndarray]:
    """Column names (if the file has a header) and the numbers, with errors naming the row."""
    rows = read_rows(
        path, "data file; check data.path or --data", "rows of comma-separated numbers"
    )
    names, body = _split_header(path, rows, header)
    width = len(names) if names else len(body[0][1])
    return names, _parse_numbers(path, body, width)


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


def load_dataset(path: Path, target: int | str = -1, header: Header = "auto") -> Dataset:
    digest = sha256_of(path) if path.is_file() else ""
    names, values = read_table(path, header)
    known = KNOWN_DATA.get(digest)
    if known is not None:
        names = list(known.columns)
    names = names or [f"column_{j + 1}" for j in range(values.shape[1])]
    if len(names) < 2:
        raise DataError(f"{path}: one column only; expected feature columns and a target column")
    column = _target_column(target, names, path)
    return Dataset(
        path=path,
        sha256=digest,
        features=np.delete(values, column, axis=1).astype(np.float32),
        target=values[:, column],
        feature_names=tuple(n for j, n in enumerate(names) if j != column),
        target_name=names[column],
    )


def dataset_for(path: str | None, target: int | str = -1, header: Header = "auto") -> Dataset:
    """The spec's data: its `path` if given, else the built-in Pima file."""
    return load_dataset(Path(path) if path else locate_pima(), target, header)


def target_position(data: Dataset) -> int | None:
    """The target's column in the training file, so a copied row with it can be recognised."""
    if data.known is not None:
        return data.known.columns.index(data.target_name)
    try:
        first = read_rows(data.path, "data file", "rows")[0][1]
    except DataError:
        return None
    if data.target_name in first:
        return first.index(data.target_name)
    # No header: the names are column_1.. and the target's number is in its name.
    number = data.target_name.removeprefix("column_")
    return int(number) - 1 if number.isdigit() else None
