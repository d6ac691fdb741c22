"""A densecli run as an MLflow pyfunc model: the code MLflow copies into the logged model
(MLflow's "models from code"). Never imported by densecli: it runs wherever the model is
loaded or served, with mlflow, numpy, pandas and onnxruntime only (no densecli, no
TensorFlow).

It wraps the ONNX artifact `densecli export` writes and reads the `.export.json` beside it
(both are the model's artifacts): the run's preprocessing and the mean over its fold models
are inside the ONNX graph, so this file only turns a DataFrame of named columns (in any
order; other columns are ignored) into the graph's inputs and its outputs into the columns
`densecli predict` prints: `probability_<class>` for each class and `predicted` (the class,
by the run's decision rule), or a regression's `predicted` value.

Missing cells (None, NaN, pd.NA) become what the graph fills as `predict` fills an empty
cell: NaN in a number column, an empty string in a text column. A run trained without
`preprocess.impute` refuses an empty number cell, as `predict` does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import set_model
from mlflow.pyfunc.model import PythonModel

DESCRIPTION_SUFFIX = ".export.json"
SHOWN_ROWS = 5  # rows named in a refusal


class DensecliOnnxModel(PythonModel):
    """The exported ONNX graph with predict's columns around it."""

    def load_context(self, context: Any) -> None:
        import onnxruntime

        paths = [Path(p) for p in context.artifacts.values()]
        (described,) = [p for p in paths if p.name.endswith(DESCRIPTION_SUFFIX)]
        self.description: dict[str, Any] = json.loads(described.read_text(encoding="utf-8"))
        artifact = described.with_name(self.description["artifact"])
        self.session = onnxruntime.InferenceSession(
            str(artifact), providers=["CPUExecutionProvider"]
        )

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        # The DataFrame hint is one MLflow accepts without checks of its own: the signature
        # names the columns, the checks below are predict's.
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        output = self.description["output"]
        values = self.session.run([output["name"]], self._feeds(frame))[0]
        return _columns(np.asarray(values, dtype=np.float64), output)

    def _feeds(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """The graph's inputs: one [N, columns] float32 matrix, or one [N, 1] per column."""
        fills = self.description.get("empty_numeric_cells") == "filled"
        single = self.description.get("input")
        if single is not None:
            numbers = [_numbers(frame, column, fills) for column in single["columns"]]
            return {single["name"]: np.column_stack(numbers).astype(np.float32)}
        feeds = {}
        for spec in self.description["inputs"]:
            if spec["dtype"] == "string":
                cells = _text(frame, spec["column"])
            else:
                cells = _numbers(frame, spec["column"], fills).astype(np.float32)
            feeds[spec["name"]] = cells.reshape(-1, 1)
        return feeds


def _refused(message: str) -> MlflowException:
    """A bad input, said as MLflow says one: served, the answer is 400 with this message."""
    error: MlflowException = MlflowException.invalid_parameter_value(message)
    return error


def _column(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        raise _refused(f"no column {column!r}, an input of this model; add it")
    return frame[column]


def _rows(series: pd.Series, mask: np.ndarray) -> str:
    """The rows by the DataFrame's own index, the first few."""
    rows = [str(label) for label in series.index[mask][:SHOWN_ROWS]]
    return ", ".join(rows) + (" …" if int(mask.sum()) > SHOWN_ROWS else "")


def _numbers(frame: pd.DataFrame, column: str, fills: bool) -> np.ndarray:
    """A number column as float64: pandas' missing values are NaN (filled inside the graph,
    or refused as predict refuses them); text or infinity is refused."""
    series = _column(frame, column)
    if not pd.api.types.is_numeric_dtype(series.dtype):
        series = series.astype(object).where(series.notna(), np.nan)
        try:
            series = pd.to_numeric(series, errors="raise")
        except (ValueError, TypeError) as err:
            raise _refused(f"column {column!r}: numbers expected ({err})") from None
    values: np.ndarray = series.to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(values).any():
        rows = _rows(series, np.isinf(values))
        raise _refused(f"column {column!r}, row(s) {rows}: not a finite number")
    if not fills and np.isnan(values).any():
        rows = _rows(series, np.isnan(values))
        raise _refused(
            f"column {column!r}, row(s) {rows}: missing value; this run was trained without "
            "preprocess.impute, so it fills no empty number cell (as densecli predict); fill "
            "them in or drop those rows"
        )
    return values


def _text(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A text column as strings; a missing value is the empty string (the run's fill)."""
    series = _column(frame, column)
    missing = series.isna().to_numpy()
    cells = [("" if gone else str(value)) for value, gone in zip(series, missing, strict=True)]
    text: np.ndarray = np.asarray(cells, dtype=object)
    return text


def _columns(values: np.ndarray, output: dict[str, Any]) -> pd.DataFrame:
    """predict's columns: the probabilities and the class by the run's decision rule, or the
    regression's value."""
    if "classes" not in output:
        return pd.DataFrame({"predicted": values[:, 0]})
    classes = np.asarray(output["classes"])
    threshold = output.get("threshold")
    if threshold is not None:  # one output unit: class 1 at or above the threshold
        chosen = (values[:, 1] >= float(threshold)).astype(np.int64)
    else:
        chosen = np.argmax(values, axis=1)
    frame = pd.DataFrame(values, columns=output["columns"])
    frame["predicted"] = classes[chosen]
    return frame


set_model(DensecliOnnxModel())
