"""densecli sweep: points, groups, a real small grid, resume after kill -9, and Ray."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from densecli.errors import ConfigError
from densecli.search import bundle_key, group_points
from densecli.search._file import parse_grid_option, split_values
from densecli.search._grid import load_sweep

from conftest import CONFIGS, ROOT, invoke, run_densecli, wait_until_group_died

PIMA = str(CONFIGS / "pima.yaml")
SMALL = ["--set", "train.epochs=3", "--folds", "3"]


def _sweep_file(tmp_path: Path, **body: object) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"base": PIMA, **body}, sort_keys=False))
    return path


def _results(sweep_dir: Path) -> dict[str, dict[str, str]]:
    with (sweep_dir / "results.csv").open() as handle:
        return {row["point"]: row for row in csv.DictReader(handle)}


def _only_sweep(runs: Path) -> Path:
    (sweep_dir,) = [p for p in runs.iterdir() if p.name.endswith("-sweep")]
    return sweep_dir


# --- points and groups: no training ------------------------------------------------------


def test_grid_option_values_are_yaml_split_outside_brackets() -> None:
    assert split_values("8,12,[4, 2],{a: 1, b: 2}") == ["8", "12", "[4, 2]", "{a: 1, b: 2}"]
    assert parse_grid_option("train.optimizer=adam,{name: sgd, learning_rate: 0.1}") == (
        "train.optimizer",
        ["adam", {"name": "sgd", "learning_rate": 0.1}],
    )
    with pytest.raises(ConfigError, match="expected KEY=V1,V2"):
        parse_grid_option("train.epochs")


def test_a_grid_is_every_combination_in_file_order(tmp_path: Path) -> None:
    grid = {"model.layers.0.units": [4, 8], "train.batch_size": [16, 32, 64]}
    sweep = load_sweep(_sweep_file(tmp_path, grid=grid, set={"train.epochs": 7}))
    assert [p.values for p in sweep.points][:3] == [
        {"model.layers.0.units": 4, "train.batch_size": b} for b in (16, 32, 64)
    ]
    assert len(sweep.points) == 6
    last = sweep.points[-1].spec
    assert (last.model.layers[0].units, last.train.batch_size, last.train.epochs) == (8, 64, 7)
    assert last.name == "pima-tutorial-p006"


def test_random_search_draws_reproducibly_within_ranges(tmp_path: Path) -> None:
    grid = {
        "train.optimizer": [{"name": "adam", "learning_rate": 0.001}],
        "model.layers.0.units": {"low": 4, "high": 64, "log": True},
        "model.layers.0.activation": ["relu", "tanh"],
    }
    path = _sweep_file(tmp_path, grid=grid, random={"samples": 40, "seed": 3})
    first, again = load_sweep(path), load_sweep(path)
    units = [p.values["model.layers.0.units"] for p in first.points]
    assert units == [p.values["model.layers.0.units"] for p in again.points]
    assert all(isinstance(u, int) and 4 <= u <= 64 for u in units)
    assert sum(u < 16 for u in units) >= 10  # log-uniform: half the draws below the midpoint 16
    assert {p.values["model.layers.0.activation"] for p in first.points} == {"relu", "tanh"}


def test_log_ranges_of_floats(tmp_path: Path) -> None:
    grid = {
        "preprocess.standardize": [True],
        "train.threshold": {"low": 0.01, "high": 0.9, "log": True},
    }
    sweep = load_sweep(_sweep_file(tmp_path, grid=grid, random={"samples": 30}))
    drawn = [p.values["train.threshold"] for p in sweep.points]
    assert all(0.01 <= d <= 0.9 for d in drawn) and len(set(drawn)) == 30


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("sweep-*.yaml")), ids=lambda p: p.name)
def test_shipped_sweep_files_make_valid_points(path: Path) -> None:
    sweep = load_sweep(path)
    assert len(sweep.points) >= 12
    assert len({json.dumps(p.spec.resolved(), sort_keys=True) for p in sweep.points}) == len(
        sweep.points
    )


def test_a_bad_point_is_named_and_nothing_runs(tmp_path: Path, runner) -> None:  # type: ignore[no-untyped-def]
    runs = tmp_path / "runs"
    path = _sweep_file(tmp_path, grid={"model.layers.0.units": [8, 0]})
    result = invoke(runner, "sweep", str(path), "--runs-dir", str(runs))
    assert result.exit_code == 2
    assert "point p002 (model.layers.0.units=0): model.layers.0.units:" in result.output
    assert "nothing was trained" in result.output
    assert not runs.exists()


def test_initializers_share_a_bundle_and_widths_do_not(tmp_path: Path) -> None:
    grid = {
        "model.layers.0.units": [4, 8],
        "model.layers.0.kernel_initializer": ["uniform", "normal"],
    }
    sweep = load_sweep(_sweep_file(tmp_path, grid=grid))
    keys = [bundle_key(p.spec) for p in sweep.points]
    assert keys[0] == keys[1] and keys[2] == keys[3] and keys[0] != keys[2]
    assert [[p.number for p in g] for g in group_points(sweep.points, 1)] == [[1, 2], [3, 4]]
    # More workers than groups: the groups are halved so every worker has one.
    assert [[p.number for p in g] for g in group_points(sweep.points, 4)] == [[1], [2], [3], [4]]


def test_ray_missing_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from densecli.search import import_ray

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r"pip install 'densecli\[ray\]'"):
        import_ray()


# --- real sweeps -------------------------------------------------------------------------


@pytest.mark.data
def test_small_grid_end_to_end(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    grid = ["--grid", "model.layers.0.units=4,12", "--grid", "model.layers.0.init=uniform,normal"]
    done = run_densecli("sweep", PIMA, *grid, *SMALL, "--runs-dir", str(runs), "--workers", "2")
    assert done.returncode == 0, done.stderr
    sweep_dir = _only_sweep(runs)
    results = _results(sweep_dir)
    assert sorted(results) == ["p001", "p002", "p003", "p004"]
    assert {r["status"] for r in results.values()} == {"done"}
    for row in results.values():  # each point is an ordinary run with its own record
        metrics = json.loads((sweep_dir / row["run"] / "metrics.json").read_text())
        assert f"{100 * metrics['accuracy']:.2f}" == row["accuracy %"]
        assert metrics["models"] == 3 and metrics["folds"] == 3
    config = yaml.safe_load((sweep_dir / results["p003"]["run"] / "config.yaml").read_text())
    assert config["model"]["layers"][0]["units"] == 12
    assert config["model"]["layers"][0]["kernel_initializer"] == "uniform"
    assert "best reported 10-fold" in done.stdout and "majority class" in done.stdout
    compared = run_densecli("compare", str(sweep_dir), "--format", "csv")
    assert compared.returncode == 0 and compared.stdout.count(",pima-tutorial-p00") == 4
    # A point trains as its own `densecli cv` would: same folds, seeds and weights.
    alone = run_densecli(
        "cv",
        PIMA,
        *SMALL,
        "--set",
        "model.layers.0.units=12",
        "--set",
        "model.layers.0.init=uniform",
        "--runs-dir",
        str(tmp_path / "alone"),
    )
    assert alone.returncode == 0, alone.stderr
    (cv_run,) = (tmp_path / "alone").iterdir()
    cv_accuracy = json.loads((cv_run / "metrics.json").read_text())["accuracy"]
    assert f"{100 * cv_accuracy:.2f}" == results["p003"]["accuracy %"]
    # Small networks train on one thread each way (TensorFlow's default is 2.7x slower here):
    # the choice is made before the first op, in a cv as in a warm sweep worker.
    for run in (cv_run, *(sweep_dir / row["run"] for row in results.values())):
        environment = json.loads((run / "env.json").read_text())
        assert environment["tensorflow_threads"] == "1/1", run
    # A single cv draws its pictures; a sweep's points leave them to `show --plots`.
    pictures = {"learning_curves.png", "folds.png"}
    assert pictures <= {p.name for p in cv_run.iterdir()}
    point = sweep_dir / results["p003"]["run"]
    assert not list(point.glob("*.png"))
    shown = run_densecli("show", str(point), "--plots")
    assert shown.returncode == 0, shown.stderr
    assert {p.name for p in point.glob("*.png")} == pictures
    assert "learning_curves.png" in shown.stdout


def _wait_for_a_finished_point(runs: Path, process: subprocess.Popen[str]) -> Path:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        for sweep_dir in runs.glob("*-sweep"):
            if any((p / "metrics.json").is_file() for p in sweep_dir.glob("*-cv")):
                return sweep_dir
        time.sleep(0.2)
    raise AssertionError(f"no point finished; sweep exited {process.poll()}")


@pytest.mark.data
def test_resume_after_a_killed_sweep_keeps_finished_points(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    args = ["--grid", "model.layers.0.units=2,3,4", "--set", "train.epochs=400", "--folds", "3"]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "densecli",
            "sweep",
            PIMA,
            *args,
            "--runs-dir",
            str(runs),
            "--workers",
            "1",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        sweep_dir = _wait_for_a_finished_point(runs, process)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the sweep and its workers, as a crash would
        process.wait()
    kept = {p.name: (p / "metrics.json").stat().st_mtime_ns for p in sweep_dir.glob("*-cv")}
    assert 1 <= len(kept) < 3
    wait_until_group_died(process.pid)  # the killed workers too

    resumed = run_densecli("sweep", str(sweep_dir), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(kept)} of 3 points kept" in resumed.stderr
    runs_now = {p.name: p for p in sweep_dir.iterdir() if p.is_dir()}
    assert len(runs_now) == 3, sorted(runs_now)  # no second copy, no half-finished leftovers
    for name, mtime in kept.items():  # finished points were not trained again
        assert (runs_now[name] / "metrics.json").stat().st_mtime_ns == mtime
    assert {r["status"] for r in _results(sweep_dir).values()} == {"done"}
    again = run_densecli("sweep", str(sweep_dir), "--resume")
    assert again.returncode == 0 and "3 of 3 points kept, 0 to train" in again.stderr


@pytest.mark.data
def test_ray_local_sweep_equals_the_local_one(tmp_path: Path) -> None:
    # Ray is in the test extra, so this runs wherever the tests do (CI included).
    grid = ["--grid", "model.layers.0.units=4,8", "--grid", "model.layers.0.init=uniform,normal"]
    common = [*grid, *SMALL, "--workers", "2"]
    local = run_densecli("sweep", PIMA, *common, "--runs-dir", str(tmp_path / "local"))
    on_ray = run_densecli(  # --plots travels with the task: every point draws its pictures
        "sweep", PIMA, *common, "--runs-dir", str(tmp_path / "ray"), "--ray", "local", "--plots"
    )
    assert local.returncode == 0, local.stderr
    assert on_ray.returncode == 0, on_ray.stderr
    by_local = _results(_only_sweep(tmp_path / "local"))
    by_ray = _results(_only_sweep(tmp_path / "ray"))
    columns = ("accuracy %", "std %", "ROC AUC", "logistic regression %", "status")
    for point, row in by_local.items():
        assert [row[c] for c in columns] == [by_ray[point][c] for c in columns], point
    ray_runs = [p for p in _only_sweep(tmp_path / "ray").iterdir() if p.is_dir()]
    assert len(ray_runs) == 4 and all((p / "metrics.json").is_file() for p in ray_runs)
    assert all((p / "learning_curves.png").is_file() for p in ray_runs)


def test_exponent_values_are_numbers_and_names_take_parameters(tmp_path: Path) -> None:
    # PyYAML alone reads 1e-3 as a string; a name like `adam` becomes {name: adam, …}.
    assert parse_grid_option("train.optimizer.learning_rate=1e-3,3E-3") == (
        "train.optimizer.learning_rate",
        [0.001, 0.003],
    )
    sweep = load_sweep(Path(PIMA), grid_options=["train.optimizer.learning_rate=1e-3,3e-3"])
    assert [p.spec.train.optimizer for p in sweep.points] == [
        {"name": "adam", "learning_rate": 0.001},
        {"name": "adam", "learning_rate": 0.003},
    ]


def test_float_ranges_with_whole_bounds_draw_floats(tmp_path: Path) -> None:
    grid = {
        "train.schedule": [{"name": "cosine"}],
        "train.schedule.alpha": {"low": 0.0, "high": 1.0},
    }
    sweep = load_sweep(_sweep_file(tmp_path, grid=grid, random={"samples": 20}))
    drawn = [p.values["train.schedule.alpha"] for p in sweep.points]
    assert len(set(drawn)) == 20 and all(isinstance(d, float) and 0 <= d <= 1 for d in drawn)


def test_a_recorded_sweep_makes_the_same_points(tmp_path: Path) -> None:
    """--resume rebuilds the points from sweep.json (JSON turns integer keys into strings)."""
    from densecli.search._grid import sweep_from_record

    sweep = load_sweep(
        Path(PIMA),
        overrides=["train.class_weight={0: 1, 1: 2}"],
        grid_options=["model.layers.0.units=8,12"],
    )
    again = sweep_from_record(json.loads(json.dumps(sweep.definition())))
    assert [p.spec for p in again.points] == [p.spec for p in sweep.points]
    assert again.points[0].spec.train.class_weight == {0: 1.0, 1: 2.0}


@pytest.mark.data
def test_keras_refuses_a_bad_point_before_anything_runs(tmp_path: Path, runner) -> None:  # type: ignore[no-untyped-def]
    runs = tmp_path / "runs"
    grid = ["--grid", "train.optimizer={name: sgd, momentum: 0.5},{name: sgd, momentum: 2}"]
    result = invoke(runner, "sweep", PIMA, *grid, "--runs-dir", str(runs))
    assert result.exit_code == 2, result.output
    assert (
        "point p002 (train.optimizer={name: sgd, momentum: 2}): train.optimizer: bad parameters"
        in result.output
    )
    assert not runs.exists() or not any(runs.iterdir())  # no sweep folder left behind
    negative = ["--grid", "train.optimizer.learning_rate=1e-3,-3"]
    result = invoke(runner, "sweep", PIMA, *negative, "--runs-dir", str(runs))
    assert result.exit_code == 2, result.output
    assert "train.optimizer.learning_rate: must be a number greater than 0" in result.output
