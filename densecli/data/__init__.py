"""Data: find the CSV (path, DENSECLI_DATA_DIR, cache, download), read it, split it, and
preprocess features on each model's training rows."""

from densecli.data._csv import Rows, cell_problem, is_number, read_rows
from densecli.data._dataset import (
    Dataset,
    Header,
    dataset_for,
    load_dataset,
    read_table,
    target_position,
)
from densecli.data._pima import (
    CACHE_DIR_ENV,
    DATA_DIR_ENV,
    KNOWN_DATA,
    PIMA,
    PIMA_FILENAME,
    PIMA_URL,
    PIMA_URL_ENV,
    KnownData,
    cache_dir,
    download_pima,
    locate_pima,
    sha256_of,
)
from densecli.data._preprocess import Preprocessor, fit_preprocessor, resolve_columns
from densecli.data._split import classic_split, stratified_folds

__all__ = [
    "CACHE_DIR_ENV",
    "DATA_DIR_ENV",
    "KNOWN_DATA",
    "PIMA",
    "PIMA_FILENAME",
    "PIMA_URL",
    "PIMA_URL_ENV",
    "Dataset",
    "Header",
    "KnownData",
    "Preprocessor",
    "Rows",
    "cache_dir",
    "cell_problem",
    "classic_split",
    "dataset_for",
    "download_pima",
    "fit_preprocessor",
    "is_number",
    "load_dataset",
    "locate_pima",
    "read_rows",
    "read_table",
    "resolve_columns",
    "sha256_of",
    "stratified_folds",
    "target_position",
]
