"""Rows to score: the feature columns in training order, checked before anything is written.

A bad row is reported by its line number in the input file (counted from 1, header
included). A header is optional; a target column, if the rows still have one, is
recognised by its header name or, without a header, by its position in the training file,
and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from densecli.data import cell_problem, is_number, read_rows
from densecli.errors import DataError
from densecli.runs import SavedRun

MAX_PROBLEMS = 20


@dataclass(frozen=True)
class InputRows:
    features: np.ndarray  # float32, rows × the run's features, in training order
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
    problems: list[str] = []
    features: list[list[float]] = []
    lines: list[int] = []
    for line, row in rows:
        target = _target_position(run, header, len(row)) if len(row) == n + 1 else None
        found = _row_problems(run, f"{path}: row {line}", row, allowed, target)
        problems += found
        if not found:
            features.append([float(c) for j, c in enumerate(row) if j != target])
            lines.append(line)
    if problems:
        extra = len(problems) - MAX_PROBLEMS
        more = [f"{path}: … and {extra} more problems"] if extra > 0 else []
        raise DataError(*problems[:MAX_PROBLEMS], *more)
    dropped = any(len(r) == n + 1 for _, r in rows)
    return InputRows(np.asarray(features, dtype=np.float32), lines, dropped)


def _row_problems(
    run: SavedRun, where: str, row: list[str], allowed: list[int], target: int | None
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
    cells = [cell_problem(where, j + 1, cell) for j, cell in enumerate(row) if j != target]
    return [problem for problem in cells if problem]
