"""A nested tune's outer folds: made once from the data and the seed, recorded in a folder
per fold inside the tune folder (`outer-2/outer.json`), which holds that fold's study's
trials and the refit of its winner. No TensorFlow, no Optuna."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from densecli.errors import ConfigError, DensecliError
from densecli.experiment import Experiment
from densecli.runs.files import OUTER_RECORD, outer_folder, write_json
from densecli.search._folder import SearchFolder


@dataclass(frozen=True)
class OuterFold:
    """One outer fold: the rows its study searches on, and the rows its winner is scored on
    (0-based indices of the data's rows, after rows without a target were dropped)."""

    fold: int  # 1-based
    folds: int  # K
    train: np.ndarray
    test: np.ndarray

    @property
    def place(self) -> str:
        """Its folder, inside the tune folder."""
        return outer_folder(self.fold)

    @property
    def tag(self) -> str:
        """In its trials' names: `<name>-o2-t0007`."""
        return f"-o{self.fold}"

    @property
    def label(self) -> str:
        return f"outer fold {self.fold}"


def outer_folds(experiment: Experiment, folds: int) -> list[OuterFold]:
    """K folds of every row, as `cv` makes its folds (stratified for classification,
    random_state = the spec's seed): with K = cv.folds they are `densecli cv`'s own."""
    try:
        splits = experiment.task.cv_folds(folds, experiment.spec.seed)
    except DensecliError as err:
        problem = (
            err.problems[0].replace("cv.folds=", "--nested ").replace("cv.folds:", "--nested:")
        )
        raise ConfigError(problem.replace(" folds need", " outer folds need")) from None
    return [
        OuterFold(fold, folds, np.sort(train), np.sort(test))
        for fold, (train, test) in enumerate(splits, start=1)
    ]


def outer_search_folder(tune: SearchFolder, outer: OuterFold, study: str) -> SearchFolder:
    """The fold's folder, its record written when it is new."""
    path = tune.path / outer.place
    record = path / OUTER_RECORD
    if not record.is_file():
        path.mkdir(exist_ok=True)
        write_json(record, outer_record(outer, study))
    return SearchFolder(path, "tune")


def outer_record(outer: OuterFold, study: str) -> dict[str, object]:
    return {
        "fold": outer.fold,
        "folds": outer.folds,
        "study": study,
        "rows": "0-based indices of data rows in file order, after rows without a target "
        "were dropped",
        "train_rows": int(outer.train.size),
        "test_rows": outer.test.tolist(),
    }
