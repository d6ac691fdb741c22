"""How much memory training will take, checked against what the machine has, before any
model is built: a network too large for the machine is a one-line error, not a
`ResourceExhaustedError` traceback or the machine swapping. No TensorFlow import here.

The estimate follows where the compiled engine's memory goes (float32 throughout), and is
checked against the peak resident memory measured by `benchmarks/bench_scale.py`:

- the runtime: TensorFlow, Keras, NumPy, scikit-learn and pyarrow once imported (~750 MB);
- the data: the feature matrix and the references' copy of it, the target and line numbers;
- the bundle's training table: every job's training rows padded to whole batches, features,
  target, mask and loss weight side by side; and every job's evaluation rows;
- parameters × jobs × copies: the weights, their gradients and the optimizer's slots (Adam
  keeps two), times `OVERHEAD` for TensorFlow's temporaries and saving the models
  (measured: training and saving a 8-5000-5000-1 network with Adam peaks 1.6 GB above a
  tiny one's, 16 copies of its 25 million parameters);
- activations: every layer's outputs for one batch per job, kept for the backward pass, and
  the evaluation rows' forward pass each epoch;
- the largest transient: one job's rows prepared in float64, or a reference model's fit on
  its training rows (running beside training), ~16 bytes per training cell.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from dataclasses import dataclass
from pathlib import Path

from densecli.errors import ConfigError
from densecli.spec import Spec

FLOAT = 4  # bytes per float32
RUNTIME_BYTES = 750 * 2**20  # the libraries once imported, before any array of ours
# Optimizer slots per parameter, by Keras name (lower case); unknown optimizers count as Adam.
SLOTS = {"sgd": 0, "adagrad": 1, "rmsprop": 1, "adadelta": 2, "adam": 2, "adamw": 2}
SLOTS_DEFAULT = 2
OVERHEAD = 4
TRANSIENT_BYTES_PER_CELL = 16  # a job's rows in float64 twice over, or a reference's fit


class MemoryTooSmall(ConfigError):
    """Training would need more memory than the machine has available."""


@dataclass(frozen=True)
class MemoryEstimate:
    widths: list[int]  # inputs, then each layer's units
    jobs: int
    params: int
    total: int  # bytes of this bundle and its data, without the runtime

    @property
    def shape(self) -> str:
        return "-".join(map(str, self.widths))

    @property
    def with_runtime(self) -> int:
        """What the process holds at its peak: the runtime and this bundle."""
        return self.total + RUNTIME_BYTES


def _slots(spec: Spec) -> int:
    optimizer = spec.train.optimizer
    name = optimizer if isinstance(optimizer, str) else str(optimizer.get("name", ""))
    momentum = isinstance(optimizer, dict) and bool(optimizer.get("momentum"))
    return SLOTS.get(name.lower(), SLOTS_DEFAULT) + (1 if momentum else 0)


def estimate(
    spec: Spec, n_features: int, jobs: int, train_rows: int, eval_rows: int
) -> MemoryEstimate:
    """Bytes to train `jobs` models of this spec together, each on `train_rows` rows and
    scored on `eval_rows` rows (the runtime not included: `with_runtime`)."""
    widths = [n_features] + [layer.units * (layer.maxout or 1) for layer in spec.model.layers]
    params = sum(a * b + b for a, b in itertools.pairwise(widths))
    weights = params * OVERHEAD * (2 + _slots(spec))  # weights, gradients, optimizer slots
    batch = min(spec.train.batch_size, max(train_rows, 1))
    padded = -(-train_rows // batch) * batch
    table = padded * (n_features + widths[-1] + 2) + eval_rows * (n_features + widths[-1] + 1)
    activations = 3 * batch * sum(widths) + 2 * eval_rows * sum(widths[1:])
    rows = train_rows + eval_rows
    data = 2 * rows * n_features + 4 * rows  # features, the references' copy, target, lines
    transient = train_rows * n_features * TRANSIENT_BYTES_PER_CELL // FLOAT
    total = FLOAT * (jobs * (weights + table + activations) + data + transient)
    return MemoryEstimate(widths, jobs, params, total)


def available_bytes() -> int | None:
    """Memory free for a new process: MemAvailable, or less under a cgroup limit."""
    found = [b for b in (_meminfo_available(), _cgroup_room()) if b is not None]
    if not found and hasattr(os, "sysconf"):
        with contextlib.suppress(ValueError, OSError):
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    return min(found) if found else None


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room() -> int | None:
    """cgroup v2: the container's limit minus what it already uses."""
    root = Path("/sys/fs/cgroup")
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((root / "memory.current").read_text().strip()))
    except (OSError, ValueError):
        return None


def describe_bytes(count: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if count < 1024 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def check_fits(
    needed: list[MemoryEstimate], what: str = "this run", fix: str = "use fewer or narrower layers"
) -> None:
    """Refuse before any allocation when the estimates (trained at once) exceed the memory
    available; silent when the machine does not say how much it has."""
    available = available_bytes()
    total = sum(e.total for e in needed) + RUNTIME_BYTES
    if available is None or total <= available:
        return
    largest = max(needed, key=lambda e: e.total)
    raise MemoryTooSmall(
        f"model.layers: training {what} needs about {describe_bytes(total)} of memory "
        f"(layer widths {largest.shape}: {largest.params:,} parameters × {largest.jobs} "
        f"model(s) trained together, optimizer slots, activations), but "
        f"{describe_bytes(available)} is available; {fix}"
    )
