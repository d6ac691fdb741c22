"""Every stop says what happened, from the first instant: SIGTERM (`kill`) to the process and
SIGINT to its process group (Ctrl-C in a terminal) at 0.2, 1, 3 and 6 s after the start of
`train`, `cv` (on the fit engine, whose `model.fit` TensorFlow wraps a stop in errors of its
own) and `tune`: while the command line imports, before, during and after TensorFlow's
import, during the Keras check and during training. Each must exit within 15 s with 143 /
130, print the stop's line and no traceback, and leave no process of its own behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import CONFIGS, ROOT, environment, live_processes

pytestmark = pytest.mark.data

MOMENTS = (0.2, 1.0, 3.0, 6.0)  # seconds after the start
SIGNALS = (signal.SIGTERM, signal.SIGINT)
EXIT_SECONDS = 15.0
GONE_SECONDS = 5.0  # for the kernel to take the last of a stopped command's processes
LONG = "train.epochs=20000"  # far longer than the latest moment


def _tune_file(folder: Path) -> Path:
    search = {
        "base": str(CONFIGS / "pima.yaml"),
        "name": "stops",
        "set": {"train.epochs": 20000, "cv.folds": 2},
        "grid": {"model.layers.0.units": [4, 12], "train.optimizer.learning_rate": [0.01]},
    }
    path = folder / "search.yaml"
    path.write_text(yaml.safe_dump(search))
    return path


def _arguments(command: str, folder: Path) -> list[str]:
    runs = ["--runs-dir", str(folder / "runs")]
    spec = str(CONFIGS / "pima.yaml")
    if command == "train":
        return ["train", spec, "--set", LONG, *runs]
    if command == "cv":
        return ["cv", spec, "--engine", "fit", "--folds", "2", "--set", LONG, *runs]
    return ["tune", str(_tune_file(folder)), "--trials", "4", "--workers", "2", *runs]


@dataclass(frozen=True)
class Stopped:
    signum: int
    moment: float
    code: int | None
    seconds: float
    stderr: str
    left: list[int]  # processes of the command's session still running after it exited

    def problems(self) -> list[str]:
        name = signal.Signals(self.signum).name
        said = [line for line in self.stderr.splitlines() if line.startswith("interrupted (")]
        found = []
        if self.code != 128 + self.signum:
            found.append(f"exit {self.code}, expected {128 + self.signum}")
        if self.seconds > EXIT_SECONDS:
            found.append(f"took {self.seconds:.1f} s to exit")
        if not said or not said[-1].startswith(f"interrupted ({name})"):
            found.append("no line saying it was interrupted")
        if "Traceback" in self.stderr:
            found.append("a traceback")
        if self.left:
            found.append(f"processes {self.left} left behind")
        if found:
            found.append("stderr: " + self.stderr[-2000:])
        return [f"{name} at {self.moment:g} s: {p}" for p in found]


def _stop(command: str, signum: int, moment: float, folder: Path) -> Stopped:
    """Start the command in a session of its own, stop it at `moment`, wait for its end."""
    folder.mkdir(parents=True)
    log = folder / "stderr.log"
    with log.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "densecli", *_arguments(command, folder)],
            cwd=ROOT,
            env=environment(),
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,  # its own process group and session, as in a terminal
        )
    try:
        try:  # the deliberate delay that picks the moment; an early exit ends it at once
            process.wait(moment)
            pytest.fail(f"{command} ended before {moment} s: {log.read_text()[-2000:]}")
        except subprocess.TimeoutExpired:
            pass
        sent = time.monotonic()
        if signum == signal.SIGINT:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
        try:
            code: int | None = process.wait(EXIT_SECONDS + 5)
        except subprocess.TimeoutExpired:
            code = None
        seconds = time.monotonic() - sent
        left = _left_behind(process.pid)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return Stopped(signum, moment, code, seconds, log.read_text(), left)


def _left_behind(session: int) -> list[int]:
    """The session's processes still running a moment after its leader exited."""
    deadline = time.monotonic() + GONE_SECONDS
    while (left := live_processes(session=session)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


@pytest.mark.parametrize("command", ["train", "cv", "tune"])
def test_every_stop_says_what_happened(command: str, tmp_path: Path) -> None:
    cases = [(signum, moment) for signum in SIGNALS for moment in MOMENTS]
    with ThreadPoolExecutor(2) as pool:  # two at a time: the machine has two cores
        stopped = list(
            pool.map(
                lambda case: _stop(
                    command, case[0], case[1], tmp_path / f"{case[0].name}-{case[1]:g}"
                ),
                cases,
            )
        )
    problems = [p for s in stopped for p in s.problems()]
    assert not problems, "\n".join(problems)
