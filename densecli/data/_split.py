"""Which rows train and which are held out: the classic split and stratified k-fold."""

from __future__ import annotations

import numpy as np

from densecli.errors import DataError


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

    smallest = int(np.bincount(class_index).min())
    if folds > smallest:
        raise DataError(
            f"cv.folds: {folds} folds need at least {folds} rows of every class, but the "
            f"smallest class has {smallest}; use cv.folds={max(2, min(smallest, 10))} or fewer"
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    placeholder = np.zeros((class_index.size, 1))
    return list(splitter.split(placeholder, class_index))
