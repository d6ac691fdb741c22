"""Pruning a tune's trials inside a running bundle, without the study.

Optuna's pruners compare a trial only with COMPLETE trials, and a tune tells nothing until
its batch ends; so a worker can decide on an in-memory mirror of the study made from the
snapshot of finished trials taken when the batch started. Its decisions are the driver's
own (checked when issue 13 was built), so workers need no storage (Ray nodes
included) and the order in which groups finish changes nothing.

What a trial reports: at fixed checkpoint epochs (the same for every trial, since the
pruners compare trials at equal steps), the mean held-out loss of its jobs, negated when
the study maximizes (pruners read intermediate values in the study's direction). For the
Wilcoxon pruner each job's value is its own step (`checkpoint index × jobs + job`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from densecli.search._choices import PrunerKind

EVAL_LOSS, VAL_LOSS = 2, 4  # columns of the compiled engine's chunk logs


@dataclass(frozen=True)
class PruningPlan:
    """What a worker needs to judge its trials: plain data (FrozenTrials pickle)."""

    pruner: PrunerKind
    maximize: bool
    checkpoints: tuple[int, ...]  # epochs (1-based) at which every trial reports
    startup_trials: int
    snapshot: list[Any] = field(default_factory=list)  # finished FrozenTrials
    validation: bool = False  # early stopping: report the validation loss instead


def checkpoints_for(epochs: int, pruner: PrunerKind) -> tuple[int, ...]:
    """Every 5 % of the epochs for the median pruner; 25/50/75 % for Wilcoxon."""
    if pruner == "wilcoxon":
        return tuple(sorted({max(1, epochs * q // 4) for q in (1, 2, 3)}))
    every = max(1, epochs // 20)
    return tuple(range(every, epochs + 1, every))


def make_pruner(kind: PrunerKind, startup_trials: int, checkpoints: tuple[int, ...]) -> Any:
    import optuna

    if kind == "none":
        return optuna.pruners.NopPruner()
    if kind == "wilcoxon":
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.pruners.WilcoxonPruner(p_threshold=0.1, n_startup_steps=2)
    warmup = checkpoints[1] if len(checkpoints) > 1 else 0
    return optuna.pruners.MedianPruner(
        n_startup_trials=startup_trials, n_warmup_steps=warmup, interval_steps=1
    )


class TrialJudge:
    """One trial's pruning inside a bundle: reports at checkpoints, asks the mirror."""

    def __init__(self, plan: PruningPlan, twin: Any) -> None:
        self.plan, self.twin = plan, twin
        self.reports: list[tuple[int, float]] = []

    def __call__(self, done: int, logs: np.ndarray) -> bool:
        """After a chunk ending at epoch `done` with logs [epochs, jobs, 6]: prune?"""
        first = done - len(logs)
        column = VAL_LOSS if self.plan.validation else EVAL_LOSS
        sign = -1.0 if self.plan.maximize else 1.0
        reported = False
        for index, epoch in enumerate(self.plan.checkpoints):
            if not first < epoch <= done:
                continue
            losses = logs[epoch - first - 1, :, column].astype(float)
            if not np.all(np.isfinite(losses)):
                return True  # diverged jobs: nothing to learn from this trial
            if self.plan.pruner == "wilcoxon":
                for job, loss in enumerate(losses):
                    self._report(index * len(losses) + job, sign * float(loss))
            else:
                self._report(epoch, sign * float(losses.mean()))
            reported = True
        if not reported or self.plan.pruner == "none" or done >= self.plan.checkpoints[-1]:
            return False  # a trial that trained to its last checkpoint completes
        return bool(self.twin.should_prune())

    def _report(self, step: int, value: float) -> None:
        self.twin.report(value, step)
        self.reports.append((step, value))


def make_judges(plan: PruningPlan, count: int) -> list[TrialJudge]:
    """A judge per trial of a group, each on its own twin trial of the same mirror."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    mirror = optuna.create_study(
        direction="maximize" if plan.maximize else "minimize",
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=make_pruner(plan.pruner, plan.startup_trials, plan.checkpoints),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mirror.add_trials(plan.snapshot)
    return [TrialJudge(plan, mirror.ask()) for _ in range(count)]
