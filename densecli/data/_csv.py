"""Reading CSV files: the one reader behind training data and rows to score.

pyarrow's CSV reader parses the file in C++ with every cell as text, and the rules below
are applied to whole columns at once, never in a Python loop over cells or rows:

- the delimiter is the one given, or sniffed from the first lines (comma, semicolon, tab);
- a UTF-8 byte-order mark (as spreadsheet programs write) is not part of the first cell;
- cells are stripped of surrounding white space, and rows with no cell are skipped;
- empty, NA, NaN and ? (in any case) mean "not measured";
- a number is a cell that Python's `float()` reads as a finite number; pyarrow's parser
  rounds decimal text exactly as `float()` does, so a file reads to the same floats.

Rows keep their line numbers in the file (counted from 1) so every error can name them.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, get_args

import numpy as np

from densecli.errors import DataError
from densecli.spec import Delimiter

# When several split every sampled line evenly, the first wins: a semicolon file's decimal
# commas, or a tab file's, also split evenly.
SNIFF_ORDER: tuple[Delimiter, ...] = tuple(reversed(get_args(Delimiter)))
DELIMITER_NAMES: dict[str, str] = {",": "comma", ";": "semicolon", "\t": "tab"}
# Cells that mean "not measured" (compared without case): empty, NA, NaN, ?.
MISSING_CELLS = frozenset({"", "na", "nan", "?"})
_SAMPLE_BYTES = 64 * 1024
# A number as pyarrow's parser reads one: locates the cells of a column that are not.
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def is_missing(cell: str) -> bool:
    return cell.lower() in MISSING_CELLS


def is_number(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False


def _spellings(word: str) -> list[str]:
    """Every upper/lower-case spelling of a word: pyarrow compares text exactly."""
    cases = [(c.lower(), c.upper()) if c.isalpha() else (c,) for c in word]
    return ["".join(chars) for chars in itertools.product(*cases)]


_MISSING_SPELLINGS = sorted({s for cell in MISSING_CELLS for s in _spellings(cell)})


@dataclass(frozen=True)
class Table:
    """Every column of a CSV as stripped text (pyarrow string arrays), rows in file order."""

    path: Path
    columns: tuple[Any, ...]  # pyarrow StringArray per column
    lines: np.ndarray  # int64: each row's line in the file
    delimiter: str

    @property
    def width(self) -> int:
        return len(self.columns)

    @property
    def n_rows(self) -> int:
        return int(self.lines.size)

    def row(self, index: int) -> list[str]:
        return [str(column[index].as_py()) for column in self.columns]

    def rows_from(self, start: int) -> Table:
        return replace(
            self,
            columns=tuple(c.slice(start) for c in self.columns),
            lines=self.lines[start:],
        )

    def keep(self, rows: np.ndarray) -> Table:
        """Only the rows where the boolean mask `rows` is true."""
        import pyarrow as pa

        mask = pa.array(rows)
        return replace(
            self, columns=tuple(c.filter(mask) for c in self.columns), lines=self.lines[rows]
        )


def _sample(path: Path, missing: str, expected: str) -> str:
    """The file's first bytes as text, cut after the last whole line."""
    try:
        with path.open("rb") as handle:
            head = handle.read(_SAMPLE_BYTES)
    except FileNotFoundError:
        raise DataError(f"{path}: no such {missing}") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, expected a CSV file of {expected}") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read the CSV ({err})") from None
    if len(head) == _SAMPLE_BYTES and b"\n" in head:
        head = head[: head.rindex(b"\n") + 1]
    return head.decode("utf-8-sig", errors="replace")


def _records(text: str, delimiter: str) -> list[list[str]]:
    try:
        rows = csv.reader(io.StringIO(text), delimiter=delimiter)
        return [row for row in rows if any(cell.strip() for cell in row)]
    except csv.Error:
        return []


def sniff_delimiter(text: str) -> str:
    """The delimiter that splits every sampled line into the same number of cells (more
    than one); else the one that splits the first line most (a ragged file's error then
    names the row)."""
    widths = {d: [len(row) for row in _records(text, d)] for d in SNIFF_ORDER}
    for delimiter in SNIFF_ORDER:
        found = set(widths[delimiter])
        if len(found) == 1 and found.pop() > 1:
            return delimiter
    first = {d: (w[0] if w else 0) for d, w in widths.items()}
    return max(reversed(SNIFF_ORDER), key=lambda d: first[d])


def _leading_blank_lines(text: str) -> int:
    count = 0
    for line in text.splitlines():
        if line.strip():
            break
        count += 1
    return count


def read_table(path: Path, delimiter: str | None, missing: str, expected: str) -> Table:
    """The whole file as text columns; rows that hold no cell are left out.

    `missing` finishes the message for a path that does not exist ("check the path");
    `expected` says what the file should hold ("rows of feature values").
    """
    text = _sample(path, missing, expected)
    chosen = delimiter or sniff_delimiter(text)
    first = _records(text, chosen)
    if not first:
        raise DataError(f"{path}: the file is empty; expected {expected}")
    skipped = _leading_blank_lines(text)
    quoted = _has_quotes(path)
    columns, blank_lines = _parse(path, chosen, len(first[0]), skipped, quoted)
    lines = _line_numbers(columns, skipped, blank_lines, quoted)
    table = Table(path, tuple(columns), lines, chosen)
    return table.keep(~_all_empty(table))


def _has_quotes(path: Path) -> bool:
    """Whether any cell is quoted: only a quoted cell can hold a line break."""
    with path.open("rb") as handle:
        return any(b'"' in chunk for chunk in iter(lambda: handle.read(1 << 20), b""))


def _parse(
    path: Path, delimiter: str, width: int, skipped: int, quoted: bool
) -> tuple[list[Any], list[int]]:
    """pyarrow's parse: every cell as text, stripped; a row of another width is an error
    naming its line, a row of white space only is blank (its line is returned)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv

    blank: list[int] = []
    ragged: list[tuple[int, int]] = []

    def invalid(row: Any) -> str:
        if not str(row.text).strip():
            blank.append(int(row.number))
        else:
            ragged.append((int(row.number), int(row.actual_columns)))
        return "skip"

    names = [f"c{j}" for j in range(width)]
    try:
        table = pa_csv.read_csv(
            path,
            read_options=pa_csv.ReadOptions(
                use_threads=False,  # so an invalid row knows its line number
                skip_rows=skipped,
                column_names=names,
                encoding="utf8",
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=delimiter,
                newlines_in_values=quoted,
                ignore_empty_lines=False,
                invalid_row_handler=invalid,
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (OSError, pa.ArrowInvalid) as err:
        raise DataError(f"{path}: cannot read the CSV ({_first_line(err)})") from None
    if ragged:
        line, found = ragged[0]
        raise DataError(
            f"{path}: row {line} has {found} columns, expected {width} like the first row"
        )
    columns = [pc.utf8_trim_whitespace(table.column(j).combine_chunks()) for j in range(width)]
    return columns, blank


def release_memory() -> None:
    """Give the memory of tables read and dropped back to the system: pyarrow's allocator
    keeps freed blocks for reuse (at 50,000 × 200, ~300 MB that nothing else could use)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _line_numbers(
    columns: list[Any], skipped: int, blank_lines: list[int], quoted: bool
) -> np.ndarray:
    """Each parsed row's line: counted on from the first, past blank lines the parser
    left out and past line breaks inside quoted cells."""
    import pyarrow.compute as pc

    rows = len(columns[0]) if columns else 0
    breaks = np.zeros(rows, dtype=np.int64)
    for column in columns if quoted else []:
        breaks += np.asarray(pc.count_substring(column, "\n").to_numpy(zero_copy_only=False))
    start = skipped + 1 + np.arange(rows + len(blank_lines), dtype=np.int64)
    lines = np.setdiff1d(start, np.asarray(blank_lines, dtype=np.int64), assume_unique=True)
    return lines[:rows] + np.concatenate([[0], np.cumsum(breaks)[:-1]]).astype(np.int64)


def _all_empty(table: Table) -> np.ndarray:
    empty = np.ones(table.n_rows, dtype=bool)
    for column in table.columns:
        empty &= _equals(column, "")
    return empty


def _equals(column: Any, value: str) -> np.ndarray:
    import pyarrow.compute as pc

    return np.asarray(pc.equal(column, value).to_numpy(zero_copy_only=False), dtype=bool)


def missing_mask(column: Any) -> np.ndarray:
    """True where a cell means "not measured"."""
    import pyarrow as pa
    import pyarrow.compute as pc

    found = pc.is_in(column, value_set=pa.array(_MISSING_SPELLINGS))
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)


@dataclass(frozen=True)
class Numbers:
    """A text column read as numbers."""

    values: np.ndarray  # float64; NaN where the cell is missing or not a number
    missing: np.ndarray  # bool: the cell means "not measured"
    number: np.ndarray  # bool: the cell is a finite number

    @property
    def text(self) -> np.ndarray:
        """bool: cells that are neither missing nor a number."""
        return np.asarray(np.logical_not(self.missing | self.number), dtype=bool)


def read_numbers(column: Any) -> Numbers:
    """Every cell of a text column as a float, with which cells are numbers and missing."""
    import pyarrow as pa
    import pyarrow.compute as pc

    missing = missing_mask(column)
    given = pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), column)
    try:
        parsed = pc.cast(given, pa.float64())
    except pa.ArrowInvalid:  # some cell is text: parse only those that look like numbers
        looks = pc.match_substring_regex(given, _NUMBER)
        parsed = pc.cast(pc.if_else(looks, given, pa.scalar(None, pa.string())), pa.float64())
    values = np.array(parsed.to_numpy(zero_copy_only=False), dtype=np.float64)
    number = np.isfinite(values)
    values[~number] = np.nan
    return Numbers(values, missing, number)


def text_values(column: Any, rows: np.ndarray) -> list[str]:
    """The cells of these rows (indices) as Python strings, for messages."""
    return [str(column[int(i)].as_py()) for i in rows]


def first_text(column: Any, numbers: Numbers, lines: np.ndarray) -> str | None:
    """Where a column is not numeric: its first cell that is no number, or None."""
    text = np.flatnonzero(numbers.text)
    if text.size == 0:
        return None
    (cell,) = text_values(column, text[:1])
    return f"row {lines[text[0]]}: {cell!r}"


def cell_problems(
    numbers: Numbers, column_cells: Any, allow_missing: bool, limit: int
) -> list[tuple[int, str]]:
    """The first `limit` cells of a column that must hold numbers but do not: (row index,
    what is wrong), in row order. Missing cells are allowed when they will be filled."""
    bad = numbers.text if allow_missing else ~numbers.number
    rows = np.flatnonzero(bad)[:limit]
    cells = text_values(column_cells, rows)
    return [
        (
            int(row),
            "missing value; fill it in or drop the row"
            if numbers.missing[row]
            else f"{cell!r} is not a finite number",
        )
        for row, cell in zip(rows, cells, strict=True)
    ]
