"""The README's test command in a fresh clone: the tests find the Pima file as the CLI does.

A file:// URL (DENSECLI_PIMA_URL) stands in for the internet. With no way to get the file,
the `data` tests are skipped with one line saying what to set and the others run; with
DENSECLI_REQUIRE_DATA=1 (CI) those skips are failures.
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


def _pytest_in(
    clone: Path, origin: str, tests: str, require_data: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DENSECLI_")}
    env["DENSECLI_PIMA_URL"] = origin
    if require_data:
        env["DENSECLI_REQUIRE_DATA"] = "1"
    selected = ["tests/test_data.py", "-k", tests]
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *selected],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.mark.data
def test_a_fresh_clone_downloads_the_pima_file_for_its_tests(tmp_path: Path) -> None:
    clone = _fresh_clone(tmp_path)
    origin = tmp_path / "mirror" / "pima.csv"
    origin.parent.mkdir()
    shutil.copyfile(PIMA_CSV, origin)
    ran = _pytest_in(clone, origin.as_uri(), "pima_is_found")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 passed" in ran.stdout
    assert (clone / "data" / PIMA_CSV.name).read_bytes() == PIMA_CSV.read_bytes()


def test_without_the_data_only_data_tests_skip_and_ci_fails_them(tmp_path: Path) -> None:
    clone = _fresh_clone(tmp_path)
    nowhere, two = (tmp_path / "nowhere.csv").as_uri(), "pima_is_found or header_is_detected"
    ran = _pytest_in(clone, nowhere, two)
    output = ran.stdout + ran.stderr
    assert ran.returncode == 0, output
    assert "1 passed, 1 skipped" in output
    (skipped,) = [line for line in output.splitlines() if line.startswith("SKIPPED")]
    assert "needs the Pima file: " in skipped
    assert "set DENSECLI_DATA_DIR to the folder that holds pima-indians-diabetes.csv" in skipped
    assert "Traceback" not in output
    required = _pytest_in(clone, nowhere, two, require_data=True)
    output = required.stdout + required.stderr
    assert required.returncode == pytest.ExitCode.TESTS_FAILED, output
    assert "1 passed" in output and "1 error" in output  # refused in its set-up
    assert "DENSECLI_REQUIRE_DATA=1 but this data test was skipped: needs the Pima file" in output
