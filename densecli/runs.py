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

import csv
import itertools
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import weakref
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from densecli import __version__
from densecli.errors import RunsError
from densecli.watch import Interrupted, TrainingDiverged, Watch, signals_deferred

STATUS_FILE = "status.json"
UNFINISHED_SUFFIXES = (".interrupted", ".failed")
# Room kept free beyond a run's own estimate, so a run never fills the disk to the last byte.
SPARE_BYTES = 16 * 2**20


class RunFolder:
    def __init__(self, runs_dir: Path, name: str, mode: str) -> None:
        self.runs_dir = runs_dir
        self.created = datetime.now().astimezone()
        self.base_name = f"{self.created:%Y%m%d-%H%M%S}-{name}-{mode}"
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

    def write_yaml(self, name: str, data: Any) -> None:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        (self.path / name).write_text(text, encoding="utf-8")

    def write_json(self, name: str, data: Any) -> None:
        (self.path / name).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    def file(self, name: str) -> Path:
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def finish(self, ending: str = "") -> Path:
        """Move the complete run into place under a name no other run has.

        Signals wait until the rename is done, so no empty reserved folder is left behind.
        """
        with signals_deferred():
            for attempt in range(1, 1000):
                suffix = "" if attempt == 1 else f"-{attempt}"
                final = self.runs_dir / f"{self.base_name}{suffix}{ending}"
                try:
                    final.mkdir()  # reserves the name; rename then replaces our own empty folder
                except FileExistsError:
                    continue
                os.replace(self.path, final)
                return final
        raise RunsError(f"{self.runs_dir}: could not find a free name for {self.base_name}")

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def keep_unfinished(self, watch: Watch, error: BaseException) -> None:
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
        if status is None or (status == "interrupted" and not watch.epochs_done()):
            self.discard()
            if isinstance(error, OSError) and not isinstance(error, Interrupted):
                raise RunsError(
                    f"{self.runs_dir}: cannot write the run records ({error.strerror or error}); "
                    "nothing was saved; free some space or pick another folder with --runs-dir"
                ) from None
            return
        try:
            with signals_deferred(reraise=False):
                saved = self._save_unfinished(status, watch, error)
        except OSError:
            self.discard()
            return
        if isinstance(error, Interrupted):
            error.saved = str(saved)
        elif isinstance(error, TrainingDiverged):
            error.problems.append(f"{saved}: kept as a failed run with the history until then")

    def _save_unfinished(self, status: str, watch: Watch, error: BaseException) -> Path:
        rows = watch.history_rows()
        if rows:
            keys = list(dict.fromkeys(k for row in rows for k in row))
            with self.file("history.csv").open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=keys)
                writer.writeheader()
                writer.writerows(rows)
        for partial in ("metrics.json", "predictions.csv", "model.keras", "models"):
            target = self.path / partial  # never leave anything that looks like a result
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
        record: dict[str, Any] = {
            "status": status,
            "reason": _reason(error),
            "epochs_planned": watch.epochs,
            "epochs_done": watch.epochs_done(),
            "models": len(watch.jobs),
            "created": self.created.isoformat(),
            "stopped": datetime.now().astimezone().isoformat(),
        }
        if watch.diverged:
            record["diverged"] = [
                {"job": d.job, "epoch": d.epoch, "loss": str(d.loss)}
                for d in watch.diverged.values()
            ]
        self.write_json(STATUS_FILE, record)
        return self.finish(f".{status}")


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


def _status_for(error: BaseException) -> str | None:
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    if isinstance(error, TrainingDiverged):
        return "failed"
    return None


def _reason(error: BaseException) -> str:
    if isinstance(error, Interrupted):
        return f"stopped by {signal.Signals(error.signum).name}"
    if isinstance(error, KeyboardInterrupt):
        return "stopped by SIGINT"
    return "; ".join(getattr(error, "problems", [str(error)])[:-1] or [str(error)])


def estimate_bytes(layer_widths: list[int], models: int, epochs: int, eval_rows: int) -> int:
    """A generous guess of a run's size on disk: saved models, history, predictions."""
    params = sum(a * b + b for a, b in itertools.pairwise(layer_widths))
    per_model = 3 * 4 * params + 64 * 2**10  # weights and optimizer slots, float32; zip overhead
    history = 120 * epochs * models
    predictions = 80 * eval_rows * (2 + layer_widths[-1])
    return models * per_model + history + predictions + 256 * 2**10


def preflight(runs_dir: Path, needed_bytes: int) -> None:
    """Before any training: the runs folder exists or can be made, takes a file, has room."""
    probe = runs_dir / f".densecli-probe-{os.getpid()}"
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"densecli")
        probe.unlink()
        free = shutil.disk_usage(runs_dir).free
    except OSError as err:
        raise RunsError(
            f"{runs_dir}: cannot write run records here ({err.strerror or err}); "
            "--runs-dir must be a folder you may write to (it is created if missing)"
        ) from None
    if free < needed_bytes + SPARE_BYTES:
        raise RunsError(
            f"{runs_dir}: only {free / 2**20:.1f} MB free, and this run needs about "
            f"{(needed_bytes + SPARE_BYTES) / 2**20:.1f} MB; free some space or pick another "
            "folder with --runs-dir"
        )


def git_commit(cwd: Path) -> str | None:
    try:
        found = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if found.returncode != 0:
        return None
    return found.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def environment(seed: int, library_versions: dict[str, str]) -> dict[str, Any]:
    """What is needed to repeat a run: versions, platform, seed, command line, commit."""
    return {
        "densecli": __version__,
        "python": platform.python_version(),
        **library_versions,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "seed": seed,
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "cwd": str(Path.cwd()),
        "git_commit": git_commit(Path.cwd()),
    }
