"""What a tune's batches work with: the validated search (`TuneSetup`) and its studies
(`TuneStudy`): the tune's own on every row, and with `--nested K` one per outer fold."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from densecli.engine import bundle_key
from densecli.experiment import Experiment, Plan, cv_folds
from densecli.search._choices import PrunerKind, SamplerKind
from densecli.search._file import Point
from densecli.search._folder import SearchFolder
from densecli.search._outer import OuterFold
from densecli.search._space import Space
from densecli.spec import Spec


@dataclass(frozen=True)
class TuneSetup:
    """A validated search, its folder and everything a batch needs."""

    space: Space
    folder: SearchFolder
    plan: Plan
    data_path: Path
    seed: int
    maximize: bool
    epochs: int
    validation: bool  # early stopping: the pruner reads the validation loss
    sampler: SamplerKind  # a resumed tune keeps its sampler, pruner and outer folds
    pruner: PrunerKind
    experiment: Experiment  # the first corner's: the task, for outer folds and references
    outer: list[OuterFold] = field(default_factory=list)  # --nested K: the K outer folds

    @property
    def nested(self) -> int | None:
        return len(self.outer) or None


@dataclass(frozen=True)
class TuneStudy:
    """One Optuna study of a tune and where its trials train: the tune's own on every row,
    into the tune folder; or an outer fold's on that fold's training rows, into its folder."""

    study: Any
    folder: SearchFolder
    outer: OuterFold | None = None

    @property
    def place(self) -> str:
        """Its trials' folder, inside the tune folder ("": the tune folder itself)."""
        return "" if self.outer is None else self.outer.place

    @property
    def tag(self) -> str:
        return "" if self.outer is None else self.outer.tag

    def said(self, number: int) -> str:
        """How notices name one of its trials."""
        return f"trial {number}" if self.outer is None else f"{self.outer.label}, trial {number}"

    def point(self, space: Space, trial: Any, number: int) -> Point:
        """The trial's point, numbered `number` in its batch."""
        point = space.point(trial.number, trial.params, self.tag)
        return Point(number, point.values, point.spec)

    def training_rows(self, setup: TuneSetup, spec: Spec) -> int:
        """The most training rows any model of this spec's CV has in this study: trials of
        studies on other rows train together only when it is equal, as the steps of an
        epoch follow it (the engine pads a bundle's jobs to its longest)."""
        rows = None if self.outer is None else self.outer.train
        experiment = replace(setup.experiment, spec=spec, rows=rows)
        return max(train.size for train, _ in cv_folds(experiment, setup.plan))


def bundle_rows_key(point: Point, rows: int) -> str:
    """A nested tune's bundle key: the network's, and the training rows of its CV."""
    return f"{bundle_key(point.spec)}|{rows} training rows"
