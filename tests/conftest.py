"""Shared fixtures: the real Pima file (via DENSECLI_DATA_DIR), a real runs folder, the CLI."""

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


def _data_dir() -> Path:
    # Resolve once, so tests that change the working directory still find the file.
    configured = os.environ.get("DENSECLI_DATA_DIR", str(ROOT.parent / "shared" / "data"))
    path = (ROOT / configured).resolve() if not Path(configured).is_absolute() else Path(configured)
    os.environ["DENSECLI_DATA_DIR"] = str(path)
    return path


DATA_DIR = _data_dir()
PIMA_CSV = DATA_DIR / "pima-indians-diabetes.csv"


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
