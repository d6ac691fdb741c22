"""The README's test command in a fresh clone: the tests find the Pima file as the CLI does.

A file:// URL (DENSECLI_PIMA_URL) stands in for the internet; without it, or with no way
to get the file, the run stops at the start with one line saying what to set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PIMA_CSV, ROOT


def _fresh_clone(tmp_path: Path) -> Path:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout of densecli")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    assert not (clone / "data" / PIMA_CSV.name).exists()  # the data file is never committed
    return clone


def _pytest_in(clone: Path, origin: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DENSECLI_")}
    env["DENSECLI_PIMA_URL"] = origin
    one_test = ["tests/test_data.py", "-k", "pima_is_found"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *one_test],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
    )


def test_a_fresh_clone_downloads_the_pima_file_for_its_tests(tmp_path: Path) -> None:
    clone = _fresh_clone(tmp_path)
    origin = tmp_path / "mirror" / "pima.csv"
    origin.parent.mkdir()
    shutil.copyfile(PIMA_CSV, origin)
    ran = _pytest_in(clone, origin.as_uri())
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 passed" in ran.stdout
    assert (clone / "data" / PIMA_CSV.name).read_bytes() == PIMA_CSV.read_bytes()


def test_without_the_data_the_tests_stop_at_the_start_with_one_line(tmp_path: Path) -> None:
    clone = _fresh_clone(tmp_path)
    ran = _pytest_in(clone, (tmp_path / "nowhere.csv").as_uri())
    output = ran.stdout + ran.stderr
    assert ran.returncode == pytest.ExitCode.USAGE_ERROR, output
    assert "the tests need the Pima file and cannot get it" in output
    assert "set DENSECLI_DATA_DIR to the folder that holds pima-indians-diabetes.csv" in output
    assert "collecting" not in output and "Traceback" not in output
