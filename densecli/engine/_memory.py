"""How much memory training will take, checked against what the machine has, before any
model is built: a network too large for the machine is a one-line error, not a
`ResourceExhaustedError` traceback or the machine swapping. No TensorFlow import here.

The estimate is deliberately simple and generous (float32 throughout):

- parameters × jobs trained together × copies: the weights, their gradients and the
  optimizer's slots (Adam keeps two, so 4 copies in all; plain SGD none, so 2), times
  `OVERHEAD` for TensorFlow's temporaries and saving the model (measured: training and
  saving a 8-5000-5000-1 network with Adam peaks 1.6 GB above a tiny one's, 16 copies of
  its 25 million parameters);
- activations: every layer's outputs for one batch, per job, kept for the backward pass
  (and again for its gradients), and once more for evaluating all rows at once;
- the data: each job's copy of the rows, in the compiled engine's padded tensors.
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
RUNTIME_BYTES = 600 * 2**20  # TensorFlow itself, before any tensor of ours
# Optimizer slots per parameter, by Keras name (lower case); unknown optimizers count as Adam.
SLOTS = {"sgd": 0, "adagrad": 1, "rmsprop": 1, "adadelta": 2, "adam": 2, "adamw": 2}
SLOTS_DEFAULT = 2
OVERHEAD = 4


class MemoryTooSmall(ConfigError):
    """Training would need more memory than the machine has available."""


@dataclass(frozen=True)
class MemoryEstimate:
    widths: list[int]  # inputs, then each layer's units
    jobs: int
    params: int
    total: int  # bytes

    @property
    def shape(self) -> str:
        return "-".join(map(str, self.widths))


def _slots(spec: Spec) -> int:
    optimizer = spec.train.optimizer
    name = optimizer if isinstance(optimizer, str) else str(optimizer.get("name", ""))
    momentum = isinstance(optimizer, dict) and bool(optimizer.get("momentum"))
    return SLOTS.get(name.lower(), SLOTS_DEFAULT) + (1 if momentum else 0)


def estimate(spec: Spec, n_features: int, jobs: int, rows: int) -> MemoryEstimate:
    """Bytes to train `jobs` models of this spec together on `rows` rows."""
    widths = [n_features] + [layer.units * (layer.maxout or 1) for layer in spec.model.layers]
    params = sum(a * b + b for a, b in itertools.pairwise(widths))
    copies = OVERHEAD * (2 + _slots(spec))  # weights, gradients, optimizer slots
    batch = min(spec.train.batch_size, max(rows, 1))
    activations = 2 * batch * sum(widths) + rows * max(widths)  # a batch's, and evaluation's
    data = rows * (n_features + 2)
    total = FLOAT * jobs * (params * copies + activations + data)
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
