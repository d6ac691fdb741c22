"""Watching a run while it trains: progress, the history so far, and divergence.

The engines report to two things. A `Progress` (the bar) counts model-epochs for the
whole bundle. Each experiment of the bundle has a `Watch`: it keeps every job's per-epoch
history as it arrives, so an interrupted run can still be saved with what it learned, and
it notes the first epoch at which a job's training loss stops being a finite number:

- the `fit` engine stops that model after the first non-finite batch loss (as
  `keras.callbacks.TerminateOnNaN` does) and goes on with the next one;
- the `compiled` engine trains all jobs in lockstep, so a diverged job's slot keeps running
  (its numbers stay NaN and never reach a result) until every job has diverged, then
  training stops.

No TensorFlow import here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from densecli.errors import TrainingDiverged


class Progress(Protocol):
    """What the engines tell the user while they train (the bar, or nothing)."""

    def describe(self, label: str, models: int = 1) -> None:
        """What trains now: `models` models together, each for the spec's epochs."""

    def advance(self, model_epochs: int, logs: dict[str, float]) -> None: ...


class Silent:
    """A Progress that shows nothing (worker processes, tests)."""

    def describe(self, label: str, models: int = 1) -> None:
        pass

    def advance(self, model_epochs: int, logs: dict[str, float]) -> None:
        pass


@dataclass(frozen=True)
class Divergence:
    job: str
    epoch: int  # 1-based, the first epoch whose training loss is not finite
    loss: float


# Called with each epoch's rows as they are recorded (a run's history journal).
Journal = Callable[[list[dict[str, Any]]], None]


class Watch:
    """One experiment's history per job as training reports it, and its divergences."""

    def __init__(
        self,
        jobs: list[str],
        epochs: int,
        keys: tuple[str, ...],
        journal: Journal | None = None,
        validation: bool = False,
    ) -> None:
        self.jobs = list(jobs)
        self.epochs = epochs
        # The columns of an engine's chunk logs: loss, the task's metric, eval_… of both.
        self.keys = keys
        # With early stopping, Keras' val_* is the validation split, not the evaluation rows.
        self.validation = validation
        self.history: dict[str, list[dict[str, float]]] = {name: [] for name in self.jobs}
        self.diverged: dict[str, Divergence] = {}
        self.pruned_at: int | None = None  # the epoch a search's pruner stopped these jobs
        # Each epoch's rows go to the journal as they end, so even a run killed with -9
        # leaves its history behind.
        self.journal = journal

    def record_epoch(self, job: str, epoch: int, logs: dict[str, Any]) -> None:
        """One job's logs for epoch `epoch` (0-based), as Keras callbacks give them."""
        self._journal(self._record(job, epoch, logs))

    def record_chunk(self, first_epoch: int, logs: np.ndarray) -> None:
        """The compiled engine's logs for epochs first_epoch.. : [epochs, jobs, ≥ len(keys)].

        Only the first len(keys) columns are kept; an engine may log more after them.
        """
        width = len(self.keys)
        lines = [
            self._record(job, first_epoch + i, dict(zip(self.keys, epoch_logs, strict=True)))
            for b, job in enumerate(self.jobs)
            for i, epoch_logs in enumerate(logs[:, b, :width].tolist())
        ]
        self._journal(*lines)

    def all_diverged(self) -> bool:
        return len(self.diverged) == len(self.jobs)

    def _record(self, job: str, epoch: int, logs: dict[str, Any]) -> dict[str, Any] | None:
        """Keep the row and note a divergence; a diverged job's later epochs are dropped."""
        if job in self.diverged:
            return None
        rename = not self.validation
        row = {
            ("eval_" + k[4:] if rename and k.startswith("val_") else k): float(v)
            for k, v in logs.items()
        }
        self.history[job].append({"epoch": epoch + 1, **row})
        loss = row.get("loss", 0.0)
        if not math.isfinite(loss):
            self.diverged[job] = Divergence(job, epoch + 1, loss)
        return {"job": job, **self.history[job][-1]}

    def _journal(self, *lines: dict[str, Any] | None) -> None:
        rows = [line for line in lines if line is not None]
        if self.journal is not None and rows:
            self.journal(rows)

    def epochs_done(self) -> int:
        return max((len(rows) for rows in self.history.values()), default=0)

    def history_rows(self) -> list[dict[str, Any]]:
        """The history's rows, in the same layout as a finished run's."""
        return [{"job": job, **row} for job in self.jobs for row in self.history[job]]

    def divergence_error(self) -> TrainingDiverged:
        lines = [
            f"{d.job}: training diverged at epoch {d.epoch} of {self.epochs} "
            f"(loss {d.loss}); that model was stopped"
            for d in sorted(self.diverged.values(), key=lambda d: self.jobs.index(d.job))
        ]
        healthy = len(self.jobs) - len(self.diverged)
        if healthy and len(self.jobs) > 1:
            lines.append(f"{healthy} of {len(self.jobs)} models stayed finite")
        lines.append(
            "the run failed: lower train.optimizer's learning_rate (e.g. "
            "train.optimizer={name: adam, learning_rate: 0.001}) or scale the inputs"
        )
        return TrainingDiverged(*lines)

    def raise_if_diverged(self) -> None:
        if self.diverged:
            raise self.divergence_error()


def record_chunks(parts: list[tuple[Watch, slice]], first_epoch: int, logs: np.ndarray) -> None:
    """After each compiled chunk: each part's watch gets its own jobs' columns. Training
    stops once every job of every part has diverged: nothing is left to learn."""
    for watch, columns in parts:
        watch.record_chunk(first_epoch, logs[:, columns])
    if parts and all(watch.all_diverged() for watch, _ in parts):
        raise parts[0][0].divergence_error()


def fit_guards(watch: Watch, job: str, progress: Progress) -> list[Any]:
    """Callbacks for `model.fit`: report each epoch to the bar and the watch, and stop at
    the first NaN/inf batch loss.

    Keras' TerminateOnNaN does the same stop but prints to stdout over the progress bar.
    """
    from densecli.backend import import_keras

    keras = import_keras()

    class _Guard(keras.callbacks.Callback):  # type: ignore[misc,name-defined]
        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                self.model.stop_training = True

        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            progress.advance(1, dict(logs or {}))
            watch.record_epoch(job, epoch, dict(logs or {}))

    return [_Guard()]
