"""Watching a run while it trains: the history so far, divergence, and stop signals.

`Watch` sits between the engine and the progress bar. It keeps every job's per-epoch history
as it arrives, so an interrupted run can still be saved with what it learned, and it notes
the first epoch at which a job's training loss stops being a finite number:

- the `fit` engine stops that model after the first non-finite batch loss (as
  `keras.callbacks.TerminateOnNaN` does) and goes on with the next one;
- the `compiled` engine trains all jobs in lockstep, so a diverged job's slot keeps running
  (its numbers stay NaN and never reach a result) until every job has diverged, then
  training stops.

SIGINT and SIGTERM become `Interrupted` (a KeyboardInterrupt) while a command trains, so the
same clean-up runs for Ctrl-C and `kill`.
No TensorFlow import here.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import numpy as np

from densecli.errors import DensecliError

if TYPE_CHECKING:
    from densecli.engine import Progress
    from densecli.jobs import Job

HISTORY_KEYS = ("loss", "accuracy", "eval_loss", "eval_accuracy")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Training was stopped by a signal; `saved` is the folder kept for it, if any."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.saved: str | None = None

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


def interrupted_message(stop: KeyboardInterrupt) -> str:
    name = signal.Signals(stop.signum).name if isinstance(stop, Interrupted) else "SIGINT"
    saved = stop.saved if isinstance(stop, Interrupted) else None
    if saved is None:
        return f"interrupted ({name}): no run was saved"
    return (
        f"interrupted ({name}): the history so far is kept in {saved}; "
        "`densecli compare` lists it apart from the results"
    )


class TrainingDiverged(DensecliError):
    """A model's loss became NaN or infinite; the run is failed."""

    exit_code = 3


@dataclass(frozen=True)
class Divergence:
    job: str
    epoch: int  # 1-based, the first epoch whose training loss is not finite
    loss: float


class Watch:
    """A Progress that also records history per job and spots non-finite losses."""

    def __init__(
        self,
        progress: Progress,
        jobs: list[Job],
        epochs: int,
        journal: Path | None = None,
        validation: bool = False,
    ) -> None:
        self.progress = progress
        # With early stopping, Keras' val_* is the validation split, not the evaluation rows.
        self.validation = validation
        self.jobs = [job.name for job in jobs]
        self.epochs = epochs
        self.history: dict[str, list[dict[str, float]]] = {name: [] for name in self.jobs}
        self.diverged: dict[str, Divergence] = {}
        # Each epoch is appended to this CSV as it ends, so even a run killed with -9 leaves
        # its history in the scratch folder; a finished run's history.csv replaces it.
        self.journal = journal
        self._journal_keys: list[str] | None = None

    # --- the Progress protocol, passed through --------------------------------------------

    def describe(self, label: str) -> None:
        self.progress.describe(label)

    def advance(self, model_epochs: int, logs: dict[str, float]) -> None:
        self.progress.advance(model_epochs, logs)

    # --- what the engines report ----------------------------------------------------------

    def record_epoch(self, job: str, epoch: int, logs: dict[str, Any]) -> None:
        """One job's logs for epoch `epoch` (0-based), as Keras callbacks give them."""
        self._journal(self._record(job, epoch, logs))

    def record_chunk(self, first_epoch: int, logs: np.ndarray, stop: bool = True) -> None:
        """The compiled engine's logs for epochs first_epoch.. : shape [epochs, jobs, ≥ 4].

        Only the first four columns (HISTORY_KEYS) are kept; an engine may log more after them.
        With `stop`, raises once every job has diverged.
        """
        width = len(HISTORY_KEYS)
        lines = [
            self._record(job, first_epoch + i, dict(zip(HISTORY_KEYS, epoch_logs, strict=True)))
            for b, job in enumerate(self.jobs)
            for i, epoch_logs in enumerate(logs[:, b, :width].tolist())
        ]
        self._journal(*lines)
        if stop and self.all_diverged():
            raise self.divergence_error()  # nothing left to learn: stop the bundle now

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
        if self.journal is None or not rows:
            return
        with self.journal.open("a", newline="", encoding="utf-8") as handle:
            if self._journal_keys is None:
                self._journal_keys = list(rows[0])
                handle.write(",".join(self._journal_keys) + "\n")
            for row in rows:
                handle.write(",".join(str(row.get(k, "")) for k in self._journal_keys) + "\n")

    def epochs_done(self) -> int:
        return max((len(rows) for rows in self.history.values()), default=0)

    def history_rows(self) -> list[dict[str, Any]]:
        """history.csv rows, in the same layout as a finished run's."""
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


def record_chunks(parts: list[tuple[Progress, slice]], first_epoch: int, logs: np.ndarray) -> None:
    """Called by the compiled engine after each chunk: each part's watch gets its own jobs'
    columns. Training stops once every job of every part has diverged."""
    watches = [(p, columns) for p, columns in parts if isinstance(p, Watch)]
    for watch, columns in watches:
        watch.record_chunk(first_epoch, logs[:, columns], stop=False)
    if watches and all(watch.all_diverged() for watch, _ in watches):
        raise watches[0][0].divergence_error()


def fit_guards(progress: Progress, job: str) -> list[Any]:
    """A callback for `model.fit`: stop at the first NaN/inf batch loss, report each epoch.

    Keras' TerminateOnNaN does the same stop but prints to stdout over the progress bar.
    """
    from densecli.backend import import_keras

    keras = import_keras()
    watch = progress if isinstance(progress, Watch) else None

    class _Guard(keras.callbacks.Callback):  # type: ignore[misc,name-defined]
        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                self.model.stop_training = True

        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            if watch is not None:
                watch.record_epoch(job, epoch, dict(logs or {}))

    return [_Guard()]


# --- signals -------------------------------------------------------------------------------


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """While training, SIGINT and SIGTERM raise `Interrupted` (Python only does SIGINT)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise_interrupted) for s in STOP_SIGNALS}
    previous_hook = sys.unraisablehook
    sys.unraisablehook = redeliver_swallowed
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        for s, handler in previous.items():
            signal.signal(s, handler)


def redeliver_swallowed(unraisable: Any) -> None:
    """A signal's `Interrupted` raised inside a weakref callback or `__del__` (garbage
    collection runs them anywhere) is printed and dropped by Python: the stop would be lost.
    Send the signal again instead, silently, so it is raised where it counts."""
    if isinstance(unraisable.exc_value, Interrupted):
        # From a thread, a moment later: sent from here, it would be raised in this hook.
        resend = threading.Timer(0.02, os.kill, (os.getpid(), unraisable.exc_value.signum))
        resend.daemon = True
        resend.start()
        return
    sys.__unraisablehook__(unraisable)


_deferring = False


@contextlib.contextmanager
def signals_deferred(reraise: bool = True) -> Iterator[None]:
    """Hold SIGINT / SIGTERM while a few file operations must finish together.

    A signal that arrives meanwhile is raised as `Interrupted` when the block ends, or
    dropped with `reraise=False` (while saving what an earlier interruption left).
    """
    global _deferring
    if _deferring or threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {s: signal.signal(s, lambda n, f: caught.append(n)) for s in STOP_SIGNALS}
    _deferring = True
    try:
        yield
    finally:
        _deferring = False
        for s, handler in previous.items():
            signal.signal(s, handler)
    if caught and reraise:
        raise Interrupted(caught[0])
