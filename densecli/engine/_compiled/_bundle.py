"""Bundle packing: every job's rows padded to one length and masked, as the trainer's tensors."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from densecli.engine._jobs import Job, JobData

# The columns one gather shuffles together each epoch (see `_epochs.py`).
TRAIN_COLUMNS = ("x_train", "y_train", "train_mask", "train_weight")


@dataclass(frozen=True)
class Bundle:
    """Rows of every job padded to a common length, with masks marking the real rows."""

    x_train: np.ndarray  # [B, N, F]
    y_train: np.ndarray  # [B, N, ...]
    train_mask: np.ndarray  # [B, N]: 1 for real rows
    train_weight: np.ndarray  # [B, N]: the row's loss weight (class weight), 0 for padding
    train_rows: np.ndarray  # [B, N] row position within the job (for the shuffle hash)
    x_val: np.ndarray  # [B, V, F] early-stopping rows (V may be 0)
    y_val: np.ndarray
    val_mask: np.ndarray
    x_eval: np.ndarray  # [B, M, F]
    y_eval: np.ndarray
    eval_mask: np.ndarray  # [B, M]
    seeds: np.ndarray  # [B]
    target_scale: np.ndarray  # [B]: each job's output units per target unit (for history)


def _padded(parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    longest = max(len(p) for p in parts)
    out = np.zeros((len(parts), longest, *parts[0].shape[1:]), dtype=parts[0].dtype)
    mask = np.zeros((len(parts), longest), dtype=np.float32)
    for b, part in enumerate(parts):
        out[b, : len(part)] = part
        mask[b, : len(part)] = 1.0
    return out, mask


def make_bundle(jobs: list[Job], prepared: list[JobData]) -> Bundle:
    x_train, train_mask = _padded([p.x_train for p in prepared])
    y_train, _ = _padded([p.y_train for p in prepared])
    train_weight, _ = _padded([p.weight_train for p in prepared])
    x_val, val_mask = _padded([p.x_val for p in prepared])
    y_val, _ = _padded([p.y_val for p in prepared])
    x_eval, eval_mask = _padded([p.x_eval for p in prepared])
    y_eval, _ = _padded([p.y_eval for p in prepared])
    rows = np.broadcast_to(np.arange(x_train.shape[1]), train_mask.shape).astype(np.int64)
    seeds = np.array([j.seed for j in jobs], dtype=np.int64)
    scales = np.array([p.targets.scale for p in prepared], dtype=np.float32)
    return Bundle(
        x_train,
        y_train,
        train_mask,
        train_weight,
        rows,
        x_val,
        y_val,
        val_mask,
        x_eval,
        y_eval,
        eval_mask,
        seeds,
        scales,
    )


def _whole_batches(bundle: Bundle, rows: int) -> Bundle:
    """The bundle with training rows padded (weight 0) to a whole number of batches."""
    extra = rows - bundle.x_train.shape[1]

    def pad(a: np.ndarray) -> np.ndarray:
        return np.pad(a, [(0, 0), (0, extra)] + [(0, 0)] * (a.ndim - 2))

    train_rows = np.broadcast_to(np.arange(rows), (len(bundle.seeds), rows))
    return replace(
        bundle,
        x_train=pad(bundle.x_train),
        y_train=pad(bundle.y_train),
        train_mask=pad(bundle.train_mask),
        train_weight=pad(bundle.train_weight),
        train_rows=train_rows.astype(np.int64),
    )


def _train_table(bundle: Bundle) -> np.ndarray:
    """The training columns side by side as float32 [B, N, columns] (labels are exact)."""
    parts = [getattr(bundle, name) for name in TRAIN_COLUMNS]
    flat = [p.reshape(*p.shape[:2], -1).astype(np.float32) for p in parts]
    return np.concatenate(flat, axis=2)


def bundle_tensors(tf: Any, bundle: Bundle, rows: int) -> dict[str, Any]:
    """The bundle as constants, training rows padded to `rows` (whole batches), plus the
    training columns side by side as `train_table`."""
    whole = _whole_batches(bundle, rows)
    data = {name: tf.constant(value) for name, value in vars(whole).items()}
    data["train_table"] = tf.constant(_train_table(whole))
    return data
