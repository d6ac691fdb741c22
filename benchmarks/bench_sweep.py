"""A 12-point sweep against running the same points one `densecli cv` after another.

    python benchmarks/bench_sweep.py [--epochs 300] [--workers N]

The grid is configs/pima.yaml × first-layer width {8, 12, 16} × initializer {uniform,
normal} × batch size {32, 64}: 12 points, each a 10-fold CV at --epochs epochs. (a) runs
`densecli sweep` once (points with equal networks share a compiled bundle, groups run in
--workers processes); (b) runs `densecli cv` for each point in turn, each a new process, as
a user would without sweep. Wall-clock seconds of whole commands (TensorFlow's start-up
included, since that is part of what a sweep saves). It also checks that every point's
accuracy is the same both ways. Last line: `sweep speedup: N.Nx`.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "pima.yaml"
GRID = {
    "model.layers.0.units": [8, 12, 16],
    "model.layers.0.kernel_initializer": ["uniform", "normal"],
    "train.batch_size": [32, 64],
}


def densecli(*args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "densecli", *args], cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"densecli {' '.join(args)} failed:\n{done.stderr}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    epochs = ["--set", f"train.epochs={args.epochs}"]
    scratch = Path(tempfile.mkdtemp(prefix="bench-sweep-"))

    grid = [f"--grid={key}={','.join(map(str, values))}" for key, values in GRID.items()]
    workers = [] if args.workers is None else ["--workers", str(args.workers)]
    sweep_seconds = densecli(
        "sweep", str(CONFIG), *grid, *epochs, *workers, "--runs-dir", str(scratch / "sweep")
    )
    (sweep_dir,) = (scratch / "sweep").iterdir()
    with (sweep_dir / "results.csv").open() as handle:
        swept = {row["point"]: float(row["accuracy %"]) for row in csv.DictReader(handle)}
    print(f"(a) densecli sweep, 12 points × 10 folds: {sweep_seconds:.1f} s", flush=True)

    one_by_one, same = 0.0, 0
    for number, values in enumerate(itertools.product(*GRID.values()), start=1):
        sets = [f"--set={key}={value}" for key, value in zip(GRID, values, strict=True)]
        runs = scratch / f"cv-{number:02d}"
        one_by_one += densecli("cv", str(CONFIG), *epochs, *sets, "--runs-dir", str(runs))
        (run,) = runs.iterdir()
        accuracy = 100 * json.loads((run / "metrics.json").read_text())["accuracy"]
        same += f"{accuracy:.2f}" == f"{swept[f'p{number:03d}']:.2f}"
    print(f"(b) 12 × densecli cv, one after another: {one_by_one:.1f} s")
    print(f"points with the same accuracy both ways: {same} of 12")
    print(f"sweep speedup: {one_by_one / sweep_seconds:.1f}x")


if __name__ == "__main__":
    main()
