"""Real tabular data end to end: Iris with species names and a header, and a table with a
categorical column and empty cells, both written from scikit-learn's bundled copies."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from densecli import data
from densecli.errors import DataError

from conftest import CONFIGS, invoke, only_run

SPECIES = ["setosa", "versicolor", "virginica"]
QUICK = ["--set", "train.epochs=3"]


def _iris_rows() -> tuple[list[str], list[list[str]]]:
    from sklearn.datasets import load_iris

    iris = load_iris()
    header = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    rows = [
        [*(repr(float(v)) for v in x), str(iris.target_names[t])]
        for x, t in zip(iris.data, iris.target, strict=True)
    ]
    # Shuffled once, so the classic split's last rows hold every species.
    order = np.random.default_rng(0).permutation(len(rows))
    return header, [rows[i] for i in order]


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows([header, *rows])
    path.write_text(buffer.getvalue())
    return path


def _spec(path: Path, csv_path: Path, inputs: int, **extra: Any) -> Path:
    spec = {
        "name": "iris-test",
        "seed": 3,
        "data": {"path": str(csv_path), "target": "species"},
        "model": {
            "layers": [
                {"units": 8, "input_dim": inputs, "activation": "relu"},
                {"units": 6, "activation": "relu"},
                {"units": 3, "activation": "softmax"},
            ]
        },
        "train": {"loss": "categorical_crossentropy", "epochs": 3, "batch_size": 16},
        **extra,
    }
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _check_predict_matches_recorded(
    runner: CliRunner, run: Path, csv_path: Path, tmp_path: Path
) -> list[dict[str, str]]:
    """predict on the run's own test rows gives exactly the outputs the run recorded."""
    recorded = _parse((run / "predictions.csv").read_text())
    lines = csv_path.read_text().splitlines()
    chosen = [lines[0], *(lines[int(r["row"]) + 1] for r in recorded)]  # header, then rows
    source = tmp_path / "to-score.csv"
    source.write_text("\n".join(chosen) + "\n")
    result = invoke(runner, "predict", str(run), str(source))
    assert result.exit_code == 0, result.output
    scored = _parse(result.stdout)
    assert [r["predicted"] for r in scored] == [r["predicted"] for r in recorded]
    got = np.array([[float(r[f"probability_{c}"]) for c in SPECIES] for r in scored])
    want = np.array([[float(r[f"output_{k}"]) for k in range(3)] for r in recorded])
    assert np.allclose(got, want, atol=1e-6)
    return scored


@pytest.fixture(scope="module")
def iris_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    header, rows = _iris_rows()
    return _write_csv(tmp_path_factory.mktemp("iris") / "iris.csv", header, rows)


@pytest.mark.data
def test_iris_with_species_names_trains_scores_and_compares(
    iris_csv: Path, tmp_path: Path, runner: CliRunner
) -> None:
    spec, runs = _spec(tmp_path / "iris.yaml", iris_csv, 4), tmp_path / "runs"
    cv = invoke(runner, "cv", str(spec), "--folds", "3", "--runs-dir", str(runs), *QUICK)
    assert cv.exit_code == 0, cv.output
    assert cv.output.count("header: row 1 names the columns (it holds no numbers)") == 1
    assert "pred virginica" not in cv.output  # CV shows no confusion table; split does
    split = invoke(runner, "train", str(spec), "--runs-dir", str(runs), *QUICK)
    assert split.exit_code == 0, split.output
    assert "true setosa" in split.output and "pred virginica" in split.output
    run = only_run(runs, "-split")
    inputs = json.loads((run / "inputs.json").read_text())
    assert inputs["classes"] == SPECIES and inputs["header"] is True
    assert inputs["inferences"] == ["header: row 1 names the columns (it holds no numbers)"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_rows"] == 15 and metrics["train_rows"] == 135  # 90 % of 150
    scored = _check_predict_matches_recorded(runner, run, iris_csv, tmp_path)
    assert {r["predicted"] for r in scored} <= set(SPECIES)
    cv_run = only_run(runs, "-cv")
    assert {r["label"] for r in _parse((cv_run / "predictions.csv").read_text())} == set(SPECIES)
    listed = invoke(runner, "compare", str(runs), "--format", "json")
    assert listed.exit_code == 0, listed.output
    assert len(json.loads(listed.stdout.split("Written:")[0])) == 2


@pytest.mark.data
def test_iris_sweep(iris_csv: Path, tmp_path: Path, runner: CliRunner) -> None:
    spec, runs = _spec(tmp_path / "iris.yaml", iris_csv, 4), tmp_path / "runs"
    grid = ["--grid", "train.batch_size=8,32", "--folds", "2", "--workers", "1"]
    result = invoke(runner, "sweep", str(spec), *grid, "--runs-dir", str(runs), *QUICK)
    assert result.exit_code == 0, result.output
    assert result.output.count("iris.csv: header: row 1 names the columns") == 1
    (sweep,) = runs.glob("*-sweep")
    with (sweep / "results.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 2
    points = [p for p in sweep.iterdir() if p.name.endswith("-cv")]
    assert all(json.loads((p / "inputs.json").read_text())["classes"] == SPECIES for p in points)


@pytest.fixture(scope="module")
def messy_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Iris with a categorical `site` column and empty / NA / ? cells in both kinds."""
    header, rows = _iris_rows()
    sites = ["north", "south", "east"]
    messy = []
    for i, row in enumerate(rows):
        site = sites[(i * 7) % 3] if i % 11 else ""
        cells = [*row[:4], site, row[4]]
        if i % 9 == 4:
            cells[1] = ["", "NA", "?"][i % 3]
        messy.append(cells)
    folder = tmp_path_factory.mktemp("messy")
    return _write_csv(folder / "messy.csv", [*header[:4], "site", header[4]], messy)


def test_missing_cells_need_impute_and_are_named(messy_csv: Path, tmp_path: Path) -> None:
    spec = _spec(tmp_path / "messy.yaml", messy_csv, 7)
    result = invoke(CliRunner(), "validate", str(spec))
    assert result.exit_code == 2, result.output
    assert "row 6, column 2: missing value (" in result.output
    assert "set preprocess.impute: median (or mean)" in result.output


@pytest.mark.data
def test_categorical_column_and_empty_cells(
    messy_csv: Path, tmp_path: Path, runner: CliRunner
) -> None:
    runs = tmp_path / "runs"
    spec = _spec(
        tmp_path / "messy.yaml",
        messy_csv,
        7,  # 4 numeric inputs and one per site
        preprocess={"impute": "median", "standardize": True},
    )
    result = invoke(runner, "train", str(spec), "--runs-dir", str(runs), *QUICK)
    assert result.exit_code == 0, result.output
    assert "categorical: 'site' (row 3: 'south' is not a number), 3 categories" in result.output
    run = only_run(runs, "-split")
    inputs = json.loads((run / "inputs.json").read_text())
    assert inputs["categorical"] == ["site"]
    assert inputs["categories"] == {"site": ["east", "north", "south"]}
    step = json.loads((run / "model.preprocess.json").read_text())
    (site,) = step["categorical"]
    assert site["known"] == ["east", "north", "south"] and site["fill"] in site["known"]
    assert len(step["cell_fills"]) == 4  # a median per numeric column, from training rows
    _check_predict_matches_recorded(runner, run, messy_csv, tmp_path)
    source = tmp_path / "new.csv"
    source.write_text("5.0,,1.4,0.2,west\n6.1,2.8,NA,1.2,\n")
    scored = invoke(runner, "predict", str(run), str(source))
    assert scored.exit_code == 0, scored.output
    assert "column 'site': category 'west' was not among a model's training" in scored.output
    assert len(_parse(scored.stdout.split("warning")[0])) == 2


def test_forced_categorical_and_header_true(tmp_path: Path) -> None:
    path = tmp_path / "coded.csv"
    path.write_text("1,2,0\n1,3,1\n2,4,0\n1,2,1\n2,5,0\n")
    table = data.load_dataset(path, data.TableOptions(header=True, categorical=[0]))
    assert table.feature_names == ("1", "2") and table.header
    assert table.layout.categorical == (0,) and table.layout.categories == (("1", "2"),)
    assert table.n_features == 3  # one numeric column, two categories
    assert table.inferences == (
        "header: row 1 names the columns (data.header: true)",
        "categorical: '1' (preprocess.categorical), 2 categories, one-hot encoded",
    )
    assert data.load_dataset(path).layout.categorical == ()


def test_a_string_target_is_read_as_class_names(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("x,label\n1,yes\n2,no\n3,yes\n")
    table = data.load_dataset(path)
    assert table.target.tolist() == ["yes", "no", "yes"]
    missing = tmp_path / "m.csv"
    missing.write_text("x,label\n1,yes\n2,\n3,no\n")
    kept = data.load_dataset(missing)  # data.missing_target: drop, the default
    assert kept.target.tolist() == ["yes", "no"]
    assert kept.lines.tolist() == [2, 4] and kept.dropped_lines == (3,)
    assert kept.describe()["rows_without_target"] == {"count": 1, "lines": [3]}
    with pytest.raises(DataError, match=r"target column 'label' is missing in row 3"):
        data.load_dataset(missing, data.TableOptions(missing_target="error"))


@pytest.mark.parametrize(
    ("name", "rows", "features", "first_class"),
    [
        ("iris", 150, 4, "setosa"),
        ("wine", 178, 13, "class_0"),
        ("breast_cancer", 569, 30, "benign"),
        ("diabetes", 442, 10, None),
    ],
)
def test_built_in_data_sets_load_from_scikit_learn(
    name: str,
    rows: int,
    features: int,
    first_class: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(data.CACHE_DIR_ENV, str(tmp_path))
    table = data.dataset_for(None, name=name)
    assert (table.n_rows, table.n_features) == (rows, features)
    assert table.source.startswith(f"scikit-learn's bundled {name}")
    assert table.sha256 == data.sha256_of(tmp_path / f"sklearn-{name}.csv")
    if first_class is None:
        assert table.target.dtype == np.float64
    else:
        assert sorted(set(table.target))[0] == first_class


def test_preprocessing_records_of_older_runs_still_apply() -> None:
    old = {"missing_columns": [1], "fill_values": [5.0], "means": [1.0, 5.0], "scales": [2.0, 1.0]}
    step = data.Preprocessor.from_json(old)
    out = step.transform(np.array([[3.0, 0.0], [1.0, 7.0]], dtype=np.float32))
    assert out.tolist() == [[1.0, 0.0], [0.0, 2.0]]


def test_pimas_train_rows_do_not_leak_onto_another_file(tmp_path: Path) -> None:
    rows = [[str((i * j) % 7) for j in range(8)] + [str(i % 2)] for i in range(20)]
    other = _write_csv(tmp_path / "other.csv", [f"f{j}" for j in range(8)] + ["y"], rows)
    pima = str(CONFIGS / "pima.yaml")
    result = invoke(CliRunner(), "validate", pima, "--data", str(other))
    assert result.exit_code == 0, result.output
    assert "train_rows: 18" in result.output  # 90 % of 20, not the spec's 700
    kept = invoke(CliRunner(), "validate", pima, "--data", str(other), "--set", "data.train_rows=5")
    assert kept.exit_code == 0, kept.output
    assert "train_rows: 5" in kept.output


@pytest.mark.data
def test_export_fills_missing_cells_as_predict_does(
    messy_csv: Path, tmp_path: Path, runner: CliRunner
) -> None:
    import keras

    numeric_only = tmp_path / "numeric.csv"
    lines = messy_csv.read_text().splitlines()
    numeric_only.write_text(
        "\n".join(",".join(c for j, c in enumerate(line.split(",")) if j != 4) for line in lines)
        + "\n"
    )
    runs = tmp_path / "runs"
    impute = {"impute": "mean", "standardize": True}
    spec = _spec(tmp_path / "numeric.yaml", numeric_only, 4, preprocess=impute)
    assert invoke(runner, "train", str(spec), "--runs-dir", str(runs), *QUICK).exit_code == 0
    run = only_run(runs, "-split")
    artifact = tmp_path / "model.keras"
    exported = invoke(runner, "export", str(run), "-f", "keras", "-o", str(artifact))
    assert exported.exit_code == 0, exported.output
    rows = np.array([[5.0, np.nan, 1.4, 0.2], [6.1, 2.8, np.nan, 1.2]], dtype=np.float32)
    source = tmp_path / "rows.csv"
    source.write_text("5.0,,1.4,0.2\n6.1,2.8,NA,1.2\n")
    scored = invoke(runner, "predict", str(run), str(source))
    assert scored.exit_code == 0, scored.output
    want = np.array(
        [[float(r[f"probability_{c}"]) for c in SPECIES] for r in _parse(scored.stdout)]
    )
    got = np.asarray(keras.saving.load_model(artifact).predict(rows, verbose=0))
    assert np.allclose(got, want, atol=1e-5)
