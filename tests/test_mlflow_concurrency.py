"""Two at once: two `densecli mlflow` on one runs folder and one store (a new store, and one
that exists), and a sweep logging with `--mlflow` while `densecli mlflow` logs the same runs
folder. Each run lands in the store once, whoever logs it, with one model at most; neither
process dies.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from conftest import run_densecli, write_spec

mlflow = pytest.importorskip("mlflow")
pytestmark = pytest.mark.data

FIRST_POINT_WAIT = 600.0  # seconds for a sweep's first point to finish on a busy machine


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two CV runs and a two-point sweep, never logged: each test logs a copy."""
    root = tmp_path_factory.mktemp("concurrency")
    runs = root / "runs"
    spec = write_spec(root / "spec.yaml", train={"epochs": 3}, cv={"folds": 2})
    into = ["--runs-dir", str(runs)]
    for args in (
        ["cv", str(spec), "--set", "seed=1", *into],
        ["cv", str(spec), "--set", "seed=2", *into],
        ["sweep", str(spec), "--grid", "model.layers.0.units=4,6", "--workers", "1", *into],
    ):
        done = run_densecli(*args)
        assert done.returncode == 0, done.stderr
    return {"runs": runs, "spec": spec}


def _copy(trained: dict[str, Path], tmp_path: Path) -> Path:
    return Path(shutil.copytree(trained["runs"], tmp_path / "runs"))


def _at_once(*commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """The commands started together, each in its own process; their outcomes in order."""
    with ThreadPoolExecutor(len(commands)) as pool:
        started = [pool.submit(run_densecli, *args) for args in commands]
        return [future.result() for future in started]


def _logged_count(done: subprocess.CompletedProcess[str]) -> int:
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    summary = done.stderr.strip().splitlines()[-1]
    found = re.match(r"MLflow: logged (\d+) run\(s\), \d+ already there", summary)
    assert found, summary
    return int(found.group(1))


def _assert_each_once(runs: Path, expected: int) -> list[Any]:
    """Every run in the store once, by its key, finished; every model on one run."""
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{runs / 'mlflow.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    found = [r for e in experiments for r in client.search_runs([e])]
    keys = [r.data.tags["densecli.run_key"] for r in found]
    assert len(found) == expected and len(set(keys)) == expected, sorted(keys)
    assert {r.info.status for r in found} == {"FINISHED"}
    carried = [
        r.data.tags["densecli.model_id"] for r in found if "densecli.model_id" in r.data.tags
    ]
    models = [m.model_id for m in client.search_logged_models(experiments)]
    assert sorted(models) == sorted(carried)  # no second model, none without its run
    return found


def test_two_mlflow_on_a_new_store_log_each_run_once(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    runs = _copy(trained, tmp_path)
    first, second = _at_once(["mlflow", str(runs)], ["mlflow", str(runs)])
    assert _logged_count(first) + _logged_count(second) == 5  # 2 cv, the sweep and 2 points
    found = _assert_each_once(runs, 5)
    assert len([r for r in found if "densecli.model_id" in r.data.tags]) == 3


def test_two_mlflow_on_an_existing_store_log_each_run_once(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    runs = _copy(trained, tmp_path)
    one_run = sorted(p for p in runs.iterdir() if p.name.endswith("-cv"))[0]
    assert _logged_count(run_densecli("mlflow", str(one_run))) == 1  # the store now exists
    first, second = _at_once(["mlflow", str(runs)], ["mlflow", str(runs)])
    assert _logged_count(first) + _logged_count(second) == 4
    _assert_each_once(runs, 5)


def _first_point_of_a_new_sweep(runs: Path, known: set[Path], sweep: Future[Any]) -> None:
    """Until a new sweep folder holds a finished point (or the sweep has ended)."""
    deadline = time.monotonic() + FIRST_POINT_WAIT
    while not sweep.done():
        new = [p for p in runs.iterdir() if p.name.endswith("-sweep") and p not in known]
        if new and any((point / "metrics.json").is_file() for point in new[0].iterdir()):
            return
        assert time.monotonic() < deadline, "the sweep finished no point"
        time.sleep(0.1)  # polling for a file, not waiting a guessed time


def test_a_sweep_with_mlflow_while_mlflow_logs_the_same_folder(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    runs = _copy(trained, tmp_path)
    known = set(runs.iterdir())
    grid = ["--grid", "model.layers.0.units=4,6,8", "--workers", "1"]
    with ThreadPoolExecutor(1) as pool:
        sweep = pool.submit(
            run_densecli, "sweep", str(trained["spec"]), *grid, "--mlflow", "--runs-dir", str(runs)
        )
        _first_point_of_a_new_sweep(runs, known, sweep)
        logger = run_densecli("mlflow", str(runs))
        swept = sweep.result()
    assert _logged_count(logger) + _logged_count(swept) == 5 + 4  # the new sweep: 1 + 3
    found = _assert_each_once(runs, 9)
    (new,) = [p for p in runs.iterdir() if p.name.endswith("-sweep") and p not in known]
    parent = next(r for r in found if r.info.run_name == new.name)
    points = [r for r in found if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(points) == 3
    assert parent.info.end_time >= max(p.info.end_time for p in points)
