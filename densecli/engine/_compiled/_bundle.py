"""Bundle packing: every job's rows padded to one length and masked, as the trainer's tensors.

The training rows of all jobs live in one table [jobs × rows, columns] (features, target, mask,
loss weight side by side), a TensorFlow variable filled one job at a time: a job's prepared
arrays are written into it and dropped, so packing never holds a second copy of the bundle's
training data (at 50,000 rows × 200 columns, ten folds' training rows are ~360 MB). Training
rows are padded to whole batches (weight 0); each job's evaluation and early-stopping rows
are small constants beside it, padded to whole SIMD packets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from densecli.engine._jobs import Job, JobData


@dataclass(frozen=True)
class Bundle:
    """Every job's rows, padded and masked, as TensorFlow tensors."""

    # tf.Variable [B × N, F + Y + 2]: job b's rows at b·N…; features, target, mask, loss
    # weight per row. Flat, so that a batch is gathered straight from the variable (a gather
    # with batch dimensions would read the whole variable at every step).
    table: Any
    rows: int  # training rows per job, padding included: whole batches
    n_features: int  # F
    y_shape: tuple[int, ...]  # one row's target: () class index, (1,) 0/1 or value, (K,) one-hot
    y_dtype: Any  # the target's dtype (int32 class indices, else float32)
    longest: int  # real training rows of the longest job
    constants: dict[str, Any]  # x/y/mask of eval and val rows, seeds, target_scale, train_rows

    @property
    def widths(self) -> list[int]:
        """Columns of the table taken by features, target, mask and loss weight."""
        return [self.n_features, int(np.prod(self.y_shape, dtype=np.int64)), 1, 1]


# Held-out rows per job are padded to a multiple of this: TensorFlow's element-wise kernels
# (sigmoid, exp, …) run whole SIMD packets (8 floats with AVX, 16 with AVX-512) and the
# tensor's last few elements one by one, which can differ in the last bit. With whole
# packets per job, a job's outputs do not depend on the held-out rows of its bundle-mates.
PACKET_ROWS = 16


def _padded(parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    longest = -(-max(len(p) for p in parts) // PACKET_ROWS) * PACKET_ROWS
    out = np.zeros((len(parts), longest, *parts[0].shape[1:]), dtype=parts[0].dtype)
    mask = np.zeros((len(parts), longest), dtype=np.float32)
    for b, part in enumerate(parts):
        out[b, : len(part)] = part
        mask[b, : len(part)] = 1.0
    return out, mask


def _job_table(prepared: JobData, rows: int) -> np.ndarray:
    """One job's training columns side by side [rows, F + Y + 2], padding rows all 0."""
    x, y = prepared.x_train, prepared.y_train
    columns = [x, y.reshape(len(y), -1), np.ones((len(x), 1)), prepared.weight_train[:, None]]
    table = np.zeros((rows, sum(c.shape[1] for c in columns)), dtype=np.float32)
    start = 0
    for column in columns:  # written in place: no second copy of the job's rows
        table[: len(x), start : start + column.shape[1]] = column
        start += column.shape[1]
    return table


def make_bundle(
    tf: Any,
    jobs: list[Job],
    prepare: Callable[[int], JobData],
    batch_size: int,
    longest: int,
) -> tuple[Bundle, list[JobData]]:
    """Pack the jobs' rows, preparing one job at a time (`prepare(b)`); `longest` is the most
    rows a job fits. Returns the bundle and each job's data without its arrays (the
    preprocessing and target encoding it needs later)."""
    rows = -(-longest // batch_size) * batch_size
    table: Any = None
    kept: list[JobData] = []
    evaluations: list[dict[str, np.ndarray]] = []
    for b in range(len(jobs)):
        prepared = prepare(b)
        packed = _job_table(prepared, rows)
        if table is None:
            shape = [len(jobs) * rows, packed.shape[1]]
            table = tf.Variable(lambda shape=shape: tf.zeros(shape), trainable=False)
        table.scatter_update(tf.IndexedSlices(packed, tf.range(b * rows, (b + 1) * rows)))
        evaluations.append(_held_out(prepared))
        kept.append(_without_arrays(prepared))
        if b == 0:
            n_features, y = prepared.x_train.shape[1], prepared.y_train
    bundle = Bundle(
        table,
        rows,
        n_features,
        tuple(y.shape[1:]),
        y.dtype,
        longest,
        _constants(tf, jobs, evaluations, kept),
    )
    return bundle, kept


def _held_out(prepared: JobData) -> dict[str, np.ndarray]:
    return {
        "x_val": prepared.x_val,
        "y_val": prepared.y_val,
        "x_eval": prepared.x_eval,
        "y_eval": prepared.y_eval,
    }


def _without_arrays(prepared: JobData) -> JobData:
    """What the trainer keeps of a packed job: its rows are in the table now."""
    empty = np.zeros((0, 0), dtype=np.float32)
    return replace(prepared, x_train=empty, x_val=empty, x_eval=empty)


def _constants(
    tf: Any, jobs: list[Job], evaluations: list[dict[str, np.ndarray]], prepared: list[JobData]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in ("val", "eval"):
        x, mask = _padded([e[f"x_{part}"] for e in evaluations])
        y, _ = _padded([e[f"y_{part}"] for e in evaluations])
        out.update({f"x_{part}": tf.constant(x), f"y_{part}": tf.constant(y)})
        out[f"{part}_mask"] = tf.constant(mask)
    out["seeds"] = tf.constant(np.array([j.seed for j in jobs], dtype=np.int64))
    out["target_scale"] = tf.constant(
        np.array([p.targets.scale for p in prepared], dtype=np.float32)
    )
    fit_rows = [len(p.fit_rows) for p in prepared]
    out["train_rows"] = tf.constant(np.array(fit_rows, dtype=np.float32))
    return out
