"""A sweep stopped by SIGTERM or Ctrl-C at any moment ends promptly, and --resume finishes it.

One chain per signal: a small sweep is started, stopped at the first moment, resumed and
stopped at the next, and so on through ten moments from start-up to the last point (a run
that finished before its moment is checked and a new sweep takes the moment); a last
--resume finishes it. Every stop must end within 15 s with the shell's code, leave
results.csv and the resume command, and never retrain, duplicate or lose a point.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import CONFIGS, ROOT

pytestmark = pytest.mark.data

POINTS = 4
# Long enough that every moment below comes before the sweep ends, with warm workers too.
GRID = ["--grid", "model.layers.0.units=2,3,4,5", "--set", "train.epochs=1500", "--folds", "2"]
# (event, seconds after it). start: the process is past start-up (its sweep folder exists),
# then checks the grid with Keras while the workers start and import TensorFlow; training:
# a point has trained an epoch; finished: a point of this run has finished (the next group
# starts); last: every point left is training.
MOMENTS = [
    ("start", 0.0),
    ("start", 1.0),
    ("start", 2.5),
    ("start", 4.0),
    ("training", 0.0),
    ("training", 1.0),
    ("finished", 0.0),
    ("finished", 0.7),
    ("last", 0.0),
    ("last", 1.0),
]
EXIT_SECONDS = 15.0
TRIES = 4  # sweeps that may end before a moment comes, before the moment counts as unreachable
NOISE = ("Traceback", "resource_tracker", "leaked", "tensorflow", "oneDNN", "cuda", "E0000")


@dataclass
class Chain:
    runs: Path
    signum: int
    to_group: bool  # Ctrl-C in a terminal reaches the whole process group
    startup: float = 0.0  # launch → sweep folder, measured on the first fresh sweep
    folder: Path | None = None  # the sweep being stopped and resumed
    kept: dict[str, int] = field(default_factory=dict)  # finished run → metrics.json mtime
    stops: int = 0  # signals that stopped a sweep (not those that came as it ended)
    done: set[Path] = field(default_factory=set)  # sweeps that finished

    def launch(self, log: Path) -> subprocess.Popen[bytes]:
        source = [str(CONFIGS / "pima.yaml"), *GRID] if self.folder is None else [str(self.folder)]
        resume = [] if self.folder is None else ["--resume"]
        options = ["--workers", "2", "--runs-dir", str(self.runs)]
        with log.open("wb") as err:
            return subprocess.Popen(
                [sys.executable, "-m", "densecli", "sweep", *source, *resume, *options],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )

    def started(self, process: subprocess.Popen[bytes], launched: float) -> float | None:
        """When the process was past start-up; None if it ended first."""
        if self.folder is not None:  # a resumed sweep: as long as a new one took
            return launched + self.startup
        before = set(self.runs.glob("*-sweep*"))
        while process.poll() is None:
            new = [p for p in self.runs.glob("*-sweep*") if p not in before]
            if new and (new[0] / "sweep.json").is_file():
                self.folder = new[0]
                self.startup = self.startup or time.monotonic() - launched
                return time.monotonic()
            time.sleep(0.05)
        return None

    def stop_at(self, moment: tuple[str, float], log: Path) -> bool:
        """One stop at `moment`; False if the run finished before it (then checked)."""
        launched = time.monotonic()
        process = self.launch(log)
        try:
            started = self.started(process, launched)
            event, delay = moment
            at = None if started is None else self.wait_for(event, started, process)
            while at is not None and time.monotonic() < at + delay and process.poll() is None:
                time.sleep(0.02)
            if process.poll() is not None:
                assert process.returncode == 0, log.read_text()
                self.check_complete()
                return False
            self.send(process)
            sent = time.monotonic()
            code = process.wait(EXIT_SECONDS)
            took = time.monotonic() - sent
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        text = log.read_text()
        if code == 0:  # it ended of itself as the signal was sent: a complete sweep is right
            self.check_complete()
            return False
        assert code == 128 + self.signum, (moment, code, text)
        assert took < EXIT_SECONDS
        self.check_stopped(text, moment)
        self.stops += 1
        return True

    def wait_for(
        self, event: str, started: float, process: subprocess.Popen[bytes]
    ) -> float | None:
        """When `event` happened in this run; None if the process ended first."""
        assert self.folder is not None
        finished_before = len(self.kept)
        while process.poll() is None:
            finished = _finished(self.folder)
            training = _training(self.folder)
            if (
                event == "start"
                or (event == "training" and training)
                or (event == "finished" and len(finished) > finished_before)
                or (event == "last" and training and len(finished) + len(training) == POINTS)
            ):
                return max(started, time.monotonic()) if event != "start" else started
            time.sleep(0.05)
        return None

    def send(self, process: subprocess.Popen[bytes]) -> None:
        if self.to_group:
            os.killpg(process.pid, self.signum)
        else:
            os.kill(process.pid, self.signum)

    def check_stopped(self, text: str, moment: tuple[str, float]) -> None:
        assert self.folder is not None
        assert (self.folder / "results.csv").is_file(), (moment, text)
        assert f"densecli sweep {self.folder} --resume" in text, (moment, text)
        assert not [word for word in NOISE if word in text], (moment, text)
        self.check_points()

    def check_points(self) -> dict[str, Path]:
        """Finished points are kept untouched; a point never has two finished runs."""
        assert self.folder is not None
        finished = _finished(self.folder)
        for name, mtime in self.kept.items():
            assert (finished[name] / "metrics.json").stat().st_mtime_ns == mtime, name
        self.kept = {n: (p / "metrics.json").stat().st_mtime_ns for n, p in finished.items()}
        points = sorted(_point(p) for p in finished.values())
        assert len(points) == len(set(points)), points
        return finished

    def check_complete(self) -> None:
        """Every point exactly once: one finished run each, no leftovers, all done."""
        assert self.folder is not None
        self.check_points()
        runs = sorted(p.name for p in self.folder.iterdir() if p.is_dir())
        assert len(runs) == POINTS and all(name.endswith("-cv") for name in runs), runs
        with (self.folder / "results.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        assert sorted(r["point"] for r in rows) == [f"p{i:03d}" for i in range(1, POINTS + 1)]
        assert {r["status"] for r in rows} == {"done"}
        self.done.add(self.folder)
        self.folder, self.kept = None, {}


def _finished(folder: Path) -> dict[str, Path]:
    return {p.name: p for p in folder.glob("*-cv") if (p / "metrics.json").is_file()}


def _training(folder: Path) -> set[str]:
    """Points whose scratch run (hidden, named after the point) has an epoch in its history."""
    points = set()
    for scratch in folder.glob(".*-cv.pid*"):
        journal = scratch / "history.csv"
        lines = journal.read_text().count("\n") if journal.is_file() else 0
        if lines >= 2:
            points.add(_point(scratch))
    return points


def _point(run: Path) -> str:
    return next(part for part in run.name.split("-") if part.startswith("p0"))


def _run_chain(chain: Chain, logs: Path) -> None:
    logs.mkdir(parents=True)
    for number, moment in enumerate(MOMENTS):
        tries = 1
        while not chain.stop_at(moment, logs / f"stop-{number}.log"):
            tries += 1  # finished before the moment: a new sweep takes it
            assert tries <= TRIES, f"{moment}: {TRIES} sweeps ended before it; lengthen GRID"
    assert chain.stops == len(MOMENTS)
    if chain.folder is not None:
        log = logs / "resume.log"
        resumed = chain.launch(log)
        assert resumed.wait(300) == 0, log.read_text()
        chain.check_complete()


def test_a_stopped_sweep_ends_promptly_and_resumes(tmp_path: Path) -> None:
    """SIGTERM to the sweep's process, and SIGINT to its process group (Ctrl-C in a
    terminal): the two chains run side by side to keep the test's time down."""
    chains = {
        "sigterm": Chain(tmp_path / "term" / "runs", signal.SIGTERM, to_group=False),
        "sigint": Chain(tmp_path / "int" / "runs", signal.SIGINT, to_group=True),
    }
    with ThreadPoolExecutor(len(chains)) as pool:
        futures = {
            name: pool.submit(_run_chain, chain, chain.runs.parent)
            for name, chain in chains.items()
        }
    for future in futures.values():
        future.result()  # re-raises a chain's failure
