"""Early stopping per job: Keras' EarlyStopping with restore_best_weights, on stacked rows."""

from __future__ import annotations

from typing import Any

import numpy as np

from densecli.spec import EarlyStoppingSpec


class BestWeights:
    """The best weights so far per job, by validation loss, and when each job's patience ends.

    `variables` hold one row per job (weights, layer statistics); `keep` runs inside the
    trainer's graph after each epoch.
    """

    def __init__(self, tf: Any, stopping: EarlyStoppingSpec, variables: list[Any], jobs: int):
        self.tf, self.stopping, self.variables = tf, stopping, variables
        self.best_loss = tf.Variable(tf.fill([jobs], np.inf))
        self.best_epoch = tf.Variable(tf.fill([jobs], -1))
        self.best = [tf.Variable(v) for v in variables]

    def keep(self, epoch: Any, val_loss: Any) -> None:
        tf = self.tf
        improved = val_loss < self.best_loss - self.stopping.min_delta
        self.best_loss.assign(tf.where(improved, val_loss, self.best_loss))
        self.best_epoch.assign(tf.where(improved, tf.cast(epoch, tf.int32), self.best_epoch))
        for best, current in zip(self.best, self.variables, strict=True):
            shape = tf.concat([tf.shape(improved), tf.ones(tf.rank(current) - 1, tf.int32)], 0)
            best.assign(tf.where(tf.reshape(improved, shape), current, best))

    def patience_ends(self) -> np.ndarray:
        """Per job, the epoch count at which early stopping stops it."""
        return np.asarray(self.best_epoch.numpy()) + 1 + self.stopping.patience

    def restore(self) -> None:
        for current, best in zip(self.variables, self.best, strict=True):
            current.assign(best)
