"""Shared fixtures and helpers: the real Pima file (found as the CLI finds it), a real runs
folder, the CLI in-process and as a subprocess.

Tests that need the Pima file or train with TensorFlow carry the `data` marker. Without the
file, those are skipped with one line saying why and everything else runs; with
DENSECLI_REQUIRE_DATA=1 (as CI sets it) a skipped `data` test fails instead, so that a run
that quietly tested less cannot pass.
"""

from __future__ import annotations

import csv
import functools
import io
import os
import struct
import subprocess
import sys
import time
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from densecli.cli import app

if TYPE_CHECKING:
    from densecli.data import Dataset
    from densecli.engine import EngineName, Job, JobResult, Judge
    from densecli.spec import Spec

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
DATA_MARKER = "data"
REQUIRE_DATA_ENV = "DENSECLI_REQUIRE_DATA"


def _absolute(variable: str, default: str | None = None) -> None:
    """Resolve a folder setting once, so tests that change the working directory (and the
    processes they start) still find it."""
    value = os.environ.get(variable, default)
    if value:
        os.environ[variable] = str((ROOT / value).resolve())


def _pima_path() -> Path:
    """Where the CLI finds the Pima file: $DENSECLI_DATA_DIR, else its cache (where a
    download lands)."""
    from densecli.data import DATA_DIR_ENV, PIMA_FILENAME, cache_dir

    data_dir = os.environ.get(DATA_DIR_ENV)
    return (Path(data_dir) if data_dir else cache_dir()) / PIMA_FILENAME


@functools.cache
def pima_problem() -> str | None:
    """None once the Pima file is at PIMA_CSV (checked, or downloaded and verified), else why
    not in one line. Only `data` tests ask, so a run without them never downloads."""
    from densecli.data import DATA_DIR_ENV, locate_pima
    from densecli.errors import DensecliError

    try:
        found = locate_pima()
    except DensecliError as err:
        return err.problems[0]
    assert found.resolve() == PIMA_CSV.resolve(), (found, PIMA_CSV)
    os.environ[DATA_DIR_ENV] = str(found.parent)  # the commands the tests start use it too
    return None


PIMA_CSV = Path("pima-indians-diabetes.csv")  # set at session start, before any test module


def pytest_sessionstart(session: pytest.Session) -> None:
    global PIMA_CSV
    from densecli.data import CACHE_DIR_ENV, DATA_DIR_ENV

    _absolute(DATA_DIR_ENV)
    _absolute(CACHE_DIR_ENV, "data")
    PIMA_CSV = _pima_path()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """A `data` test without the Pima file is skipped, before its fixtures need the file."""
    if item.get_closest_marker(DATA_MARKER) is None:
        return
    problem = pima_problem()
    if problem is not None:
        pytest.skip(f"needs the Pima file: {problem}")


def _data_required() -> bool:
    return os.environ.get(REQUIRE_DATA_ENV) == "1"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """With DENSECLI_REQUIRE_DATA=1, a skipped `data` test fails, whatever skipped it (no
    data file, a missing extra), unless its own `skipif` condition holds on this machine."""
    report = yield
    skipped = report.skipped and not hasattr(report, "wasxfail")
    if (
        skipped
        and _data_required()
        and item.get_closest_marker(DATA_MARKER) is not None
        and not _declared_skip(item)
    ):
        report.outcome = "failed"
        report.longrepr = f"{REQUIRE_DATA_ENV}=1 but this data test was skipped: {_reason(report)}"
    return report


def _reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    """A skip's reason, as the summary line shows it."""
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def _declared_skip(item: pytest.Item) -> bool:
    """A `skipif` whose condition holds: a fact of this machine the test states itself (root
    writes into read-only folders), not something missing from it."""
    conditions = [
        m.args[0] if m.args else m.kwargs.get("condition") for m in item.iter_markers("skipif")
    ]
    return any(condition is True for condition in conditions)


_skipped_modules: list[str] = []


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A whole module skipped (a missing extra) hides its data tests from the rule above."""
    if report.skipped and _data_required():
        _skipped_modules.append(f"{report.nodeid}: {_reason(report)}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _skipped_modules:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for module in _skipped_modules:
        terminalreporter.write_line(
            f"FAILED {REQUIRE_DATA_ENV}=1 but a module was skipped: {module}"
        )


# --- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    return tmp_path / "runs"


def invoke(runner: CliRunner, *args: str) -> Any:
    return runner.invoke(app, list(args))


def only_run(runs_dir: Path, suffix: str = "") -> Path:
    """The one run folder in `runs_dir` (whose name ends with `suffix`)."""
    runs = [p for p in runs_dir.iterdir() if p.is_dir() and p.name.endswith(suffix)]
    assert len(runs) == 1, runs
    return runs[0]


def train_specs(
    specs: list[Spec],
    jobs: list[Job],
    engine: EngineName = "compiled",
    judges: Sequence[Judge | None] | None = None,
    notices: list[str] | None = None,
    data: Dataset | None = None,
) -> list[list[JobResult]]:
    """Each spec's jobs as one part of one training call (on the Pima data unless `data` is
    given), as `densecli cv` and sweeps train them: the results per part. The engine's
    notices go to `notices`; without that list there must be none (no fallback to `fit`)."""
    from densecli.data import dataset_for
    from densecli.engine import Part, Silent, Watch, train_parts
    from densecli.tasks import task_for

    data = dataset_for(None) if data is None else data
    parts: list[Part] = []
    said: list[str] = []
    for spec, judge in zip(specs, judges or [None] * len(specs), strict=True):
        task = task_for(spec, data)
        watch = Watch([job.name for job in jobs], spec.train.epochs, task.history_keys[:4])
        parts.append(Part(spec, task, jobs, watch, judge))
    results = train_parts(parts, data, Silent(), engine, said.append)
    if notices is None:
        assert said == [], said
    else:
        notices.extend(said)
    return results


def _densecli_command(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "densecli", *args]


def environment() -> dict[str, str]:
    # os.environ, not the inherited C environment: importing readline (pytest does) sets
    # COLUMNS=80 there behind os.environ's back, and piped output follows COLUMNS if set.
    return dict(os.environ)


def run_densecli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """`densecli ARGS` in a fresh process, as a user runs it; its output captured."""
    return subprocess.run(
        _densecli_command(args),
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_densecli(*args: str) -> subprocess.Popen[str]:
    """`densecli ARGS` started in a fresh process, its output piped."""
    return subprocess.Popen(
        _densecli_command(args),
        cwd=ROOT,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def live_processes(group: int | None = None, session: int | None = None) -> list[int]:
    """The processes of a process group or session that still run (a zombie never runs
    again)."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            state, pgrp, sid = fields[0], int(fields[2]), int(fields[3])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        if state not in ("Z", "X") and (pgrp == group or sid == session):
            live.append(int(stat.parent.name))
    return live


def wait_until_group_died(group: int, seconds: float = 60) -> None:
    """After killing a process group: until every process in it has died, so what comes
    next (a resume) sees their runs abandoned."""
    deadline = time.monotonic() + seconds
    while live := live_processes(group=group):
        if time.monotonic() > deadline:
            pytest.fail(f"processes {live} of group {group} still run {seconds:.0f} s after kill")
        time.sleep(0.05)


def write_spec(path: Path, base: str = "pima.yaml", **changes: Any) -> Path:
    """A copy of a shipped config with top-level sections updated."""
    spec = yaml.safe_load((CONFIGS / base).read_text())
    for key, value in changes.items():
        if isinstance(value, dict):
            spec.setdefault(key, {}).update(value)
        else:
            spec[key] = value
    path.write_text(yaml.safe_dump(spec))
    return path


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG signature and IHDR chunk; fails on anything else."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def assert_sensible_png(path: Path) -> None:
    width, height = png_size(path)
    assert 500 <= width <= 2500 and 300 <= height <= 2000, (width, height)
    assert path.stat().st_size > 10_000  # a blank canvas compresses to far less


# --- a messy table of one's own (issue 19) ----------------------------------------------

COLOURS = ["red", "green", "blue", "amber"]


def messy_rows(count: int, seed: int) -> list[dict[str, str]]:
    """Rows of a made-up table with what real tables have: an id, free text, empty cells in
    number and text columns, rows without a target; its label and value follow from x1, x2,
    colour and size."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(count):
        x1, x2, size = rng.normal(), rng.normal(), rng.uniform(1, 5)
        colour = COLOURS[int(rng.integers(0, 4))]
        score = x1 - 0.5 * x2 + (0.8 if colour in ("red", "amber") else -0.8) + 0.3 * size
        rows.append(
            {
                "id": str(1000 + i),
                "name": f"item {i} of batch {int(rng.integers(0, 10**6))}",
                "x1": "" if i % 13 == 5 else f"{x1:.6f}",
                "colour": "" if i % 17 == 3 else colour,
                "x2": "NA" if i % 11 == 7 else f"{x2:.6f}",
                "size": f"{size:.4f}",
                "label": "" if i % 29 == 11 else ("yes" if score > 1.2 else "no"),
                "value": f"{10 * score + rng.normal():.5f}",
            }
        )
    return rows


def write_rows(path: Path, rows: list[dict[str, str]], columns: list[str] | None = None) -> Path:
    columns = columns or list(rows[0])
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buffer.getvalue())
    return path


def messy_spec(path: Path, csv_path: Path, task: str, **data_keys: Any) -> Path:
    """A spec for the messy table: imputed, standardized, 4 epochs, 3 folds."""
    regression = task == "regression"
    spec = {
        "name": f"messy-{task}",
        "seed": 5,
        "task": task,
        "data": {"path": str(csv_path), **data_keys},
        "preprocess": {"impute": "median", "standardize": True},
        "model": {
            "layers": [
                {"units": 8, "activation": "relu"},
                {"units": 1, "activation": "linear" if regression else "sigmoid"},
            ]
        },
        "train": {
            "loss": "mean_squared_error" if regression else "binary_crossentropy",
            "epochs": 4,
            "batch_size": 32,
        },
        "cv": {"folds": 3},
    }
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


# --- a tune that prunes ------------------------------------------------------------------

# Pima with few epochs and 2 folds; learning rates down to 5e-5 learn nothing by the first
# checkpoint, so a handful of random trials has pruned ones.
TINY_TUNE: dict[str, Any] = {
    "base": str(CONFIGS / "pima.yaml"),
    "name": "tiny",
    "set": {"train.epochs": 40, "cv.folds": 2, "preprocess.standardize": True},
    "grid": {
        "model.layers.0.units": [4, 12],
        "train.optimizer.learning_rate": {"low": 0.00005, "high": 0.05, "log": True},
    },
}


# How the tests run it: 7 random trials in batches of 2 (2, 2, 2, 1). Batch k + 1 is asked
# while batch k trains, so batches 0 and 1 are the random start and the last two can prune.
TINY_TUNE_ARGS = ("--trials", "7", "--batch", "2", "--sampler", "random")


def tune_file(folder: Path, **changes: Any) -> Path:
    """TINY_TUNE with top-level keys changed, written as FOLDER/search.yaml."""
    path = folder / "search.yaml"
    path.write_text(yaml.safe_dump({**TINY_TUNE, **changes}, sort_keys=False))
    return path
