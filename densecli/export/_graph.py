"""One Keras model that takes raw feature rows and returns what `predict` returns.

Per saved model, the preprocessing fitted on its training rows (`<stem>.preprocess.json`:
zero-as-missing fills, standardization means and scales) goes in front of it as Keras
operations; a CV run's models are averaged, as `predict` averages them; a one-unit output
becomes the two class probabilities `predict` prints. Only built-in Keras pieces, so the
`.keras` file loads without densecli (except a model using densecli's Maxout layer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from densecli.data import Preprocessor
from densecli.errors import RunsError
from densecli.runs import SavedRun
from densecli.runs.files import MODEL_FILES, preprocess_file, read_json
from densecli.tasks import target_encoding, view_for

INPUT_NAME = "features"
OUTPUT_NAME = "probabilities"  # a classifier's; a regression's output is its "value"


def output_name(run: SavedRun) -> str:
    return "value" if view_for(run.metrics).name == "regression" else OUTPUT_NAME


def _record(model_path: Path) -> dict[str, Any]:
    saved = preprocess_file(model_path)
    if not saved.is_file():
        return {}
    try:
        return dict(read_json(saved))
    except (OSError, ValueError, TypeError) as err:
        raise RunsError(f"{saved}: unreadable preprocessing record ({err})") from None


def read_preprocessing(model_path: Path) -> Preprocessor | None:
    record = _record(model_path)
    if not record:
        return None
    try:
        step = Preprocessor.from_json(record)
    except (KeyError, TypeError) as err:
        saved = preprocess_file(model_path)
        raise RunsError(f"{saved}: unreadable preprocessing record ({err})") from None
    if step.categorical:
        saved = preprocess_file(model_path)
        names = ", ".join(c.name for c in step.categorical)
        raise RunsError(
            f"{saved}: the model one-hot encodes categorical columns ({names}), which an "
            "export taking float rows cannot express; score such runs with densecli predict"
        )
    return None if step.is_identity else step


def target_ops(keras: Any, outputs: Any, model_path: Path) -> Any:
    """A regression model trained on a scaled target: its outputs in the target's units."""
    target = _record(model_path).get("target")
    if not target:
        return outputs
    scale, mean = float(target["scale"]), float(target["mean"])
    return keras.ops.add(keras.ops.multiply(outputs, scale), mean)


def preprocessing_ops(keras: Any, inputs: Any, step: Preprocessor | None, width: int) -> Any:
    """The same arithmetic as `Preprocessor.transform`, as graph operations."""
    if step is None:
        return inputs
    ops, x = keras.ops, inputs
    if step.cell_columns:  # missing cells (NaN) get the training rows' median or mean
        mask = np.zeros(width, dtype=bool)
        fills = np.zeros(width, dtype=np.float32)
        mask[step.cell_columns] = True
        fills[step.cell_columns] = step.cell_fills
        x = ops.where(ops.logical_and(ops.isnan(x), mask), fills, x)
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
        raise RunsError(f"{run.folder}: no saved model ({MODEL_FILES}); nothing to export")
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
    from densecli.engine import register_custom_layers

    keras = import_keras()
    register_custom_layers()  # so saved maxout models load

    inputs = keras.Input((run.n_features,), name=INPUT_NAME, dtype="float32")
    outputs = []
    for number, path in enumerate(paths, start=1):
        step = read_preprocessing(path)
        model = keras.saving.load_model(path, compile=False)
        model.name = f"model_{number}"  # each saved model has the same default name
        raw = model(preprocessing_ops(keras, inputs, step, run.n_features))
        outputs.append(target_ops(keras, raw, path))  # each fold's own scale, before the mean
    mean = outputs[0] if len(outputs) == 1 else keras.layers.Average(name="mean")(outputs)
    regression = view_for(run.metrics).name == "regression"
    if not regression and target_encoding(run.spec, len(run.inputs["classes"])).kind == "binary":
        mean = keras.ops.concatenate([keras.ops.subtract(1.0, mean), mean], axis=-1)
    probabilities = keras.layers.Identity(name=output_name(run))(mean)
    model = keras.Model(inputs, probabilities, name="densecli_export")
    model(np.zeros((1, run.n_features), dtype=np.float32))  # ONNX export wants a called model
    return model
