"""Shared fixtures and helpers: the real Pima file (found as the CLI finds it), a real runs
folder, the CLI in-process and as a subprocess."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


def _absolute(variable: str, default: str | None = None) -> None:
    """Resolve a folder setting once, so tests that change the working directory (and the
    processes they start) still find it."""
    value = os.environ.get(variable, default)
    if value:
        os.environ[variable] = str((ROOT / value).resolve())


def _find_pima() -> Path:
    """The Pima file the way the CLI finds it: $DENSECLI_DATA_DIR, the cache in data/, or
    the checksum-verified download (whose URL $DENSECLI_PIMA_URL may replace)."""
    from densecli.data import DATA_DIR_ENV, locate_pima
    from densecli.errors import DensecliError

    _absolute(DATA_DIR_ENV)
    _absolute("DENSECLI_CACHE_DIR", "data")
    try:
        found = locate_pima()
    except DensecliError as err:
        pytest.exit(
            f"the tests need the Pima file and cannot get it: {err.problems[0]}",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )
    os.environ[DATA_DIR_ENV] = str(found.parent)  # the commands the tests start use it too
    return found


PIMA_CSV = Path("pima-indians-diabetes.csv")  # set at session start, before any test module


def pytest_sessionstart(session: pytest.Session) -> None:
    """Before collection: one line and a stop when the data is out of reach, never an error
    in every test module."""
    global PIMA_CSV
    PIMA_CSV = _find_pima()


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


def run_densecli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """`densecli ARGS` in a fresh process, as a user runs it; its output captured."""
    return subprocess.run(
        _densecli_command(args), cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def start_densecli(*args: str) -> subprocess.Popen[str]:
    """`densecli ARGS` started in a fresh process, its output piped."""
    return subprocess.Popen(
        _densecli_command(args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _live_members(group: int) -> list[int]:
    """The processes of a process group that still run (a zombie never runs again)."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _, pgrp = stat.read_text().rpartition(")")[2].split()[:3]
        except (OSError, ValueError):
            continue  # gone meanwhile
        if state not in ("Z", "X") and int(pgrp) == group:
            live.append(int(stat.parent.name))
    return live


def wait_until_group_died(group: int, seconds: float = 60) -> None:
    """After killing a process group: until every process in it has died, so what comes
    next (a resume) sees their runs abandoned."""
    deadline = time.monotonic() + seconds
    while live := _live_members(group):
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
