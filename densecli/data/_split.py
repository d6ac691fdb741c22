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
    class_index: np.ndarray, folds: int, seed: int, classes: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Exactly StratifiedKFold(folds, shuffle=True, random_state=seed) over rows in file order."""
    from sklearn.model_selection import StratifiedKFold

    check_folds(np.bincount(class_index), folds, classes)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    placeholder = np.zeros((class_index.size, 1))
    return list(splitter.split(placeholder, class_index))


def check_folds(counts: np.ndarray, folds: int, classes: np.ndarray | None = None) -> None:
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
