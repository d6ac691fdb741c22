"""Start-up time of the commands that must not import TensorFlow, against bare Python.

    python benchmarks/bench_startup.py [--repeats 5]

Prints the median wall time of each command and its ratio to `python -c pass` measured in the
same run, plus `python -c "import keras"` for scale (what a command pays if TensorFlow sneaks
into its import path).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def median_seconds(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    empty_runs = tempfile.mkdtemp()
    cli = [sys.executable, "-m", "densecli"]
    commands = {
        "python -c pass (reference)": [sys.executable, "-c", "pass"],
        "densecli --help": [*cli, "--help"],
        "densecli compare (empty runs)": [*cli, "compare", empty_runs],
        "densecli validate (bad spec)": [
            *cli,
            "validate",
            "configs/pima.yaml",
            "--set",
            "train.epochs=0",
        ],
        "python -c 'import keras' (scale)": [sys.executable, "-c", "import keras"],
    }
    reference = None
    for label, command in commands.items():
        seconds = median_seconds(command, repeats)
        reference = reference or seconds
        print(f"{label:36s} {seconds * 1000:7.0f} ms   {seconds / reference:5.1f}x python")


if __name__ == "__main__":
    main()
