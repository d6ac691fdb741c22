"""Reading CSV rows: the one reader behind training data and rows to score.

Rows keep their line numbers in the file (counted from 1) so every error can name them;
blank rows are skipped and cells are stripped.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from densecli.errors import DataError

Rows = list[tuple[int, list[str]]]
# Cells that mean "not measured" (compared without case): empty, NA, NaN, ?.
MISSING_CELLS = frozenset({"", "na", "nan", "?"})


def is_missing(cell: str) -> bool:
    return cell.lower() in MISSING_CELLS


def is_number(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False


def read_rows(path: Path, missing: str, expected: str) -> Rows:
    """Non-blank rows with their line numbers.

    `missing` finishes the message for a path that does not exist ("check the path");
    `expected` says what the file should hold ("rows of feature values").
    """
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(enumerate(csv.reader(handle), start=1))
    except FileNotFoundError:
        raise DataError(f"{path}: no such {missing}") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, expected a CSV file of {expected}") from None
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{path}: cannot read the CSV ({err})") from None
    rows = [(n, [cell.strip() for cell in row]) for n, row in rows if any(c.strip() for c in row)]
    if not rows:
        raise DataError(f"{path}: the file is empty; expected {expected}")
    return rows


def cell_problem(where: str, column: int, cell: str) -> str | None:
    """What is wrong with a cell that must hold a number, or None."""
    if not cell:
        return f"{where}, column {column}: missing value; fill it in or drop the row"
    if not is_number(cell):
        return f"{where}, column {column}: {cell!r} is not a finite number"
    return None
