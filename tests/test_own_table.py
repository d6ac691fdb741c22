"""A user's own table, from the file to the exported model (issue 19).

A table made here has what real tables have: an id column, a free-text name column, empty
cells in number and text columns, rows without a target, a text column and a text target.
It goes through init, cv/train, predict (columns by name, in any order) and every export
format, each run by its own runtime, and the numbers are compared with `predict`'s.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from densecli import data

from conftest import CONFIGS, PIMA_CSV, invoke, messy_rows, messy_spec, write_rows


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_rows(tmp_path_factory.mktemp("messy") / "messy.csv", messy_rows(240, 1))


def _only(runs: Path, suffix: str) -> Path:
    (run,) = [p for p in runs.iterdir() if p.name.endswith(suffix)]
    return run


@pytest.fixture(scope="module")
def trained(messy: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A CV classifier of `label` and a split regression of `value`, from the same table."""
    root = tmp_path_factory.mktemp("own-runs")
    runner = CliRunner()
    classifier = messy_spec(root / "c.yaml", messy, "classification", target="label",
                       drop=["id", "name", "value"])  # fmt: skip
    regression = messy_spec(root / "r.yaml", messy, "regression", target="value",
                       features=["x1", "colour", "x2", "size"])  # fmt: skip
    runs: dict[str, Any] = {}
    for kind, spec, command in (("classification", classifier, "cv"),
                                ("regression", regression, "train")):  # fmt: skip
        folder = root / kind
        result = invoke(runner, command, str(spec), "--runs-dir", str(folder))
        assert result.exit_code == 0, result.output
        runs[kind] = _only(folder, "-cv" if command == "cv" else "-split")
        runs[f"{kind}-output"] = result.output
    return runs


@pytest.mark.data
def test_columns_are_chosen_by_name_and_rows_without_a_target_are_left_out(
    trained: dict[str, Any], messy: Path
) -> None:
    inputs = json.loads((trained["classification"] / "inputs.json").read_text())
    assert inputs["features"] == ["x1", "colour", "x2", "size"]
    assert inputs["dropped_columns"] == ["id", "name", "value"]
    assert inputs["categorical"] == ["colour"] and inputs["delimiter"] == ","
    blank = [i + 2 for i in range(240) if i % 29 == 11]  # file lines: the header is line 1
    assert inputs["rows_without_target"] == {"count": len(blank), "lines": blank}
    said = f"{len(blank)} rows without a target left out (row {blank[0]}, row {blank[1]}"
    assert said in trained["classification-output"]
    folds = json.loads((trained["classification"] / "folds.json").read_text())
    evaluated = sorted(r for job in folds["jobs"] for r in job["test_rows"])
    assert evaluated == list(range(240 - len(blank)))  # every kept row once
    regression = json.loads((trained["regression"] / "inputs.json").read_text())
    assert regression["features"] == ["x1", "colour", "x2", "size"]
    assert regression["rows_without_target"]["count"] == 0


def _predict(run: Path, rows: Path) -> tuple[np.ndarray, list[dict[str, str]], str]:
    result = invoke(CliRunner(), "predict", str(run), str(rows))
    assert result.exit_code == 0, result.output
    table = list(csv.DictReader(io.StringIO(result.stdout.split("warning:")[0])))
    columns = [c for c in table[0] if c.startswith("probability_")] or ["predicted"]
    return np.array([[float(r[c]) for c in columns] for r in table]), table, result.output


def _new_rows(tmp: Path, order: list[str]) -> tuple[Path, list[dict[str, str]]]:
    rows = messy_rows(30, 99)
    rows[0]["colour"] = "violet"  # a category no model saw
    rows[1]["x1"], rows[1]["colour"] = "", ""  # empty cells in both kinds of column
    return write_rows(tmp / f"new-{len(order)}-{order[0]}.csv", rows, order), rows


@pytest.mark.data
def test_predict_reads_columns_by_name_in_any_order(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    run = trained["classification"]
    natural, _, said = _predict(run, _new_rows(tmp_path, ["x1", "colour", "x2", "size"])[0])
    assert "category 'violet' was not among" in said
    shuffled = ["size", "label", "name", "x2", "colour", "id", "x1"]  # target and dropped too
    again, _, said = _predict(run, _new_rows(tmp_path, shuffled)[0])
    assert np.array_equal(natural, again)
    assert "ignored column(s) label, name, id" not in said  # to stdout: no notice
    whole = _new_rows(tmp_path, ["id", "name", "x1", "colour", "x2", "size", "label", "value"])[0]
    headerless = tmp_path / "headerless.csv"
    headerless.write_text("".join(whole.read_text().splitlines(keepends=True)[1:]))
    by_position, _, _ = _predict(run, headerless)  # the training file's own layout
    assert np.array_equal(natural, by_position)


@pytest.mark.data
def test_predict_names_unknown_and_missing_columns(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    source = _new_rows(tmp_path, ["x1", "colour", "weight", "size"])[0]
    result = invoke(CliRunner(), "predict", str(trained["classification"]), str(source))
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"error: {source}: column 'weight' (column 3) is not a column of the run's training "
        "data; the run takes x1, colour, x2, size; remove it or rename it",
        f"error: {source}: no column 'x2', a feature of the run; add it (the run takes x1, "
        "colour, x2, size, in any order)",
    ]


@pytest.mark.data
def test_pima_predict_with_a_reversed_header_gives_the_same_numbers(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    config = str(CONFIGS / "pima.yaml")
    trained = invoke(
        CliRunner(), "train", config, "--set", "train.epochs=5", "--runs-dir", str(runs)
    )
    assert trained.exit_code == 0, trained.output
    run = _only(runs, "-split")
    columns = json.loads((run / "inputs.json").read_text())["features"]
    rows = [line.split(",")[:8] for line in PIMA_CSV.read_text().splitlines()[:20]]
    plain, reversed_ = tmp_path / "plain.csv", tmp_path / "reversed.csv"
    plain.write_text("\n".join(",".join(r) for r in rows) + "\n")
    reversed_.write_text(
        "\n".join([",".join(columns[::-1]), *(",".join(r[::-1]) for r in rows)]) + "\n"
    )
    assert np.array_equal(_predict(run, plain)[0], _predict(run, reversed_)[0])


# --- every export format, run by its own runtime, equals predict -------------------------


def _feeds(described: dict[str, Any], rows: list[dict[str, str]]) -> dict[str, np.ndarray]:
    """The artifact's inputs from raw CSV cells: NaN for an empty number, "" for empty text."""
    feeds = {}
    for spec in described["inputs"]:
        cells = [r[spec["column"]].strip() for r in rows]
        missing = [c.lower() in ("", "na", "nan", "?") for c in cells]
        if spec["dtype"] == "string":
            feeds[spec["name"]] = np.array(
                [["" if m else c] for c, m in zip(cells, missing, strict=True)], dtype=object
            )
        else:
            values = [np.nan if m else float(c) for c, m in zip(cells, missing, strict=True)]
            feeds[spec["name"]] = np.array(values, dtype=np.float32).reshape(-1, 1)
    return feeds


def _run_keras(path: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    import keras
    import tensorflow as tf

    model = keras.saving.load_model(path)
    return np.asarray(model({k: tf.constant(v) for k, v in feeds.items()}))


def _run_saved_model(path: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    serve = loaded.signatures["serving_default"]
    (out,) = serve(**{k: tf.constant(v) for k, v in feeds.items()}).values()
    return np.asarray(out)


def _run_onnx(path: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, feeds)[0])


def _run_litert(path: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "use ai_edge_litert": same interpreter
        interpreter = tf.lite.Interpreter(model_path=str(path))
    details = {d["name"]: d for d in interpreter.get_input_details()}
    count = len(next(iter(feeds.values())))
    for detail in details.values():
        interpreter.resize_tensor_input(detail["index"], [count, 1])
    interpreter.allocate_tensors()
    for name, values in feeds.items():
        cells = values.astype(bytes) if values.dtype == object else values
        interpreter.set_tensor(details[name]["index"], cells)
    interpreter.invoke()
    (output,) = interpreter.get_output_details()
    return np.asarray(interpreter.get_tensor(output["index"]))


RUNTIMES = {
    "keras": ("model.keras", _run_keras),
    "saved_model": ("model_saved", _run_saved_model),
    "onnx": ("model.onnx", _run_onnx),
    "litert": ("model.tflite", _run_litert),
}


@pytest.mark.data
@pytest.mark.parametrize("kind", ["classification", "regression"])
@pytest.mark.parametrize("fmt", list(RUNTIMES))
def test_every_export_format_equals_predict_on_empty_cells_and_text(
    trained: dict[str, Path], tmp_path: Path, kind: str, fmt: str
) -> None:
    run = trained[kind]
    source, rows = _new_rows(tmp_path, ["x1", "colour", "x2", "size"])
    expected, _, _ = _predict(run, source)
    name, runtime = RUNTIMES[fmt]
    artifact = tmp_path / name
    result = invoke(CliRunner(), "export", str(run), "--format", fmt, "-o", str(artifact))
    assert result.exit_code == 0, result.output
    described = json.loads(artifact.with_name(name + ".export.json").read_text())
    assert [i["column"] for i in described["inputs"]] == ["x1", "colour", "x2", "size"]
    assert [i["dtype"] for i in described["inputs"]] == ["float32", "string", "float32", "float32"]
    got = runtime(artifact, _feeds(described, rows))
    assert got.shape == expected.shape and np.all(np.isfinite(got))
    if kind == "regression":
        assert np.allclose(got, expected, rtol=1e-5, atol=0)
    else:
        assert np.max(np.abs(got - expected)) < 1e-5


# --- init --data -------------------------------------------------------------------------


@pytest.mark.data
@pytest.mark.parametrize(
    ("name", "target"),
    [("pima", "-1"), ("iris", "species"), ("wine", "cultivar"), ("breast_cancer", "diagnosis"),
     ("diabetes", "progression"), ("messy", "label")],
)  # fmt: skip
def test_init_fits_a_spec_that_cv_runs_unmodified(
    name: str, target: str, messy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the spec names its data relative to where densecli runs
    if name == "pima":
        table = PIMA_CSV
    elif name == "messy":
        table = messy
    else:
        from densecli.data._builtin import builtin_csv

        table = builtin_csv(name)[0]
    spec = tmp_path / f"{name}.yaml"
    written = invoke(CliRunner(), "init", str(spec), "--data", str(table), "--target", target)
    assert written.exit_code == 0, written.output
    text = spec.read_text()
    if name == "messy":
        assert "    - id " in text and "    - name " in text  # an id and free text: dropped
        assert (
            "impute: median" in text and "one-hot encoded (an input per category): colour" in text
        )
    cv = invoke(CliRunner(), "cv", str(spec), "--runs-dir", str(tmp_path / "runs"))
    assert cv.exit_code == 0, cv.output
    metrics = json.loads((_only(tmp_path / "runs", "-cv") / "metrics.json").read_text())
    if metrics["task"] == "regression":
        assert metrics["r2"] > metrics["ridge_r2"] - 0.1, metrics
    else:  # a starting point near the linear reference on the same folds
        assert metrics["accuracy"] > metrics["logistic_regression_accuracy"] - 0.05, metrics


def test_init_without_data_still_writes_the_tutorial(tmp_path: Path) -> None:
    spec = tmp_path / "tutorial.yaml"
    result = invoke(CliRunner(), "init", str(spec))
    assert result.exit_code == 0, result.output
    assert "units: 12" in spec.read_text() and "train_rows: 700" in spec.read_text()


# --- reading tables ----------------------------------------------------------------------


@pytest.mark.parametrize(("separator", "bom"), [(";", False), ("\t", True), (",", True)])
def test_delimiters_are_sniffed_and_a_byte_order_mark_is_not_a_name(
    tmp_path: Path, separator: str, bom: bool
) -> None:
    lines = ["height;weight;kind".replace(";", separator)]
    lines += [separator.join([f"{1.5 + i}", f"{i % 4}", "ab"[i % 2]]) for i in range(8)]
    path = tmp_path / "table.csv"
    path.write_bytes(("\ufeff" if bom else "").encode() + "\n".join(lines).encode())
    table = data.load_dataset(path, data.TableOptions(target="kind"))
    assert table.feature_names == ("height", "weight") and table.delimiter == separator
    assert table.describe()["delimiter"] == separator
    given = data.load_dataset(path, data.TableOptions(target="kind", delimiter=separator))
    assert np.array_equal(given.block.numeric, table.block.numeric)


def test_numbers_are_read_exactly_as_pythons_float_reads_them(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    cells = [[f"{v:.{int(rng.integers(1, 17))}g}" for v in rng.normal(0, 10.0 ** rng.integers(-5, 6), 4)]
             for _ in range(300)]  # fmt: skip
    path = tmp_path / "floats.csv"
    path.write_text("\n".join(",".join([*row, str(i % 2)]) for i, row in enumerate(cells)) + "\n")
    table = data.load_dataset(path)
    expected = np.array([[float(c) for c in row] for row in cells], dtype=np.float32)
    assert np.array_equal(table.block.numeric, expected)


@pytest.mark.data
def test_dropping_by_index_equals_dropping_by_name() -> None:
    by_name = data.dataset_for(None, data.TableOptions(drop=["insulin", "skin_thickness"]))
    by_index = data.dataset_for(None, data.TableOptions(drop=[4, -6]))
    chosen = data.dataset_for(None, data.TableOptions(features=[0, 1, 2, "bmi", 6, "age"]))
    for table in (by_index, chosen):
        assert table.feature_names == by_name.feature_names
        assert np.array_equal(table.block.numeric, by_name.block.numeric)
    assert "insulin" not in by_name.feature_names and by_name.n_features == 6


@pytest.mark.data
def test_a_did_you_mean_names_the_closest_column() -> None:
    from densecli.errors import ConfigError

    with pytest.raises(
        ConfigError, match=r"data.features.1: no column named 'BMI' .*did you mean 'bmi'"
    ):
        data.dataset_for(None, data.TableOptions(features=["glucose", "BMI"]))


@pytest.mark.data
def test_the_columns_keys_reach_a_sweep(tmp_path: Path, messy: Path) -> None:
    spec = messy_spec(
        tmp_path / "s.yaml", messy, "classification", target="label", drop=["id", "name", "value"]
    )
    runs = tmp_path / "runs"
    grid = ["--grid", "data.drop=[id, name, value],[id, name, value, x2]", "--workers", "1"]
    result = invoke(CliRunner(), "sweep", str(spec), *grid, "--runs-dir", str(runs))
    assert result.exit_code == 0, result.output
    (sweep,) = runs.glob("*-sweep")
    features = sorted(
        json.loads((p / "inputs.json").read_text())["features"]
        for p in sweep.iterdir()
        if p.name.endswith("-cv")
    )
    assert features == [["x1", "colour", "size"], ["x1", "colour", "x2", "size"]]


# --- smaller things a user met ------------------------------------------------------------


@pytest.mark.data
def test_a_split_whose_test_rows_hold_one_class_says_so(tmp_path: Path) -> None:
    spec = tmp_path / "wine.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "wine-sorted", "data": {"name": "wine"},
        "model": {"layers": [{"units": 4, "activation": "relu"}, {"units": 3, "activation": "softmax"}]},
        "train": {"loss": "categorical_crossentropy", "epochs": 2},
    }))  # fmt: skip
    result = invoke(CliRunner(), "train", str(spec), "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 0, result.output
    (line,) = [x for x in result.output.splitlines() if "commonest class among these 18" in x]
    assert "100.0 %" in line
    assert "all 18 test rows hold one class" in result.output


@pytest.mark.data
def test_a_regression_spec_resolves_without_classification_keys() -> None:
    result = invoke(CliRunner(), "validate", str(CONFIGS / "diabetes-regression.yaml"))
    assert result.exit_code == 0, result.output
    resolved = yaml.safe_load(result.output.split("Resolved spec:")[1].split("Model ")[0])
    assert resolved["train"]["metrics"] == [] and resolved["train"]["threshold"] is None
    pima = invoke(CliRunner(), "validate", str(CONFIGS / "pima.yaml"))
    classifier = yaml.safe_load(pima.output.split("Resolved spec:")[1].split("Model ")[0])
    assert (
        classifier["train"]["metrics"] == ["accuracy"] and classifier["train"]["threshold"] == 0.5
    )


def test_built_in_data_is_cached_per_user_not_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(data.CACHE_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    monkeypatch.chdir(tmp_path)
    table = data.dataset_for(None, name="iris")
    assert table.path == tmp_path / "user-cache" / "densecli" / "sklearn-iris.csv"
    assert not (tmp_path / "data").exists()
