"""One Keras model that takes raw feature rows and returns what `predict` returns.

Per saved model, the preprocessing fitted on its training rows (`<stem>.preprocess.json`)
goes in front of it as Keras operations: empty numeric cells (NaN) and zero-as-missing zeros
get the training rows' fills, standardization its means and scales, and each text column is
looked up in the run's categories — an empty string (an empty cell) counts as the model's
most frequent category, a category the model never saw leaves its inputs at 0, exactly as
`predict` does. A CV run's models are averaged, as `predict` averages them; a one-unit
output becomes the two class probabilities `predict` prints.

A run whose features are all numbers takes one float32 input, `features` [N, columns]; a
run with a text column takes one input per raw column, [N, 1], float32 for numbers and
string for text (the convention of scikit-learn's ONNX converter). Only built-in Keras
pieces, written so that every converter keeps their meaning (`where(isnan(x), fills, x)`
with a NaN fill for columns that are not filled, and a lookup's one-hot times a 0/1 matrix),
so the `.keras` file loads without densecli (except a model using densecli's Maxout layer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from densecli.data import CategoricalStep, Preprocessor
from densecli.errors import RunsError
from densecli.runs import SavedRun
from densecli.runs.files import MODEL_FILES, preprocess_file, read_json
from densecli.tasks import target_encoding, view_for

INPUT_NAME = "features"
OUTPUT_NAME = "probabilities"  # a classifier's; a regression's output is its "value"


@dataclass(frozen=True)
class RawInput:
    """One input of an artifact that takes a run's raw columns one by one."""

    name: str  # the input's name in the Keras model
    column: str  # the run's feature column it takes
    dtype: str  # "float32" or "string"


def output_name(run: SavedRun) -> str:
    return "value" if view_for(run.metrics).name == "regression" else OUTPUT_NAME


def _categorical(run: SavedRun) -> list[str]:
    return [str(c) for c in run.inputs.get("categorical", [])]


def raw_inputs(run: SavedRun) -> list[RawInput]:
    """One input per raw column for a run with a text column; none (the single `features`
    input) for an all-numeric run."""
    text = set(_categorical(run))
    if not text:
        return []
    used: set[str] = set()
    found = []
    for column in run.features:
        name = _input_name(column, used)
        used.add(name)
        found.append(RawInput(name, column, "string" if column in text else "float32"))
    return found


def _input_name(column: str, used: set[str]) -> str:
    """A name every format keeps: lower-case letters, digits and underscores, starting with a
    letter (a SavedModel's signature lower-cases names, and ONNX takes them from it)."""
    base = re.sub(r"[^a-z0-9_]+", "_", column.lower()).strip("_") or "column"
    base = base if base[0].isalpha() else f"c_{base}"
    name, number = base, 2
    while name in used or name == INPUT_NAME:
        name, number = f"{base}_{number}", number + 1
    return name


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
        return Preprocessor.from_json(record)
    except (KeyError, TypeError) as err:
        saved = preprocess_file(model_path)
        raise RunsError(f"{saved}: unreadable preprocessing record ({err})") from None


def target_ops(keras: Any, outputs: Any, model_path: Path) -> Any:
    """A regression model trained on a scaled target: its outputs in the target's units."""
    target = _record(model_path).get("target")
    if not target:
        return outputs
    scale, mean = float(target["scale"]), float(target["mean"])
    return keras.ops.add(keras.ops.multiply(outputs, scale), mean)


def numeric_ops(keras: Any, x: Any, step: Preprocessor | None, width: int) -> Any:
    """The same arithmetic as `Preprocessor.transform` on the numeric columns, as graph
    operations on `x` [N, width]."""
    if step is None or step.is_identity:
        return x
    ops = keras.ops
    place = {column: i for i, column in enumerate(step.numeric_columns or range(width))}
    if step.cell_columns:  # empty cells get the training rows' median or mean
        fills = np.full(width, np.nan, dtype=np.float32)  # NaN: a cell that is not filled
        fills[[place[c] for c in step.cell_columns]] = step.cell_fills
        x = ops.where(ops.isnan(x), fills, x)
    if step.missing_columns:  # zeros that mean "not measured"
        fills = np.zeros(width, dtype=np.float32)  # 0 stays 0 where zero is a value
        fills[[place[c] for c in step.missing_columns]] = step.fill_values
        x = ops.where(ops.equal(x, 0.0), fills, x)
    if step.means is not None and step.scales is not None:
        means = np.asarray(step.means, dtype=np.float32)
        scales = np.asarray(step.scales, dtype=np.float32)
        x = ops.divide(ops.subtract(x, means), scales)
    return x


def category_matrix(step: CategoricalStep) -> np.ndarray:
    """A lookup's one-hot [unknown, each category, empty] → this model's inputs: a category
    it knows gives its own input, an empty cell the fill's, anything else all zeros."""
    size = len(step.categories)
    known = np.isin(step.categories, step.known).astype(np.float32)
    matrix = np.zeros((size + 2, size), dtype=np.float32)
    matrix[1 : size + 1] = np.diag(known)
    if step.fill in step.categories:
        fill = step.categories.index(step.fill)
        matrix[size + 1, fill] = known[fill]
    return matrix


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


@dataclass(frozen=True)
class _Inputs:
    """The artifact's inputs and what each model's preprocessing starts from."""

    keras_inputs: Any  # one Input, or a dict of them by name
    numeric: Any  # [N, numeric columns] float32, or None when every column is text
    numeric_width: int
    lookups: dict[str, Any]  # text column → its one-hot lookup [N, categories + 2]


def _inputs(keras: Any, run: SavedRun) -> _Inputs:
    raw = raw_inputs(run)
    if not raw:
        single = keras.Input((run.n_features,), name=INPUT_NAME, dtype="float32")
        return _Inputs(single, single, run.n_features, {})
    layers = {r.name: keras.Input((1,), name=r.name, dtype=r.dtype) for r in raw}
    numbers = [layers[r.name] for r in raw if r.dtype == "float32"]
    numeric = None
    if numbers:
        numeric = numbers[0] if len(numbers) == 1 else keras.layers.Concatenate()(numbers)
    categories: dict[str, list[str]] = run.inputs.get("categories", {})
    lookups = {}
    for r in raw:
        if r.dtype == "string":
            vocabulary = [str(c) for c in categories.get(r.column, [])] + [""]
            lookup = keras.layers.StringLookup(
                vocabulary=vocabulary, num_oov_indices=1, output_mode="one_hot",
                name=f"lookup_{r.name}",
            )  # fmt: skip
            lookups[r.column] = lookup(layers[r.name])
    return _Inputs(layers, numeric, len(numbers), lookups)


def _model_inputs(keras: Any, inputs: _Inputs, step: Preprocessor | None) -> Any:
    """One saved model's inputs: its numeric preprocessing, then its one-hot columns."""
    parts = []
    if inputs.numeric is not None:
        parts.append(numeric_ops(keras, inputs.numeric, step, inputs.numeric_width))
    for categorical in step.categorical if step is not None else []:
        onehot = inputs.lookups[categorical.name]
        parts.append(keras.ops.matmul(onehot, category_matrix(categorical)))
    return parts[0] if len(parts) == 1 else keras.ops.concatenate(parts, axis=-1)


def build_export_model(run: SavedRun, paths: list[Path]) -> Any:
    """raw rows (the run's features, by column) → class probabilities or the value."""
    from densecli.backend import import_keras
    from densecli.engine import load_saved_model

    keras = import_keras()
    inputs = _inputs(keras, run)
    outputs = []
    for number, path in enumerate(paths, start=1):
        step = read_preprocessing(path)
        model = load_saved_model(path)
        model.name = f"model_{number}"  # each saved model has the same default name
        raw = model(_model_inputs(keras, inputs, step))
        outputs.append(target_ops(keras, raw, path))  # each fold's own scale, before the mean
    mean = outputs[0] if len(outputs) == 1 else keras.layers.Average(name="mean")(outputs)
    regression = view_for(run.metrics).name == "regression"
    if not regression and target_encoding(run.spec, len(run.inputs["classes"])).kind == "binary":
        mean = keras.ops.concatenate([keras.ops.subtract(1.0, mean), mean], axis=-1)
    result = keras.layers.Identity(name=output_name(run))(mean)
    model = keras.Model(inputs.keras_inputs, result, name="densecli_export")
    model(_example(run))  # ONNX export wants a called model
    return model


def _example(run: SavedRun) -> Any:
    """One row of zeros (and empty text) in the artifact's input form."""
    raw = raw_inputs(run)
    if not raw:
        return np.zeros((1, run.n_features), dtype=np.float32)
    import tensorflow as tf

    return {r.name: tf.constant([[""]] if r.dtype == "string" else [[0.0]]) for r in raw}
