"""The MLflow Model a logged run carries at artifact path `model`.

It is the ONNX artifact `densecli export` writes (the run's preprocessing and the mean over
its fold models inside the graph) with its `.export.json`, wrapped by `_served.py`, which
MLflow copies into the model ("models from code"): loading or serving it needs mlflow,
numpy, pandas and onnxruntime, never densecli or TensorFlow. ONNX rather than a SavedModel:
a serving environment of tens of megabytes that starts in a second, instead of TensorFlow;
the price is one tf2onnx conversion per logged model.

The signature names the raw input columns. A number column's type is MLflow's `any`, since
MLflow's `double` refuses the int64 columns pandas reads whole numbers as; the wrapper then
takes integers, floats and their missing values, and refuses anything else by column. A text
column's type is `string`.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import os
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from densecli.runs.files import read_json
from densecli.tracking._settings import TrackingError

MODEL_NAME = "model"  # the artifact path: runs:/<run id>/model
MODEL_TAG = "densecli.model_id"  # on a run that carries its model: MLflow's model id
SERVED_CODE = Path(__file__).with_name("_served.py")
CODE_NAME = "densecli_model.py"  # the wrapper's name inside the logged model
ARTIFACT_NAME = "model.onnx"
# What the logged model needs besides mlflow (which MLflow adds itself).
RUNTIME = ("onnxruntime", "numpy", "pandas")


@dataclass(frozen=True)
class PreparedModel:
    """A run's model, exported and checked, ready to be logged."""

    code: Path
    artifacts: dict[str, str]
    signature: Any
    requirements: list[str]


def _requirements() -> list[str]:
    pinned = []
    for name in RUNTIME:
        try:
            pinned.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            raise TrackingError(
                f"--mlflow: a logged model is checked with {name}, which is not installed; "
                "install it with pip install 'densecli[mlflow]'"
            ) from None
    return pinned


def _signature(description: dict[str, Any]) -> Any:
    """Inputs: the raw columns by name (numbers as `any`, text as `string`); outputs: predict's."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema
    from mlflow.types.schema import AnyType

    number: Any = AnyType()  # type: ignore[no-untyped-call]  # MLflow's `any`
    single = description.get("input")
    if single is not None:
        columns = [(c, "float32") for c in single["columns"]]
    else:
        columns = [(i["column"], i["dtype"]) for i in description["inputs"]]
    specs: list[Any] = [ColSpec("string" if d == "string" else number, n) for n, d in columns]
    inputs = Schema(specs)
    output = description["output"]
    if "classes" in output:
        classes = output["classes"]
        label = "long" if all(isinstance(c, int) for c in classes) else "string"
        returned = [ColSpec("double", c) for c in output["columns"]] + [ColSpec(label, "predicted")]
    else:
        returned = [ColSpec("double", "predicted")]
    outputs: list[Any] = returned
    return ModelSignature(inputs=inputs, outputs=Schema(outputs))


def _example(description: dict[str, Any]) -> Any:
    """One row the model must answer: 0 in every number column, an empty text cell."""
    import pandas as pd

    single = description.get("input")
    if single is not None:
        return pd.DataFrame({c: [0.0] for c in single["columns"]})
    return pd.DataFrame(
        {i["column"]: ["" if i["dtype"] == "string" else 0.0] for i in description["inputs"]}
    )


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """MLflow's progress bars, notices and advice stay off densecli's terminal."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    saved = os.environ.get(key)
    os.environ[key] = "false"
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        if saved is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = saved


def prepare_model(run: Path, scratch: Path) -> PreparedModel:
    """Export the run to ONNX in `scratch`, and check that MLflow loads the wrapped model and
    answers a row with predict's columns before anything is logged."""
    import mlflow

    from densecli.export import description_path, export_run

    requirements = _requirements()
    artifact = scratch / ARTIFACT_NAME
    export_run(run, "onnx", artifact)
    described = description_path(artifact)
    description = read_json(described)
    code = scratch / CODE_NAME
    shutil.copyfile(SERVED_CODE, code)
    prepared = PreparedModel(
        code,
        {artifact.name: str(artifact), described.name: str(described)},
        _signature(description),
        requirements,
    )
    saved = scratch / "checked"
    with quiet():
        mlflow.pyfunc.save_model(str(saved), **_model_arguments(prepared))
        answer = mlflow.pyfunc.load_model(str(saved)).predict(_example(description))
    output = description["output"]
    expected = [*output["columns"], "predicted"] if "classes" in output else ["predicted"]
    if list(answer.columns) != expected or len(answer) != 1:
        raise TrackingError(
            f"{run}: its MLflow model answered {list(answer.columns)} for one row, not "
            f"{expected}; not logged"
        )
    return prepared


def _model_arguments(prepared: PreparedModel) -> dict[str, Any]:
    return {
        "python_model": str(prepared.code),
        "artifacts": prepared.artifacts,
        "signature": prepared.signature,
        "pip_requirements": prepared.requirements,
    }


def log_model(uri: str, experiment_id: str, run_id: str, prepared: PreparedModel) -> str:
    """The prepared model as the run's logged model at `model`; returns MLflow's model id."""
    import mlflow
    from mlflow.models import Model

    mlflow.set_tracking_uri(uri)
    with quiet():
        mlflow.set_experiment(experiment_id=experiment_id)  # where MLflow files the model
        info = Model.log(
            None, name=MODEL_NAME, flavor=mlflow.pyfunc, run_id=run_id,
            **_model_arguments(prepared),
        )  # fmt: skip
    return str(info.model_id)
