"""Before any training: the runs folder can be written and has room for the run."""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

from densecli.errors import RunsError

# Room kept free beyond a run's own estimate, so a run never fills the disk to the last byte.
SPARE_BYTES = 16 * 2**20


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
