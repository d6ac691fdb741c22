"""Rows to score: the run's feature columns, found by name, checked before anything is written.

With a header row (a first row that holds no number), columns are matched by name: in any
order, with the run's target and the columns it dropped allowed and ignored; a feature
column that is missing, or a column the run does not know, is an error naming it. Without
a header, columns are taken by position: the run's features in training order, or every
column of the training file. Cells are read as the training file's were (the same reader):
numbers in numeric columns, text in categorical ones, and empty / NA / NaN / ? as missing
(allowed in numeric columns only when the run was trained with `preprocess.impute`). A bad
cell is reported by its line in the input file (counted from 1, header included).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from densecli.data import (
    MISSING_CODE,
    UNKNOWN_CODE,
    FeatureBlock,
    Table,
    cell_problems,
    is_number,
    listed,
    missing_mask,
    read_numbers,
    read_table,
    release_memory,
)
from densecli.errors import DataError
from densecli.runs import SavedRun

MAX_PROBLEMS = 20


@dataclass(frozen=True)
class InputRows:
    block: FeatureBlock  # the run's feature columns, in training order
    lines: np.ndarray  # each row's line number in the input file
    ignored: list[str]  # columns present but not features (the target, dropped columns)
    unseen: list[tuple[str, str]]  # (column, category) the run never saw

    @property
    def n_rows(self) -> int:
        return self.block.n_rows


def read_input_rows(path: Path, run: SavedRun) -> InputRows:
    """The run's feature columns of every row, in training order."""
    table = read_table(path, None, "input file; check the path", "rows of feature values")
    header = table.row(0)
    if any(is_number(cell) for cell in header):  # no header: columns by position
        positions, ignored = _by_position(path, table, run), list[str]()
    else:
        if table.n_rows == 1:
            raise DataError(f"{path}: only a header row; expected rows to score below it")
        positions, ignored = _by_name(path, header, run)
        table = table.rows_from(1)
    block, unseen = _feature_block(table, positions, run)
    rows = InputRows(block, table.lines, ignored, unseen)
    del table
    release_memory()
    return rows


def _training_columns(run: SavedRun) -> list[str]:
    """The training file's columns (runs before data.drop record only features and target)."""
    recorded = run.inputs.get("columns")
    if recorded:
        return [str(c) for c in recorded]
    columns = list(run.features)
    index = run.target_index
    columns.insert(len(columns) if index is None else index, run.target)
    return columns


def _by_name(path: Path, header: list[str], run: SavedRun) -> tuple[list[int], list[str]]:
    features = run.features
    if len(set(header)) != len(header):
        twice = sorted({name for name in header if header.count(name) > 1})
        raise DataError(f"{path}: the header names {listed(twice)} more than once; name each once")
    known = set(_training_columns(run))
    problems = [
        f"{path}: column {name!r} (column {j + 1}) is not a column of the run's training data; "
        f"the run takes {listed(features)}; remove it or rename it"
        for j, name in enumerate(header)
        if name not in known
    ]
    problems += [
        f"{path}: no column {name!r}, a feature of the run; add it (the run takes "
        f"{listed(features)}, in any order)"
        for name in features
        if name not in header
    ]
    if problems:
        raise DataError(*problems[:MAX_PROBLEMS])
    ignored = [name for name in header if name not in features]
    return [header.index(name) for name in features], ignored


def _by_position(path: Path, table: Table, run: SavedRun) -> list[int]:
    features, columns = run.features, _training_columns(run)
    if table.width == len(features):
        return list(range(len(features)))
    if table.width == len(columns):
        return [columns.index(name) for name in features]
    raise DataError(
        f"{path}: row {table.lines[0]} has {table.width} columns; expected the run's "
        f"{len(features)} features ({listed(features)}) or the {len(columns)} columns of its "
        "training file; or add a header row naming the columns, in any order"
    )


def _feature_block(
    table: Table, positions: list[int], run: SavedRun
) -> tuple[FeatureBlock, list[tuple[str, str]]]:
    categories: dict[str, list[str]] = run.inputs.get("categories", {})
    categorical = [str(c) for c in run.inputs.get("categorical", [])]
    numeric = [f for f, name in enumerate(run.features) if name not in categorical]
    values = np.empty((table.n_rows, len(numeric)), dtype=np.float32)
    problems: list[tuple[int, int, str]] = []
    total = 0
    imputed = run.spec.preprocess.impute is not None
    for i, f in enumerate(numeric):
        column = table.columns[positions[f]]
        numbers = read_numbers(column)
        values[:, i] = numbers.values
        found = cell_problems(numbers, column, imputed, MAX_PROBLEMS)
        total += int((numbers.text if imputed else ~numbers.number).sum())
        problems += [(row, positions[f] + 1, message) for row, message in found]
    _raise_problems(table, problems, total)
    codes = np.empty((table.n_rows, len(categorical)), dtype=np.int32)
    unseen: list[tuple[str, str]] = []
    for i, name in enumerate(categorical):
        column = table.columns[positions[run.features.index(name)]]
        codes[:, i], new = _category_codes(column, [str(c) for c in categories.get(name, [])])
        unseen += [(name, value) for value in new]
    return FeatureBlock(values, codes), unseen


def _raise_problems(table: Table, problems: list[tuple[int, int, str]], total: int) -> None:
    if not problems:
        return
    problems.sort()
    lines = [
        f"{table.path}: row {table.lines[row]}, column {column}: {message}"
        for row, column, message in problems[:MAX_PROBLEMS]
    ]
    more = total - len(lines)
    raise DataError(*lines, *([f"{table.path}: … and {more} more problems"] if more > 0 else []))


def _category_codes(column: Any, categories: list[str]) -> tuple[np.ndarray, list[str]]:
    """Codes into the run's categories: -1 where missing, -2 for a category it never saw
    (returned too, so predict can say so)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    missing = missing_mask(column)
    found = pc.index_in(column, value_set=pa.array(categories, pa.string()))
    codes = np.asarray(found.fill_null(UNKNOWN_CODE).to_numpy(zero_copy_only=False), np.int32)
    codes = np.where(missing, MISSING_CODE, codes).astype(np.int32)
    strange = pc.filter(column, pa.array(codes == UNKNOWN_CODE))
    return codes, sorted(str(v) for v in pc.unique(strange).to_pylist())
