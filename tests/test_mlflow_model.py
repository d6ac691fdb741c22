"""The MLflow Model each logged run carries: `mlflow.pyfunc.load_model("runs:/<id>/model")`
and `mlflow models serve` answer a DataFrame of named columns, in any order, with `densecli
predict`'s columns and numbers.

Three runs, logged by `densecli mlflow`: a CV classifier and a split regression of a messy
table (a text column, empty cells of every kind, a category no model saw) and a Pima CV run
(integer columns as pandas reads them, no imputation: an empty number cell is refused).
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import CONFIGS, PIMA_CSV, invoke, messy_rows, messy_spec, write_rows

mlflow = pytest.importorskip("mlflow")
pd = pytest.importorskip("pandas")
pytestmark = pytest.mark.data

FEATURES = ["x1", "colour", "x2", "size"]
SHUFFLED = ["size", "label", "name", "x2", "colour", "id", "x1"]  # the target and dropped ones too
SERVE_WAIT = 120.0  # seconds for `mlflow models serve` to answer its health check


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("mlflow-model")
    table = write_rows(root / "messy.csv", messy_rows(240, 1))
    runs = root / "runs"
    runner = CliRunner()
    commands = {
        "classification": ["cv", str(messy_spec(root / "c.yaml", table, "classification",
                           target="label", drop=["id", "name", "value"]))],
        "regression": ["train", str(messy_spec(root / "r.yaml", table, "regression",
                       target="value", features=FEATURES))],
        "pima": ["cv", str(CONFIGS / "pima.yaml"), "--set", "train.epochs=3", "--folds", "2"],
    }  # fmt: skip
    folders: dict[str, Path] = {}
    for kind, args in commands.items():
        before = set(runs.iterdir()) if runs.is_dir() else set()
        result = invoke(runner, *args, "--runs-dir", str(runs))
        assert result.exit_code == 0, result.output
        (folders[kind],) = set(runs.iterdir()) - before
    started = time.monotonic()
    result = invoke(runner, "mlflow", str(runs))
    seconds = time.monotonic() - started
    assert result.exit_code == 0, result.output
    assert "logged 3 run(s), 0 already there, 0 skipped" in result.output
    uri = f"sqlite:///{runs / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    ids = {}
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id]):
            ids[Path(run.data.tags["densecli.run_folder"]).name] = run.info.run_id
    return {"root": root, "uri": uri, "folders": folders, "ids": ids, "seconds": seconds}


def _run_id(logged: dict[str, Any], kind: str) -> str:
    run_id: str = logged["ids"][logged["folders"][kind].name]
    return run_id


def _load(logged: dict[str, Any], kind: str) -> Any:
    mlflow.set_tracking_uri(logged["uri"])
    return mlflow.pyfunc.load_model(f"runs:/{_run_id(logged, kind)}/model")


def _predict(run: Path, rows: Path) -> list[dict[str, str]]:
    from typer.testing import CliRunner

    result = invoke(CliRunner(), "predict", str(run), str(rows))
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout.split("warning:")[0])))


def _new_rows(tmp: Path) -> Path:
    """Rows to score, written in training order: an unseen category, empty number and text
    cells, NA (missing, as predict reads it)."""
    rows = messy_rows(30, 99)
    rows[0]["colour"] = "violet"
    rows[1]["x1"], rows[1]["colour"] = "", ""
    return write_rows(tmp / "new.csv", rows, FEATURES)


def _as_pandas_gives_it(path: Path) -> Any:
    """The same rows as a DataFrame in another column order, with every kind of missing
    value pandas users have: NaN (read_csv's), None in an object column, and ""."""
    rows = messy_rows(30, 99)
    rows[0]["colour"] = "violet"
    rows[1]["x1"], rows[1]["colour"] = "", ""
    frame = pd.read_csv(io.StringIO(write_rows(path, rows, SHUFFLED).read_text()))
    colour = frame["colour"].astype(object)
    frame["colour"] = colour.where(colour.notna(), None)  # None in an object column
    frame.loc[1, "colour"] = ""  # an empty string, as a form would send it
    x2 = frame["x2"].astype(object)
    frame["x2"] = x2.where(x2.notna(), None)  # None among numbers: an object column
    assert frame["x1"].isna().any() and frame["colour"].isna().any() and frame["x2"].isna().any()
    return frame


def _assert_same(got: Any, expected: list[dict[str, str]], regression: bool) -> None:
    assert list(got.columns) == list(expected[0])[1:]  # predict's columns after `line`
    numbers = [c for c in got.columns if c != "predicted" or regression]
    want = np.array([[float(r[c]) for c in numbers] for r in expected])
    have = got[numbers].to_numpy(dtype=np.float64)
    if regression:
        assert np.allclose(have, want, rtol=1e-5, atol=0)
    else:
        assert np.max(np.abs(have - want)) < 1e-5
        assert [str(v) for v in got["predicted"]] == [r["predicted"] for r in expected]


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_pyfunc_equals_predict_on_shuffled_columns_and_empty_cells(
    logged: dict[str, Any], tmp_path: Path, kind: str
) -> None:
    expected = _predict(logged["folders"][kind], _new_rows(tmp_path))
    got = _load(logged, kind).predict(_as_pandas_gives_it(tmp_path / "shuffled.csv"))
    _assert_same(got, expected, kind == "regression")


def test_pima_integer_columns_are_taken_as_pandas_reads_them(
    logged: dict[str, Any], tmp_path: Path
) -> None:
    names = json.loads((logged["folders"]["pima"] / "inputs.json").read_text())["columns"]
    frame = pd.read_csv(PIMA_CSV, header=None, names=names).head(50)
    assert str(frame["glucose"].dtype) == "int64"  # MLflow's `double` would refuse it
    source = tmp_path / "pima.csv"
    frame.to_csv(source, index=False)
    expected = _predict(logged["folders"]["pima"], source)
    got = _load(logged, "pima").predict(frame[list(reversed(names))])
    _assert_same(got, expected, regression=False)


def test_what_predict_refuses_the_model_refuses_by_column(logged: dict[str, Any]) -> None:
    model = _load(logged, "pima")
    names = json.loads((logged["folders"]["pima"] / "inputs.json").read_text())["features"]
    row = dict.fromkeys(names, 1.0)
    refused = r"column 'glucose', row\(s\) 17: missing value; this run was trained without"
    with pytest.raises(mlflow.exceptions.MlflowException, match=refused):
        model.predict(pd.DataFrame([row, {**row, "glucose": None}], index=[16, 17]))
    with pytest.raises(mlflow.exceptions.MlflowException, match="column 'bmi': numbers expected"):
        model.predict(pd.DataFrame([{**row, "bmi": "heavy"}]))
    with pytest.raises(mlflow.exceptions.MlflowException, match="missing inputs"):
        model.predict(pd.DataFrame([{k: v for k, v in row.items() if k != "age"}]))


def test_the_logged_model_needs_neither_densecli_nor_tensorflow(logged: dict[str, Any]) -> None:
    client = mlflow.MlflowClient(tracking_uri=logged["uri"])
    run = client.get_run(_run_id(logged, "classification"))
    model_id = run.data.tags["densecli.model_id"]
    assert [o.model_id for o in run.outputs.model_outputs] == [model_id]  # "Logged models"
    folder = Path(mlflow.artifacts.download_artifacts(f"models:/{model_id}"))
    requirements = (folder / "requirements.txt").read_text().split()
    assert sorted(r.split("==")[0] for r in requirements) == [
        "mlflow", "numpy", "onnxruntime", "pandas"
    ]  # fmt: skip
    code = (folder / "densecli_model.py").read_text()
    assert "import densecli" not in code and "tensorflow" not in code
    signature = json.loads(
        mlflow.models.get_model_info(f"models:/{model_id}").signature.to_dict()["inputs"]
    )
    assert [(c["name"], c["type"]) for c in signature] == [
        ("x1", "any"), ("colour", "string"), ("x2", "any"), ("size", "any")
    ]  # fmt: skip
    probe = "import sys, mlflow; mlflow.pyfunc.load_model(sys.argv[1]); " \
            "print(sorted({'densecli', 'tensorflow', 'keras'} & set(sys.modules)))"  # fmt: skip
    found = subprocess.run(
        [sys.executable, "-c", probe, str(folder)], capture_output=True, text=True, check=False
    )
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip().splitlines()[-1] == "[]"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _wait_until_healthy(server: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + SERVE_WAIT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"mlflow models serve ended ({server.returncode}): {log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)  # polling an endpoint, not waiting a guessed time
    pytest.fail(f"mlflow models serve did not answer {url} within {SERVE_WAIT:.0f} s")


def _post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_mlflow_models_serve_answers_with_predicts_numbers(
    logged: dict[str, Any], tmp_path: Path
) -> None:
    port = _free_port()
    bin_dir = str(Path(sys.executable).parent)  # where `--env-manager local` finds uvicorn
    env = {**os.environ, "MLFLOW_TRACKING_URI": logged["uri"],
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}  # fmt: skip
    command = [
        sys.executable, "-m", "mlflow", "models", "serve", "-m",
        f"runs:/{_run_id(logged, 'classification')}/model", "--env-manager", "local",
        "-h", "127.0.0.1", "-p", str(port),
    ]  # fmt: skip
    log = tmp_path / "serve.log"
    with log.open("wb") as output:  # a file, not a pipe nobody reads while it serves
        server = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_until_healthy(server, f"http://127.0.0.1:{port}/ping", log)
        frame = _as_pandas_gives_it(tmp_path / "shuffled.csv")
        split = json.loads(frame.to_json(orient="split", index=False))
        status, answer = _post(f"http://127.0.0.1:{port}/invocations", {"dataframe_split": split})
        assert status == 200, answer
        got = pd.DataFrame(answer["predictions"])
        expected = _predict(logged["folders"]["classification"], _new_rows(tmp_path))
        _assert_same(got, expected, regression=False)
        split["data"][0][split["columns"].index("x1")] = "tall"
        status, answer = _post(f"http://127.0.0.1:{port}/invocations", {"dataframe_split": split})
        assert status == 400 and "column 'x1': numbers expected" in answer["message"], answer
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
