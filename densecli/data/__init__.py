"""Data: find the CSV (path, DENSECLI_DATA_DIR, cache, download), read it, split it, and
preprocess features on each model's training rows."""

from densecli.data._builtin import BUILTIN_DATA
from densecli.data._csv import Rows, cell_problem, is_missing, is_number, read_rows
from densecli.data._dataset import (
    ColumnLayout,
    Dataset,
    Header,
    dataset_for,
    load_dataset,
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
from densecli.data._preprocess import (
    CategoricalStep,
    Preprocessor,
    UnknownCategory,
    check_missing_cells,
    fit_preprocessor,
    resolve_columns,
    unseen_category_warning,
)
from densecli.data._split import classic_split, stratified_folds

__all__ = [
    "BUILTIN_DATA",
    "CACHE_DIR_ENV",
    "DATA_DIR_ENV",
    "KNOWN_DATA",
    "PIMA",
    "PIMA_FILENAME",
    "PIMA_URL",
    "PIMA_URL_ENV",
    "CategoricalStep",
    "ColumnLayout",
    "Dataset",
    "Header",
    "KnownData",
    "Preprocessor",
    "Rows",
    "UnknownCategory",
    "cache_dir",
    "cell_problem",
    "check_missing_cells",
    "classic_split",
    "dataset_for",
    "download_pima",
    "fit_preprocessor",
    "is_missing",
    "is_number",
    "load_dataset",
    "locate_pima",
    "read_rows",
    "resolve_columns",
    "sha256_of",
    "stratified_folds",
    "target_position",
    "unseen_category_warning",
]
