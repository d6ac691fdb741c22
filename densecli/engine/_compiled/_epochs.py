"""The epoch iterator: each epoch's shuffle of every job's training rows, and its batches.

A job's shuffle is a per-job hash of (seed, epoch, row), so it does not depend on the rest of
the bundle. All training columns are shuffled with one gather: a gather costs about as much
per call as per row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from densecli.engine._compiled._bundle import TRAIN_COLUMNS


def _shuffle_keys(tf: Any, seeds: Any, epoch: Any, rows: Any) -> Any:
    """A per-job pseudo-random key per row: a 32-bit integer hash of (seed, epoch, row)."""
    mask32 = tf.constant(0xFFFFFFFF, tf.int64)
    z = seeds[:, None] * 0x9E3779B1 + tf.cast(epoch, tf.int64) * 0x85EBCA77 + rows * 0xC2B2AE3D
    z = tf.bitwise.bitwise_and(z, mask32)
    for shift, multiplier in ((16, 0x7FEB352D), (15, 0x846CA68B), (16, 1)):
        z = tf.bitwise.bitwise_xor(z, tf.bitwise.right_shift(z, shift))
        z = tf.bitwise.bitwise_and(z * multiplier, mask32)
    return z


@dataclass(frozen=True)
class EpochIterator:
    """Each epoch's shuffled training columns (see `bundle_tensors`), cut into `steps` batches.

    `whole` batches (the plain Dense path) have a static shape, padding rows weighing 0:
    static shapes keep the gradient's graph small. Otherwise layers that see the whole batch
    (batch normalization) get the last batch cut at the longest job's rows, as model.fit
    cuts it.
    """

    tf: Any
    data: Mapping[str, Any]
    batch_size: int
    steps: int
    longest: int  # the longest job's training rows

    def shuffled(self, epoch: Any, whole: bool) -> list[Any]:
        """This epoch's order of each job's training rows; padding rows stay last."""
        tf, d = self.tf, self.data
        keys = _shuffle_keys(tf, d["seeds"], epoch, d["train_rows"])
        keys = tf.where(d["train_mask"] > 0, keys, tf.constant(2**33, tf.int64))
        order = tf.argsort(keys, axis=1, stable=True)
        table = tf.gather(d["train_table"], order, batch_dims=1)
        widths = [int(np.prod(d[name].shape[2:])) for name in TRAIN_COLUMNS]
        tensors = [
            tf.cast(tf.reshape(part, d[name].shape), d[name].dtype)
            for part, name in zip(tf.split(table, widths, axis=2), TRAIN_COLUMNS, strict=True)
        ]
        if not whole:
            return tensors
        size, jobs = self.batch_size, d["seeds"].shape[0]
        return [tf.reshape(t, [jobs, self.steps, size, *t.shape[2:]]) for t in tensors]

    def batch(self, tensors: list[Any], i: Any, whole: bool) -> list[Any]:
        """Step i's rows of each shuffled tensor."""
        tf, size = self.tf, self.batch_size
        if whole:
            return [tf.gather(t, i, axis=1) for t in tensors]
        batch = slice(i * size, tf.minimum((i + 1) * size, self.longest))
        return [t[:, batch] for t in tensors]
