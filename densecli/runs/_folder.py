"""Run folders: written in a hidden scratch folder, renamed into place only when complete.

A run never overwrites another: the final name is reserved with an atomic `mkdir`, so two
processes finishing in the same second get `…-cv` and `…-cv-2`. `compare` ignores hidden
folders, so a run that is still writing, or that died (`kill -9`), is never counted; the
scratch name carries the writer's process id so `compare` can tell the two apart.

A run that stops early is kept only when it has something to show, under a name that says
so and with a `status.json`: `<run>.interrupted` (SIGINT / SIGTERM, with the history so far)
or `<run>.failed` (a model diverged). `compare` lists those apart, never among results.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from densecli.errors import RunPruned, RunsError, TrainingDiverged
from densecli.runs._naming import folder_stem, now, reserve_folder
from densecli.runs.files import (
    RESULT_FILES,
    STATUS,
    HistoryJournal,
    write_history,
    write_json,
)
from densecli.signals import Interrupted, as_stop, signals_deferred, stop_reason


@dataclass(frozen=True)
class StoppedRun:
    """What a run that stopped early has to show: its history and how far it got."""

    history: list[dict[str, Any]]
    epochs_planned: int
    epochs_done: int
    models: int
    diverged: list[dict[str, Any]] = field(default_factory=list)  # job, epoch, loss


class RunFolder:
    def __init__(self, runs_dir: Path, name: str, mode: str) -> None:
        self.runs_dir = runs_dir
        self.created = now()
        self.base_name = folder_stem(self.created, name, mode)
        try:
            runs_dir.mkdir(parents=True, exist_ok=True)
            self.path = Path(
                tempfile.mkdtemp(prefix=f".{self.base_name}.pid{os.getpid()}.", dir=runs_dir)
            )
            self.path.chmod(0o777 & ~_umask())  # mkdtemp's 0700, as any other new folder
            # A scratch folder nobody finished or kept (an interruption before training, while
            # Keras imports) is removed when this object goes, or at exit; after finish() the
            # path no longer exists and this does nothing.
            weakref.finalize(self, shutil.rmtree, str(self.path), True)
        except OSError as err:
            raise RunsError(
                f"{runs_dir}: cannot write run records here ({err.strerror}); "
                "pick another folder with --runs-dir"
            ) from None
        self.journal = HistoryJournal(self.path)

    def file(self, name: str) -> Path:
        return self.path / name

    def finish(self, ending: str = "") -> Path:
        """Move the complete run into place under a name no other run has.

        Signals wait until the rename is done, so no empty reserved folder is left behind.
        """
        with signals_deferred():
            # The name is reserved by mkdir; the rename then replaces our own empty folder.
            final = reserve_folder(self.runs_dir, self.base_name, ending)
            os.replace(self.path, final)
            return final

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def keep_unfinished(self, stopped: StoppedRun, error: BaseException) -> None:
        """After `error` stopped the run: keep it visibly marked, or remove it.

        Interrupted with at least one epoch recorded → `<run>.interrupted`; diverged →
        `<run>.failed`; anything else (a bug, a bad spec found late) → removed. A failure to
        write the run itself becomes a RunsError naming the folder.
        """
        if not self.path.exists():
            # finish() moved the complete run into place and the signal it held back was
            # raised after: the run is a result, and the scratch folder is gone.
            return
        status = _status_for(error)
        if status is None or (status == "interrupted" and not stopped.epochs_done):
            self.discard()
            if isinstance(error, OSError) and status is None:
                raise RunsError(
                    f"{self.runs_dir}: cannot write the run records ({error.strerror or error}); "
                    "nothing was saved; free some space or pick another folder with --runs-dir"
                ) from None
            return
        try:
            with signals_deferred(reraise=False):
                saved = self._save_unfinished(status, stopped, error)
        except OSError:
            self.discard()
            return
        stop = as_stop(error)
        if isinstance(stop, Interrupted):
            stop.saved = str(saved)
        elif isinstance(error, TrainingDiverged):
            error.problems.append(f"{saved}: kept as a failed run with the history until then")

    def _save_unfinished(self, status: str, stopped: StoppedRun, error: BaseException) -> Path:
        if stopped.history:
            write_history(self.path, stopped.history)
        for partial in RESULT_FILES:
            target = self.path / partial  # never leave anything that looks like a result
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
        record: dict[str, Any] = {
            "status": status,
            "reason": _reason(error),
            "epochs_planned": stopped.epochs_planned,
            "epochs_done": stopped.epochs_done,
            "models": stopped.models,
            "created": self.created.isoformat(),
            "stopped": now().isoformat(),
        }
        if stopped.diverged:
            record["diverged"] = stopped.diverged
        write_json(self.path / STATUS, record)
        return self.finish(f".{status}")


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


def _status_for(error: BaseException) -> str | None:
    if as_stop(error) is not None:  # also an error a stop caused (TensorFlow wraps it)
        return "interrupted"
    if isinstance(error, TrainingDiverged):
        return "failed"
    if isinstance(error, RunPruned):
        return "pruned"
    return None


def _reason(error: BaseException) -> str:
    stop = as_stop(error)
    if stop is not None:
        return stop_reason(stop)
    return "; ".join(getattr(error, "problems", [str(error)])[:-1] or [str(error)])
