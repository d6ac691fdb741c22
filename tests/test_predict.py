"""`densecli predict`: the run's own models score rows exactly as `model.predict` does."""

import csv
import functools
import io
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from densecli.data import PIMA

from conftest import CONFIGS, PIMA_CSV, invoke, only_run

pytestmark = pytest.mark.data

PIMA_COLUMNS = PIMA.columns


def _trained_run(tmp_path_factory: pytest.TempPathFactory, config: str, *command: str) -> Path:
    runs = tmp_path_factory.mktemp("runs")
    args = [*command, str(CONFIGS / config), "--set", "train.epochs=2", "--runs-dir", str(runs)]
    result = invoke(CliRunner(), *args)
    assert result.exit_code == 0, result.output
    return only_run(runs)


@pytest.fixture(scope="module")
def split_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _trained_run(tmp_path_factory, "pima.yaml", "train")


@pytest.fixture(scope="module")
def cv_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _trained_run(tmp_path_factory, "pima.yaml", "cv", "--folds", "2")


@functools.cache
def _pima_lines() -> list[str]:
    # Read when a test runs, not at import: collecting the tests needs no data file.
    return PIMA_CSV.read_text().splitlines()


def _parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _keras_outputs(model_paths: list[Path], rows: np.ndarray) -> np.ndarray:
    import keras

    outputs = [keras.saving.load_model(p).predict(rows, verbose=0) for p in model_paths]
    return np.asarray(np.mean(outputs, axis=0))


def test_predict_on_pima_rows_matches_model_predict(
    runner: CliRunner, split_run: Path, tmp_path: Path
) -> None:
    # The last 68 rows as they are in the Pima file: 8 features and the target, no header.
    source = tmp_path / "rows.csv"
    source.write_text("\n".join(_pima_lines()[700:]) + "\n")
    result = invoke(runner, "predict", str(split_run), str(source))
    assert result.exit_code == 0, result.output
    scored = _parse(result.stdout)
    assert [int(r["line"]) for r in scored] == list(range(1, 69))
    features = np.loadtxt(source, delimiter=",", dtype=np.float32)[:, :8]
    expected = _keras_outputs([split_run / "model.keras"], features)[:, 0]
    assert np.allclose([float(r["probability_1"]) for r in scored], expected, atol=1e-6)
    assert np.allclose([float(r["probability_0"]) for r in scored], 1 - expected, atol=1e-6)
    assert [int(r["predicted"]) for r in scored] == (expected >= 0.5).astype(int).tolist()


def test_cv_run_averages_its_fold_models_and_reads_a_header(
    runner: CliRunner, cv_run: Path, tmp_path: Path
) -> None:
    source = tmp_path / "rows.csv"
    # A header, and the target column first: recognised by its name and ignored.
    header = ",".join(("outcome", *PIMA_COLUMNS[:8]))
    body = [",".join([line.split(",")[8], *line.split(",")[:8]]) for line in _pima_lines()[:10]]
    source.write_text("\n".join([header, *body]) + "\n")
    out = tmp_path / "scored.csv"
    result = invoke(runner, "predict", str(cv_run), str(source), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "mean of 2 fold models" in result.output and "ignored column(s) outcome" in result.output
    scored = _parse(out.read_text())
    assert [int(r["line"]) for r in scored] == list(range(2, 12))
    features = np.array([line.split(",")[:8] for line in _pima_lines()[:10]], dtype=np.float32)
    models = sorted((cv_run / "models").glob("fold-*.keras"))
    expected = _keras_outputs(models, features)[:, 0]
    assert np.allclose([float(r["probability_1"]) for r in scored], expected, atol=1e-6)
    single = _keras_outputs(models[:1], features)[:, 0]
    assert not np.allclose(expected, single, atol=1e-6)  # the average, not one fold's model


def test_softmax_run_gives_one_probability_per_class(
    runner: CliRunner, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    run = _trained_run(tmp_path_factory, "pima-softmax.yaml", "train")
    source = tmp_path / "rows.csv"
    source.write_text("\n".join(line.rsplit(",", 1)[0] for line in _pima_lines()[:5]) + "\n")
    result = invoke(runner, "predict", str(run), str(source))
    assert result.exit_code == 0, result.output
    scored = _parse(result.stdout)
    features = np.loadtxt(source, delimiter=",", dtype=np.float32)
    expected = _keras_outputs([run / "model.keras"], features)
    got = np.array([[float(r["probability_0"]), float(r["probability_1"])] for r in scored])
    assert np.allclose(got, expected, atol=1e-6)
    assert [int(r["predicted"]) for r in scored] == expected.argmax(axis=1).tolist()


def test_bad_rows_are_reported_by_line_and_nothing_is_written(
    runner: CliRunner, split_run: Path, tmp_path: Path
) -> None:
    source = tmp_path / "rows.csv"
    out = tmp_path / "scored.csv"
    source.write_text("\n".join([_pima_lines()[0], "1,2,3", _pima_lines()[1]]) + "\n")
    ragged = invoke(runner, "predict", str(split_run), str(source), "-o", str(out))
    assert ragged.exit_code == 2, ragged.output
    assert ragged.output.strip().splitlines() == [
        f"error: {source}: row 2 has 3 columns, expected 9 like the first row"
    ]
    rows = [
        _pima_lines()[0],
        "6,148,72,35,0,abc,0.627,50",
        "6,148,72,35,0,33.6,,50",
        "1,2,3,4,5,6,inf,8",
    ]
    source.write_text(
        "\n".join(line.rsplit(",", 1)[0] if i == 0 else line for i, line in enumerate(rows)) + "\n"
    )
    result = invoke(runner, "predict", str(split_run), str(source), "-o", str(out))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert lines == [
        f"error: {source}: row 2, column 6: 'abc' is not a finite number",
        f"error: {source}: row 3, column 7: missing value; fill it in or drop the row",
        f"error: {source}: row 4, column 7: 'inf' is not a finite number",
    ]
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["rows.csv"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere"], "nowhere: no such run folder"),
        (["RUN", "missing.csv"], "missing.csv: no such input file"),
    ],
)
def test_missing_run_or_input_is_a_one_line_error(
    runner: CliRunner, split_run: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    source = tmp_path / "rows.csv"
    source.write_text(_pima_lines()[0] + "\n")
    filled = [str(split_run) if a == "RUN" else str(tmp_path / a) for a in args]
    result = invoke(runner, "predict", *filled, *([str(source)] if len(filled) == 1 else []))
    assert result.exit_code == 2
    assert message in result.output and result.output.startswith("error: ")


def test_an_unreadable_preprocessing_record_is_an_error_and_writes_nothing(
    runner: CliRunner, split_run: Path, tmp_path: Path
) -> None:
    import json
    import shutil

    run = tmp_path / split_run.name
    shutil.copytree(split_run, run)
    source = tmp_path / "rows.csv"
    source.write_text(_pima_lines()[0] + "\n")
    step = run / "model.preprocess.json"
    step.write_text(json.dumps({"means": [1.0] * 8}))
    result = invoke(runner, "predict", str(run), str(source), "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 2
    assert f"error: {step}: unreadable preprocessing record" in result.output
    assert not (tmp_path / "out.csv").exists()


def test_predict_applies_each_models_saved_preprocessing(runner: CliRunner, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    result = invoke(
        runner,
        "train",
        str(CONFIGS / "pima.yaml"),
        "--set",
        "train.epochs=3",
        "--set",
        "preprocess={zero_as_missing: [glucose, bmi], standardize: true}",
        "--set",
        "model.layers.1.maxout=2",
        "--set",
        "model.layers.1.activation=linear",
        "--runs-dir",
        str(runs),
    )
    assert result.exit_code == 0, result.output
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    source = tmp_path / "rows.csv"
    source.write_text("\n".join(_pima_lines()[700:]) + "\n")
    result = invoke(runner, "predict", str(run), str(source))
    assert result.exit_code == 0, result.output
    scored = [float(r["probability_1"]) for r in _parse(result.stdout)]
    recorded = [float(r["output_0"]) for r in csv.DictReader((run / "predictions.csv").open())]
    assert np.allclose(scored, recorded, atol=1e-5)  # the outputs training saw on these rows


def _copy_run(run: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(run, tmp_path / run.name))


def test_a_truncated_model_file_is_named(runner: CliRunner, cv_run: Path, tmp_path: Path) -> None:
    run = _copy_run(cv_run, tmp_path)
    broken = sorted((run / "models").glob("*.keras"))[1]
    broken.write_bytes(broken.read_bytes()[:200])  # a copy cut short
    source = tmp_path / "rows.csv"
    source.write_text("\n".join(_pima_lines()[:5]) + "\n")
    result = invoke(runner, "predict", str(run), str(source))
    assert result.exit_code == 2, result.output
    assert f"error: {broken}: cannot load this model" in result.output
    assert "the file is damaged or incomplete" in result.output
    assert "Traceback" not in result.output


def test_a_cv_run_missing_a_fold_model_warns(
    runner: CliRunner, cv_run: Path, tmp_path: Path
) -> None:
    run = _copy_run(cv_run, tmp_path)
    sorted((run / "models").glob("*.keras"))[0].unlink()
    source = tmp_path / "rows.csv"
    source.write_text("\n".join(_pima_lines()[:5]) + "\n")
    result = invoke(runner, "predict", str(run), str(source))
    assert result.exit_code == 0, result.output
    assert "metrics.json records 2 models but 1 are saved" in result.stderr
    assert len(_parse(result.stdout)) == 5
