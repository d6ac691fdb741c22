"""`densecli export`: artifacts that take raw Pima rows and give what `densecli predict` gives.

A split run and a 3-fold CV run (standardize, zero-as-missing glucose and BMI) are trained
for 3 epochs; each is exported in every format, run by that format's own runtime, and
compared with `predict` on 50 raw rows, some with the zeros the imputation replaces.
"""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import PIMA_CSV, invoke, write_spec

pytestmark = pytest.mark.data

TOLERANCE = 1e-5
PREPROCESS = {"standardize": True, "zero_as_missing": ["glucose", "bmi"]}


def _run(runner: CliRunner, command: str, spec: Path, runs_dir: Path) -> Path:
    result = invoke(runner, command, str(spec), "--runs-dir", str(runs_dir))
    assert result.exit_code == 0, result.output
    mode = "split" if command == "train" else command
    (folder,) = [p for p in runs_dir.iterdir() if p.name.endswith(f"-{mode}")]
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One split and one CV run with the run's preprocessing to build into the graph."""
    root = tmp_path_factory.mktemp("export")
    spec = write_spec(
        root / "spec.yaml", train={"epochs": 3}, cv={"folds": 3}, preprocess=PREPROCESS
    )
    runner = CliRunner()
    return {
        "split": _run(runner, "train", spec, root / "split-runs"),
        "cv": _run(runner, "cv", spec, root / "cv-runs"),
    }


@pytest.fixture(scope="module")
def raw_rows(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """50 raw Pima rows (the target column dropped), including zeros in glucose and BMI."""
    table = np.loadtxt(PIMA_CSV, delimiter=",", dtype=np.float64)
    features = table[:, :8]
    zeros = np.flatnonzero((features[:, 1] == 0) | (features[:, 5] == 0))[:10]
    chosen = np.concatenate([zeros, np.setdiff1d(np.arange(60), zeros)[: 50 - zeros.size]])
    rows = features[chosen]
    assert rows.shape == (50, 8)
    assert (rows[:, 1] == 0).any() and (rows[:, 5] == 0).any()
    path = tmp_path_factory.mktemp("rows") / "rows.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows.tolist())
    return path, rows.astype(np.float32)


def _predicted(run: Path, rows_csv: Path, tmp_path: Path) -> np.ndarray:
    """The probabilities `densecli predict` writes."""
    out = tmp_path / "scored.csv"
    result = invoke(CliRunner(), "predict", str(run), str(rows_csv), "-o", str(out))
    assert result.exit_code == 0, result.output
    with out.open(newline="") as handle:
        table = list(csv.DictReader(handle))
    return np.array([[float(r["probability_0"]), float(r["probability_1"])] for r in table])


def _run_keras(path: Path, rows: np.ndarray) -> np.ndarray:
    import keras

    return np.asarray(keras.saving.load_model(path).predict(rows, verbose=0))


def _run_saved_model(path: Path, rows: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))  # kept: serve() needs its variables alive
    return np.asarray(loaded.serve(tf.constant(rows)))


def _run_onnx(path: Path, rows: np.ndarray) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inputs,) = session.get_inputs()
    assert inputs.name == "features"
    return np.asarray(session.run(["probabilities"], {"features": rows})[0])


def _run_litert(path: Path, rows: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "use ai_edge_litert": same interpreter
        interpreter = tf.lite.Interpreter(model_path=str(path))
    (inputs,) = interpreter.get_input_details()
    interpreter.resize_tensor_input(inputs["index"], list(rows.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(inputs["index"], rows)
    interpreter.invoke()
    (outputs,) = interpreter.get_output_details()
    return np.asarray(interpreter.get_tensor(outputs["index"]))


RUNTIMES: dict[str, tuple[str, Any]] = {
    "keras": ("model.keras", _run_keras),
    "saved_model": ("model_saved", _run_saved_model),
    "onnx": ("model.onnx", _run_onnx),
    "litert": ("model.tflite", _run_litert),
}


@pytest.mark.parametrize("kind", ["split", "cv"])
@pytest.mark.parametrize("fmt", list(RUNTIMES))
def test_exported_model_gives_what_predict_gives(
    runs: dict[str, Path],
    raw_rows: tuple[Path, np.ndarray],
    tmp_path: Path,
    kind: str,
    fmt: str,
) -> None:
    rows_csv, rows = raw_rows
    name, run_artifact = RUNTIMES[fmt]
    artifact = tmp_path / name
    result = invoke(CliRunner(), "export", str(runs[kind]), "--format", fmt, "-o", str(artifact))
    assert result.exit_code == 0, result.output
    expected = _predicted(runs[kind], rows_csv, tmp_path)
    got = run_artifact(artifact, rows)
    assert got.shape == (50, 2)
    assert np.max(np.abs(got - expected)) < TOLERANCE


def test_export_json_describes_inputs_outputs_and_source(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    artifact = tmp_path / "cv.onnx"
    result = invoke(CliRunner(), "export", str(runs["cv"]), "-f", "onnx", "-o", str(artifact))
    assert result.exit_code == 0, result.output
    described = json.loads((tmp_path / "cv.onnx.export.json").read_text())
    inputs = json.loads((runs["cv"] / "inputs.json").read_text())
    metrics = json.loads((runs["cv"] / "metrics.json").read_text())
    assert described["input"]["columns"] == inputs["features"]
    assert described["input"]["columns"][1] == "glucose"
    assert described["output"]["columns"] == ["probability_0", "probability_1"]
    assert described["output"]["classes"] == [0, 1]
    assert described["models"] == [f"models/fold-0{k}.keras" for k in (1, 2, 3)]
    assert described["source_run"] == str(runs["cv"].resolve())
    assert described["data_sha256"] == metrics["data_sha256"]
    assert described["densecli_version"]


def test_fold_exports_one_fold_model_with_its_own_preprocessing(
    runs: dict[str, Path], raw_rows: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    import keras

    from densecli.data import FeatureBlock
    from densecli.predict import prepare_features

    _, rows = raw_rows
    artifact = tmp_path / "fold2.keras"
    args = ["export", str(runs["cv"]), "-f", "keras", "--fold", "2", "-o", str(artifact)]
    result = invoke(CliRunner(), *args)
    assert result.exit_code == 0, result.output
    fold_path = runs["cv"] / "models" / "fold-02.keras"
    fold = keras.saving.load_model(fold_path, compile=False)
    block = FeatureBlock.numbers(rows)
    expected = fold.predict(prepare_features(fold_path, block), verbose=0)[:, 0]
    assert np.max(np.abs(_run_keras(artifact, rows)[:, 1] - expected)) < TOLERANCE


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-f", "onnx", "-o", "{tmp}/model.tflite"], "a onnx artifact is a .onnx file"),
        (["-f", "keras", "-o", "{tmp}/existing.keras"], "already exists"),
        (["-f", "keras", "-o", "{tmp}/nowhere/m.keras"], "create it first"),
        (["-f", "keras", "--fold", "4", "-o", "{tmp}/m.keras"], "has 3 model(s); use --fold 1..3"),
    ],
)
def test_export_refuses_bad_requests_in_one_line(
    runs: dict[str, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "existing.keras").write_text("keep me")
    filled = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = invoke(CliRunner(), "export", str(runs["cv"]), *filled)
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert (tmp_path / "existing.keras").read_text() == "keep me"
