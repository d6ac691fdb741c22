"""Rows to score: the feature columns in training order, checked before anything is written.

A bad row is reported by its line number in the input file (counted from 1, header
included). Cells are read as the training file's were: numbers in numeric columns, text in
categorical ones, and empty / NA / NaN / ? as missing (allowed in numeric columns only when
the run was trained with `preprocess.impute`). A header is optional; a target column, if
the rows still have one, is recognised by its header name or, without a header, by its
position in the training file, and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from densecli.data import cell_problem, is_missing, is_number, read_rows
from densecli.errors import DataError
from densecli.runs import SavedRun

MAX_PROBLEMS = 20


@dataclass(frozen=True)
class InputRows:
    features: np.ndarray  # object: rows × the run's feature columns, in training order
    lines: list[int]  # each row's line number in the input file
    dropped_target: bool


def _target_position(run: SavedRun, header: list[str] | None, width: int) -> int | None:
    """Where the target column sits in a row that has one more column than the features."""
    if header is not None and run.target in header:
        return header.index(run.target)
    if width == run.n_features + 1:
        return run.target_index
    return None


def read_input_rows(path: Path, run: SavedRun) -> InputRows:
    """The feature columns in training order; an extra target column is recognised and dropped."""
    rows = read_rows(path, "input file; check the path", "rows of feature values")
    n, header = run.n_features, None
    # A header holds names only: a first row mixing numbers and text is a bad data row,
    # reported like any other rather than silently skipped.
    if not any(is_number(c) for c in rows[0][1]):
        (header_line, header), rows = rows[0], rows[1:]
        if len(header) not in (n, n + 1):
            raise DataError(
                f"{path}: row {header_line} (header) has {len(header)} columns; expected the "
                f"{n} features ({', '.join(run.features)}), optionally with {run.target!r}"
            )
        if not rows:
            raise DataError(f"{path}: only a header row; expected rows to score below it")
    allowed = [len(header)] if header is not None else [n, n + 1]
    kinds = _column_kinds(run)
    problems: list[str] = []
    features: list[list[object]] = []
    lines: list[int] = []
    for line, row in rows:
        target = _target_position(run, header, len(row)) if len(row) == n + 1 else None
        found = _row_problems(run, f"{path}: row {line}", row, allowed, target, kinds)
        problems += found
        if not found:
            cells = [c for j, c in enumerate(row) if j != target]
            features.append([_value(c, numeric) for c, numeric in zip(cells, kinds, strict=True)])
            lines.append(line)
    if problems:
        extra = len(problems) - MAX_PROBLEMS
        more = [f"{path}: … and {extra} more problems"] if extra > 0 else []
        raise DataError(*problems[:MAX_PROBLEMS], *more)
    dropped = any(len(r) == n + 1 for _, r in rows)
    table = np.empty((len(features), n), dtype=object)
    for i, values in enumerate(features):
        table[i, :] = values
    return InputRows(table, lines, dropped)


def _column_kinds(run: SavedRun) -> list[bool]:
    """Per feature column: True if numeric (runs before categorical columns: all are)."""
    categorical = set(run.inputs.get("categorical", []))
    return [name not in categorical for name in run.features]


def _value(cell: str, numeric: bool) -> object:
    if is_missing(cell):
        return np.nan
    return float(cell) if numeric else cell


def _row_problems(
    run: SavedRun,
    where: str,
    row: list[str],
    allowed: list[int],
    target: int | None,
    kinds: list[bool],
) -> list[str]:
    """What is wrong with one row, one message per problem; empty when it can be scored."""
    n = run.n_features
    if len(row) not in allowed:
        return [f"{where} has {len(row)} columns, expected {' or '.join(map(str, allowed))}"]
    if len(row) == n + 1 and target is None:
        return [
            f"{where} has {n + 1} columns but the run does not know which is the target; "
            f"add a header naming it {run.target!r}, or give only the {n} features"
        ]
    imputed = run.spec.preprocess.impute is not None
    columns = [j for j in range(len(row)) if j != target]
    cells = [
        cell_problem(where, j + 1, row[j])
        for j, numeric in zip(columns, kinds, strict=True)
        if numeric and not (imputed and is_missing(row[j]))
    ]
    return [problem for problem in cells if problem]
