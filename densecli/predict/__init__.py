"""Scoring new rows with a finished run (`densecli predict`)."""

from densecli.predict._command import predict_file
from densecli.predict._rows import InputRows, read_input_rows
from densecli.predict._score import (
    missing_models,
    model_outputs,
    predictions_csv,
    prepare_features,
    write_predictions,
)

__all__ = [
    "InputRows",
    "missing_models",
    "model_outputs",
    "predict_file",
    "predictions_csv",
    "prepare_features",
    "read_input_rows",
    "write_predictions",
]
