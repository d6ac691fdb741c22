"""The epoch iterator: each epoch's shuffle of every job's training rows, and its batches.

A job's shuffle is a per-job hash of (seed, epoch, row), so it does not depend on the rest of
the bundle. Each step gathers its batch's rows, every training column at once, from the
bundle's table: no epoch-sized copy of the training rows is ever made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from densecli.engine._compiled._bundle import Bundle


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
    """Each epoch's order of every job's training rows, and its batches gathered from the
    bundle's table (one gather per step takes all training columns of a batch).

    `whole` batches (every network without batch normalization) have a static shape,
    padding rows weighing 0: static shapes keep the gradient's graph small, and a job's
    numbers do not depend on its bundle-mates' row counts. Layers that see the whole batch
    (batch normalization) get the last batch cut at the longest job's rows, as model.fit
    cuts it.
    """

    tf: Any
    bundle: Bundle
    batch_size: int

    @property
    def steps(self) -> int:
        return self.bundle.rows // self.batch_size

    def order(self, epoch: Any, whole: bool) -> Any:
        """This epoch's order of each job's training rows [B, N]; padding rows stay last.
        With `whole`, cut into batches [B, steps, size]."""
        tf, constants = self.tf, self.bundle.constants
        seeds = constants["seeds"]
        shape = [seeds.shape[0], self.bundle.rows]
        rows = tf.broadcast_to(tf.range(self.bundle.rows, dtype=tf.int64)[None], shape)
        keys = _shuffle_keys(tf, seeds, epoch, rows)
        real = tf.cast(rows, tf.float32) < constants["train_rows"][:, None]
        keys = tf.where(real, keys, tf.constant(2**33, tf.int64))
        order = tf.argsort(keys, axis=1, stable=True)
        if not whole:
            return order
        return tf.reshape(order, [seeds.shape[0], self.steps, self.batch_size])

    def batch(self, order: Any, i: Any, whole: bool) -> list[Any]:
        """Step i's rows: features [B, size, F], target, mask [B, size], loss weight."""
        tf, bundle, size = self.tf, self.bundle, self.batch_size
        if whole:
            picked = tf.gather(order, i, axis=1)
        else:
            picked = order[:, i * size : tf.minimum((i + 1) * size, bundle.longest)]
        starts = tf.range(picked.shape[0], dtype=picked.dtype)[:, None] * bundle.rows
        rows = tf.gather(bundle.table, picked + starts)  # a sparse read of the variable
        x, y, mask, weight = tf.split(rows, bundle.widths, axis=2)
        # A cut batch's length is known only when it runs.
        lengths = [y.shape[0], y.shape[1] if whole else tf.shape(y)[1]]
        y = tf.cast(tf.reshape(y, [*lengths, *bundle.y_shape]), bundle.y_dtype)
        return [x, y, mask[..., 0], weight[..., 0]]
