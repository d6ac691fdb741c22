"""TensorBoard logs of a run (`train.tensorboard: true`), written from its recorded history.

The logs are written when training ends, from the run's history, rather than by a Keras callback:
they then hold exactly the recorded numbers whichever engine trained the models (a compiled
engine that trains all folds in one graph calls no per-model callbacks). Each model is a
TensorBoard run `<job>/train` and `<job>/eval`, so the two curves share one chart. Viewing
them needs the tensorboard package (`pip install tensorboard`); writing them does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from densecli.runs.files import TENSORBOARD


def write_tensorboard_logs(folder: Path, rows: list[dict[str, Any]]) -> Path:
    from densecli.backend import import_keras

    import_keras()  # imports TensorFlow quietly
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2

    # tf.summary.scalar lives in the tensorboard package, which TensorFlow no longer installs;
    # tf.summary.write with the scalars plugin's metadata writes the same event records.
    scalar = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
    )

    root = folder / TENSORBOARD
    names = [k for k in (rows[0] if rows else {}) if k not in {"job", "epoch"}]
    metrics = [k for k in names if not k.startswith("eval_")]
    for job in dict.fromkeys(row["job"] for row in rows):
        job_rows = [row for row in rows if row["job"] == job]
        for split, prefix in (("train", ""), ("eval", "eval_")):
            writer = tf.summary.create_file_writer(str(root / job / split))
            with writer.as_default():
                for row in job_rows:
                    for metric in metrics:
                        value = row.get(prefix + metric)
                        if value not in (None, ""):
                            tensor = tf.constant(float(value), dtype=tf.float32)
                            step = int(row["epoch"])
                            tf.summary.write(metric, tensor, step=step, metadata=scalar)
            writer.close()
    return root
