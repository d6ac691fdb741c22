"""Data: find the CSV (path, DENSECLI_DATA_DIR, cache, download), parse it, split it into folds.

No TensorFlow here unless a download is needed (Keras' `get_file` does the fetching).
Row numbers in error messages are the file's own line numbers, counted from 1.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np

from densecli.errors import DataError

PIMA_FILENAME = "pima-indians-diabetes.csv"
PIMA_SHA256 = "6bfe5d0f379d17a0e0819b996407e3c09bf80febd4287f2ed212190dfff154af"
PIMA_URL = (
    "https://raw.githubusercontent.com/jbrownlee/Datasets/master/pima-indians-diabetes.data.csv"
)
PIMA_COLUMNS = (
    "pregnancies",
    "glucose",
    "blood_pressure",
    "skin_thickness",
    "insulin",
    "bmi",
    "pedigree",
    "age",
    "outcome",
)
PIMA_TRAIN_ROWS = 700
# Best 10-fold accuracy once reported for this dataset; only meaningful on Pima itself.
PIMA_REPORTED_BEST = 0.777

DATA_DIR_ENV = "DENSECLI_DATA_DIR"
CACHE_DIR_ENV = "DENSECLI_CACHE_DIR"
PIMA_URL_ENV = "DENSECLI_PIMA_URL"

Header = bool | Literal["auto"]


@dataclass(frozen=True)
class Dataset:
    """Features and class labels of one CSV, rows in file order."""

    path: Path
    sha256: str
    features: np.ndarray  # float32, rows × features
    labels: np.ndarray  # the target column's values, as int64 class labels
    feature_names: tuple[str, ...]
    target_name: str

    @property
    def is_pima(self) -> bool:
        return self.sha256 == PIMA_SHA256

    @property
    def n_rows(self) -> int:
        return int(self.features.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.features.shape[1])

    @cached_property
    def classes(self) -> np.ndarray:
        return np.unique(self.labels)

    @cached_property
    def class_index(self) -> np.ndarray:
        """Labels mapped to 0..K-1 in sorted label order."""
        return np.searchsorted(self.classes, self.labels)

    @property
    def majority_rate(self) -> float:
        """Accuracy of always answering the most frequent class (Pima: 500/768 = 65.1 %)."""
        return float(np.bincount(self.class_index).max() / self.n_rows)

    @property
    def reported_best(self) -> float | None:
        return PIMA_REPORTED_BEST if self.is_pima else None

    def default_train_rows(self) -> int:
        return PIMA_TRAIN_ROWS if self.is_pima else int(self.n_rows * 0.9)


def sha256_of(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as err:
        raise DataError(
            f"{path}: cannot read the data file ({err.strerror or err}); check that it exists "
            "and that you may read it"
        ) from None


# --- finding the file ---------------------------------------------------------------------


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_DIR_ENV, "data"))


def locate_pima() -> Path:
    """$DENSECLI_DATA_DIR, else the cache in data/, else a verified download into the cache."""
    data_dir = os.environ.get(DATA_DIR_ENV)
    if data_dir:
        path = Path(data_dir) / PIMA_FILENAME
        if not path.is_file():
            raise DataError(
                f"{path}: not found ({DATA_DIR_ENV}={data_dir}); put {PIMA_FILENAME} there "
                f"or unset {DATA_DIR_ENV} to use the cache or download"
            )
        _require_pima_checksum(path)
        return path
    cached = cache_dir() / PIMA_FILENAME
    if cached.is_file() and sha256_of(cached) == PIMA_SHA256:
        return cached
    return download_pima(cached.parent, os.environ.get(PIMA_URL_ENV, PIMA_URL))


def _require_pima_checksum(path: Path) -> None:
    digest = sha256_of(path)
    if digest != PIMA_SHA256:
        raise DataError(
            f"{path}: sha256 is {digest[:12]}…, expected {PIMA_SHA256[:12]}… (the Pima file); "
            "replace it with the original file or pass your own CSV with data.path"
        )


def download_pima(directory: Path, origin: str) -> Path:
    """Fetch with Keras' get_file into a temporary folder; only a verified file reaches the cache.

    get_file checks the hash but leaves a mismatching file where it downloaded it, so it
    downloads into a scratch folder that is removed whatever happens.
    """
    from densecli.backend import import_keras

    try:
        directory.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".download-", dir=directory))
    except OSError as err:
        raise DataError(f"{directory}: cannot create the data cache ({err.strerror})") from None
    try:
        keras = import_keras()
        try:
            fetched = keras.utils.get_file(
                PIMA_FILENAME,
                origin,
                file_hash=PIMA_SHA256,
                hash_algorithm="sha256",
                cache_dir=str(scratch),
                cache_subdir=".",
            )
        except Exception as err:
            raise DataError(
                f"{origin}: download of the Pima data failed ({err}); pass the file with "
                f"--data PATH or set {DATA_DIR_ENV} to the folder that holds {PIMA_FILENAME}"
            ) from None
        _require_pima_checksum(Path(fetched))
        target = directory / PIMA_FILENAME
        os.replace(fetched, target)
        return target
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# --- parsing --------------------------------------------------------------------------------


def _is_number(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False


def _read_rows(path: Path) -> list[tuple[int, list[str]]]:
    """Non-blank rows with their line numbers."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [(n, row) for n, row in enumerate(csv.reader(handle), start=1)]
    except FileNotFoundError:
        raise DataError(f"{path}: no such data file; check data.path or --data") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, expected a CSV file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{path}: cannot read the CSV ({err})") from None
    rows = [(n, [cell.strip() for cell in row]) for n, row in rows if any(c.strip() for c in row)]
    if not rows:
        raise DataError(f"{path}: the file is empty; expected rows of comma-separated numbers")
    return rows


def _split_header(
    path: Path, rows: list[tuple[int, list[str]]], header: Header
) -> tuple[list[str] | None, list[tuple[int, list[str]]]]:
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
    numbers = [_is_number(cell) for cell in first]
    if all(numbers) or not any(numbers):
        return not any(numbers)
    text = [f"column {j + 1}: {cell!r}" for j, cell in enumerate(first) if not numbers[j]]
    shown = ", ".join(text[:5]) + (f" and {len(text) - 5} more" if len(text) > 5 else "")
    raise DataError(
        f"{path}: row 1 mixes numbers with cells that are not numbers ({shown}); fix those "
        "cells if it is data, or set data.header: true if it is a header"
    )


def _parse_numbers(path: Path, rows: list[tuple[int, list[str]]], width: int) -> np.ndarray:
    values = np.empty((len(rows), width), dtype=np.float64)
    for i, (line, row) in enumerate(rows):
        if len(row) != width:
            raise DataError(
                f"{path}: row {line} has {len(row)} columns, expected {width} like the first row"
            )
        for j, cell in enumerate(row):
            if not cell:
                raise DataError(
                    f"{path}: row {line}, column {j + 1}: missing value; fill it in or drop the row"
                )
            if not _is_number(cell):
                raise DataError(
                    f"{path}: row {line}, column {j + 1}: {cell!r} is not a finite number"
                )
            values[i, j] = float(cell)
    return values


def read_table(path: Path, header: Header = "auto") -> tuple[list[str] | None, np.ndarray]:
    """Column names (if the file has a header) and the numbers, with errors naming the row."""
    rows = _read_rows(path)
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


def _class_labels(column: np.ndarray, name: str, path: Path) -> np.ndarray:
    if not np.all(column == np.round(column)):
        raise DataError(
            f"data.target: column {name!r} of {path} holds non-integer values; densecli trains "
            "classifiers, so the target must hold class labels such as 0 and 1"
        )
    labels = column.astype(np.int64)
    if np.unique(labels).size < 2:
        raise DataError(f"data.target: column {name!r} of {path} holds a single class; need 2+")
    return labels


def load_dataset(path: Path, target: int | str = -1, header: Header = "auto") -> Dataset:
    digest = sha256_of(path) if path.is_file() else ""
    names, values = read_table(path, header)
    if digest == PIMA_SHA256:
        names = list(PIMA_COLUMNS)
    names = names or [f"column_{j + 1}" for j in range(values.shape[1])]
    if len(names) < 2:
        raise DataError(f"{path}: one column only; expected feature columns and a target column")
    column = _target_column(target, names, path)
    features = np.delete(values, column, axis=1).astype(np.float32)
    return Dataset(
        path=path,
        sha256=digest,
        features=features,
        labels=_class_labels(values[:, column], names[column], path),
        feature_names=tuple(n for j, n in enumerate(names) if j != column),
        target_name=names[column],
    )


# --- splits ---------------------------------------------------------------------------------


def classic_split(n_rows: int, train_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The tutorial's split: the first `train_rows` rows train, the rest test."""
    if not 1 <= train_rows < n_rows:
        raise DataError(
            f"data.train_rows: {train_rows} leaves no test rows in a file of {n_rows} rows; "
            f"use a number from 1 to {n_rows - 1}"
        )
    rows = np.arange(n_rows)
    return rows[:train_rows], rows[train_rows:]


def stratified_folds(
    class_index: np.ndarray, folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Exactly StratifiedKFold(folds, shuffle=True, random_state=seed) over rows in file order."""
    from sklearn.model_selection import StratifiedKFold

    _check_folds(np.bincount(class_index), folds)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    placeholder = np.zeros((class_index.size, 1))
    return list(splitter.split(placeholder, class_index))


def dataset_for(path: str | None, target: int | str = -1, header: Header = "auto") -> Dataset:
    """The spec's data: its `path` if given, else the built-in Pima file."""
    return load_dataset(Path(path) if path else locate_pima(), target, header)


def check_folds(data: Dataset, folds: int) -> None:
    """Refuse a fold count the data cannot fill, before anything trains."""
    _check_folds(np.bincount(data.class_index), folds, data.classes)


def _check_folds(counts: np.ndarray, folds: int, classes: np.ndarray | None = None) -> None:
    """Stratified k-fold puts rows of every class in every fold: the smallest class bounds k."""
    smallest = int(counts.min())
    if folds <= smallest:
        return
    label = "" if classes is None else f" (class {classes[int(counts.argmin())]})"
    if smallest < 2:
        raise DataError(
            f"cv.folds: the smallest class{label} has {smallest} row, but cross-validation "
            "needs at least 2 rows of every class (one per fold, and at least 2 folds); "
            "add rows of that class"
        )
    raise DataError(
        f"cv.folds: {folds} folds need at least {folds} rows of every class, but the smallest "
        f"class{label} has {smallest}; use cv.folds={min(smallest, 10)} or fewer"
    )
