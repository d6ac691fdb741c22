"""Scoring rows with a finished run: each model's saved preprocessing, the model(s), the CSV.

A CV run's output is the mean of its fold models' outputs.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np

from densecli.data import FeatureBlock, Preprocessor, UnknownCategory, unseen_category_warning
from densecli.errors import RunsError
from densecli.predict._rows import InputRows
from densecli.runs import SavedRun
from densecli.runs.files import METRICS, MODEL_FILES, preprocess_file, read_json, write_text
from densecli.tasks import predictions_for


def prepare_features(
    model_path: Path, features: FeatureBlock, unknown: UnknownCategory | None = None
) -> np.ndarray:
    """The one place where rows become one model's inputs.

    Preprocessing is fitted per model on that model's training rows and saved beside it
    (`<stem>.preprocess.json`); it is applied here exactly as it was to those rows.
    """
    saved = preprocess_file(model_path)
    if not saved.is_file():
        return features.numeric
    try:
        step = Preprocessor.from_json(read_json(saved))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise RunsError(f"{saved}: unreadable preprocessing record ({err})") from None
    return step.transform(features, unknown)


def model_outputs(
    run: SavedRun, rows: InputRows, warn: Callable[[str], None] | None = None
) -> np.ndarray:
    """The network's outputs; for a CV run, the mean over the fold models.

    `warn` hears once about each (column, category) some model did not know.
    """
    features = rows.block
    from densecli.engine import load_saved_model

    paths = run.model_paths
    if not paths:
        raise RunsError(f"{run.folder}: no saved model ({MODEL_FILES}); this run cannot score rows")
    outputs = []
    unseen: dict[tuple[str, str], None] = dict.fromkeys(rows.unseen)

    def unknown(column: str, value: str) -> None:
        unseen[(column, value)] = None

    for path in paths:
        inputs = prepare_features(path, features, unknown)  # before loading: fail fast
        model = load_saved_model(path)
        raw = np.asarray(model.predict(inputs, batch_size=4096, verbose=0), np.float64)
        outputs.append(_target_units(path, raw))
    if warn is not None:
        for column, value in unseen:
            warn(unseen_category_warning(column, value))
    return np.asarray(np.mean(outputs, axis=0), dtype=np.float64)


def missing_models(run: SavedRun) -> str | None:
    """A warning when the run recorded more models than its folder holds (a fold model was
    deleted): the mean over the others is not the run's model."""
    recorded = run.metrics.get("models")
    found = len(run.model_paths)
    if not isinstance(recorded, int) or found >= recorded or found == 0:
        return None
    return (
        f"{run.folder}: {METRICS} records {recorded} models but {found} are saved; "
        f"predicting with the {found} found, which is not the model the run evaluated"
    )


def _target_units(model_path: Path, outputs: np.ndarray) -> np.ndarray:
    """A regression model trained on a scaled target: its outputs back in the target's units
    (each fold model has its own scale, so this comes before the mean over models)."""
    saved = preprocess_file(model_path)
    target = read_json(saved).get("target") if saved.is_file() else None
    if not target:
        return outputs
    return outputs * float(target["scale"]) + float(target["mean"])


def predictions_csv(run: SavedRun, rows: InputRows, outputs: np.ndarray) -> str:
    """One row per input row: its line, then the task's columns (class probabilities, class)."""
    columns = predictions_for(run.spec, run.metrics, run.inputs)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["line", *columns.header()])
    for line, cells in zip(rows.lines, columns.cells(outputs), strict=True):
        writer.writerow([line, *cells])
    return buffer.getvalue()


def write_predictions(path: Path, text: str) -> None:
    try:
        write_text(path, text)
    except OSError as err:
        raise RunsError(f"{path}: cannot write the predictions ({err.strerror})") from None
