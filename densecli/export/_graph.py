"""One Keras model that takes raw feature rows and returns what `predict` returns.

Per saved model, the preprocessing fitted on its training rows (`<stem>.preprocess.json`:
zero-as-missing fills, standardization means and scales) goes in front of it as Keras
operations; a CV run's models are averaged, as `predict` averages them; a one-unit output
becomes the two class probabilities `predict` prints. Only built-in Keras pieces, so the
`.keras` file loads without densecli (except a model using densecli's Maxout layer).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from densecli.errors import RunsError
from densecli.predict import saved_preprocessing
from densecli.preprocess import Preprocessor
from densecli.runfiles import SavedRun
from densecli.targets import plan_targets

INPUT_NAME = "features"
OUTPUT_NAME = "probabilities"


def read_preprocessing(model_path: Path) -> Preprocessor | None:
    saved = saved_preprocessing(model_path)
    if not saved.is_file():
        return None
    try:
        step = Preprocessor.from_json(json.loads(saved.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise RunsError(f"{saved}: unreadable preprocessing record ({err})") from None
    return None if step.is_identity else step


def preprocessing_ops(keras: Any, inputs: Any, step: Preprocessor | None, width: int) -> Any:
    """The same arithmetic as `Preprocessor.transform`, as graph operations."""
    if step is None:
        return inputs
    ops, x = keras.ops, inputs
    if step.missing_columns:
        mask = np.zeros(width, dtype=bool)
        fills = np.zeros(width, dtype=np.float32)
        mask[step.missing_columns] = True
        fills[step.missing_columns] = step.fill_values
        x = ops.where(ops.logical_and(ops.equal(x, 0.0), mask), fills, x)
    if step.means is not None and step.scales is not None:
        means = np.asarray(step.means, dtype=np.float32)
        scales = np.asarray(step.scales, dtype=np.float32)
        x = ops.divide(ops.subtract(x, means), scales)
    return x


def choose_models(run: SavedRun, fold: int | None) -> list[Path]:
    paths = run.model_paths
    if not paths:
        raise RunsError(
            f"{run.folder}: no saved model (model.keras or models/*.keras); nothing to export"
        )
    if fold is None:
        return paths
    if fold > len(paths):
        raise RunsError(
            f"--fold {fold}: {run.folder.name} has {len(paths)} model(s); "
            f"use --fold 1..{len(paths)}, or leave it out for their mean"
        )
    return [paths[fold - 1]]


def build_export_model(run: SavedRun, paths: list[Path]) -> Any:
    """raw rows (float32, the run's features in order) → class probabilities."""
    from densecli.backend import import_keras

    keras = import_keras()
    import densecli.layers  # noqa: F401  (registers Maxout, so saved maxout models load)

    inputs = keras.Input((run.n_features,), name=INPUT_NAME, dtype="float32")
    outputs = []
    for number, path in enumerate(paths, start=1):
        step = read_preprocessing(path)
        model = keras.saving.load_model(path, compile=False)
        model.name = f"model_{number}"  # each saved model has the same default name
        outputs.append(model(preprocessing_ops(keras, inputs, step, run.n_features)))
    mean = outputs[0] if len(outputs) == 1 else keras.layers.Average(name="mean")(outputs)
    if plan_targets(run.spec, len(run.classes)).kind == "binary":
        mean = keras.ops.concatenate([keras.ops.subtract(1.0, mean), mean], axis=-1)
    probabilities = keras.layers.Identity(name=OUTPUT_NAME)(mean)
    model = keras.Model(inputs, probabilities, name="densecli_export")
    model(np.zeros((1, run.n_features), dtype=np.float32))  # ONNX export wants a called model
    return model
