"""Scoring new rows with a finished run: read and check the rows, run the model(s), write a CSV.

Everything is checked before anything is written: a bad row is reported by its line number
in the input file (counted from 1, header included) and no output file appears.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from densecli.errors import DataError, RunsError
from densecli.runfiles import SavedRun
from densecli.targets import plan_targets

MAX_PROBLEMS = 20


@dataclass(frozen=True)
class InputRows:
    features: np.ndarray  # float32, rows × the run's features, in training order
    lines: list[int]  # each row's line number in the input file
    dropped_target: bool


def _is_number(cell: str) -> bool:
    try:
        return math.isfinite(float(cell))
    except ValueError:
        return False


def _read_csv(path: Path) -> list[tuple[int, list[str]]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(enumerate(csv.reader(handle), start=1))
    except FileNotFoundError:
        raise DataError(f"{path}: no such input file; check the path") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, expected a CSV file of rows to score") from None
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"{path}: cannot read the CSV ({err})") from None
    rows = [(n, [c.strip() for c in row]) for n, row in rows if any(c.strip() for c in row)]
    if not rows:
        raise DataError(f"{path}: the file is empty; expected rows of feature values")
    return rows


def _target_position(run: SavedRun, header: list[str] | None, width: int) -> int | None:
    """Where the target column sits in a row that has one more column than the features."""
    if header is not None and run.target in header:
        return header.index(run.target)
    if width == run.n_features + 1:
        return run.target_index
    return None


def read_input_rows(path: Path, run: SavedRun) -> InputRows:
    """The feature columns in training order; an extra target column is recognised and dropped."""
    rows = _read_csv(path)
    n, header = run.n_features, None
    # A header holds names only: a first row mixing numbers and text is a bad data row,
    # reported like any other rather than silently skipped.
    if not any(_is_number(c) for c in rows[0][1]):
        (header_line, header), rows = rows[0], rows[1:]
        if len(header) not in (n, n + 1):
            raise DataError(
                f"{path}: row {header_line} (header) has {len(header)} columns; expected the "
                f"{n} features ({', '.join(run.features)}), optionally with {run.target!r}"
            )
        if not rows:
            raise DataError(f"{path}: only a header row; expected rows to score below it")
    allowed = [len(header)] if header is not None else [n, n + 1]
    problems: list[str] = []
    features: list[list[float]] = []
    lines: list[int] = []
    for line, row in rows:
        target = _target_position(run, header, len(row)) if len(row) == n + 1 else None
        found = _row_problems(run, f"{path}: row {line}", row, allowed, target)
        problems += found
        if not found:
            features.append([float(c) for j, c in enumerate(row) if j != target])
            lines.append(line)
    if problems:
        extra = len(problems) - MAX_PROBLEMS
        more = [f"{path}: … and {extra} more problems"] if extra > 0 else []
        raise DataError(*problems[:MAX_PROBLEMS], *more)
    dropped = any(len(r) == n + 1 for _, r in rows)
    return InputRows(np.asarray(features, dtype=np.float32), lines, dropped)


def _row_problems(
    run: SavedRun, where: str, row: list[str], allowed: list[int], target: int | None
) -> list[str]:
    """What is wrong with one row, one message per problem; empty when it can be scored."""
    n = run.n_features
    if len(row) not in allowed:
        return [f"{where} has {len(row)} columns, expected {' or '.join(map(str, allowed))}"]
    if len(row) == n + 1 and target is None:
        return [
            f"{where} has {n + 1} columns but the run does not know which is the target; "
            f"add a header naming it {run.target!r}, or give only the {n} features"
        ]
    return [
        f"{where}, column {j + 1}: {cell!r} is not a finite number"
        if cell
        else f"{where}, column {j + 1}: missing value; fill it in or drop the row"
        for j, cell in enumerate(row)
        if j != target and not _is_number(cell)
    ]


def saved_preprocessing(model_path: Path) -> Path:
    """Where a model's fitted preprocessing is saved: next to it, `<stem>.preprocess.json`."""
    return model_path.with_name(model_path.name.removesuffix(".keras") + ".preprocess.json")


def prepare_features(model_path: Path, features: np.ndarray) -> np.ndarray:
    """The one place where rows become one model's inputs.

    Preprocessing is fitted per model on that model's training rows and saved beside it
    (`<stem>.preprocess.json`); it is applied here exactly as it was to those rows.
    """
    import json

    from densecli.preprocess import Preprocessor

    saved = saved_preprocessing(model_path)
    if not saved.is_file():
        return features.astype(np.float32, copy=False)
    try:
        step = Preprocessor.from_json(json.loads(saved.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise RunsError(f"{saved}: unreadable preprocessing record ({err})") from None
    return step.transform(features)


def model_outputs(run: SavedRun, features: np.ndarray) -> np.ndarray:
    """The network's outputs; for a CV run, the mean over the fold models."""
    from densecli.backend import import_keras

    keras = import_keras()
    import densecli.layers  # noqa: F401  (registers Maxout, so saved maxout models load)

    paths = run.model_paths
    if not paths:
        raise RunsError(
            f"{run.folder}: no saved model (model.keras or models/*.keras); "
            "this run cannot score rows"
        )
    outputs = []
    for path in paths:
        inputs = prepare_features(path, features)  # before loading: fail fast, nothing written
        model = _load_model(keras, path)
        outputs.append(np.asarray(model.predict(inputs, batch_size=4096, verbose=0), np.float64))
    return np.asarray(np.mean(outputs, axis=0), dtype=np.float64)


def _load_model(keras: Any, path: Path) -> Any:
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as err:  # Keras raises ValueError, OSError, zipfile's BadZipFile, …
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise RunsError(
            f"{path}: cannot load this model ({type(err).__name__}: {reason}); the file is "
            "damaged or incomplete; train the run again"
        ) from None


def missing_models(run: SavedRun) -> str | None:
    """A warning when the run recorded more models than its folder holds (a fold model was
    deleted): the mean over the others is not the run's model."""
    recorded = run.metrics.get("models")
    found = len(run.model_paths)
    if not isinstance(recorded, int) or found >= recorded or found == 0:
        return None
    return (
        f"{run.folder}: metrics.json records {recorded} models but {found} are saved; "
        f"predicting with the {found} found, which is not the model the run evaluated"
    )


def predictions_csv(run: SavedRun, rows: InputRows, outputs: np.ndarray) -> str:
    """One row per input row: its line, the probability of each class, the predicted class."""
    encoding = plan_targets(run.spec, len(run.classes))
    predicted = encoding.predict(outputs)
    if encoding.kind == "binary":
        probabilities = np.column_stack([1.0 - outputs[:, 0], outputs[:, 0]])
    else:
        probabilities = outputs
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["line", *(f"probability_{c}" for c in run.classes), "predicted"])
    for line, probs, guess in zip(rows.lines, probabilities, predicted, strict=True):
        writer.writerow([line, *(repr(float(p)) for p in probs), run.classes[int(guess)]])
    return buffer.getvalue()


def write_atomically(path: Path, text: str) -> None:
    scratch = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        scratch.write_text(text, encoding="utf-8")
        os.replace(scratch, path)
    except OSError as err:
        scratch.unlink(missing_ok=True)
        raise RunsError(f"{path}: cannot write the predictions ({err.strerror})") from None
