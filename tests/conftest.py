"""Shared fixtures: the real Pima file (found as the CLI finds it), a real runs folder, the CLI."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from densecli.cli import app

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
