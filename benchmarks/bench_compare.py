"""`densecli compare` over 1,000 run folders, against just reading their files.

    DENSECLI_DATA_DIR=../shared/data python benchmarks/bench_compare.py [--runs 1000] [--repeats 5]
    python benchmarks/bench_compare.py --from runs/<a small finished run>

Trains one real one-epoch run (or takes `--from`), copies its metrics.json and config.yaml
into N run folders with varied accuracies, and adds a few that compare must not count:
broken JSON, a missing config.yaml, interrupted and failed runs, hidden scratch folders.
Then prints the median wall time of:

- reading the two files of every folder, nothing else (the reference, in this process);
- `compare.collect_runs` + `collect_unfinished` (parsing, in this process);
- the whole `densecli compare` command in a new process (start-up, tables, CSV/Markdown).

The goal is a whole command under 2 s for 1,000 runs. Not a test: timings vary by machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from densecli.runs import collect_runs, collect_unfinished

ROOT = Path(__file__).resolve().parent.parent


def real_run(scratch: Path) -> Path:
    """One real run, trained for one epoch, to copy."""
    runs = scratch / "seed-run"
    train = ["train", "configs/pima.yaml", "--set", "train.epochs=1", "--runs-dir", str(runs)]
    done = subprocess.run(
        [sys.executable, "-m", "densecli", *train],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"could not train the seed run (set DENSECLI_DATA_DIR?):\n{done.stderr}")
    return next(runs.iterdir())


def fill(runs_dir: Path, source: Path, count: int) -> None:
    metrics = json.loads((source / "metrics.json").read_text())
    config = (source / "config.yaml").read_text()
    for i in range(count):
        folder = runs_dir / f"20260101-{i:06d}-bench-{metrics['mode']}"
        folder.mkdir(parents=True)
        metrics["accuracy"] = (i * 7919 % 1000) / 1000  # a spread, so sorting does work
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
        (folder / "config.yaml").write_text(config)
    for i in range(3):
        (runs_dir / f"20260102-00000{i}-broken-split").mkdir()
        (runs_dir / f"20260102-00000{i}-broken-split" / "metrics.json").write_text("{oops")
        (runs_dir / f"20260102-00000{i}-broken-split" / "config.yaml").write_text(config)
    (runs_dir / "20260103-000000-noconfig-split").mkdir()
    (runs_dir / "20260103-000000-noconfig-split" / "metrics.json").write_text("{}")
    for status in ("interrupted", "failed"):
        folder = runs_dir / f"20260104-000000-stopped-cv.{status}"
        folder.mkdir()
        (folder / "status.json").write_text(json.dumps({"status": status, "reason": "bench"}))
    (runs_dir / ".20260105-000000-writing-cv.pid1.abcd").mkdir()
    (runs_dir / ".20260105-000000-killed-cv.pid999999999.abcd").mkdir()


def read_only(runs_dir: Path) -> None:
    for folder in runs_dir.iterdir():
        if folder.is_dir() and not folder.name.startswith("."):
            for name in ("metrics.json", "config.yaml"):
                path = folder / name
                if path.is_file():
                    path.read_bytes()


def collect(runs_dir: Path) -> None:
    collect_runs(runs_dir)
    collect_unfinished(runs_dir)


def command(runs_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "densecli", "compare", str(runs_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    if done.returncode != 0:
        sys.exit(f"densecli compare failed:\n{done.stderr}")


def median_seconds(work: Callable[[], None], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--from", dest="source", type=Path, help="a finished run to copy")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    try:
        source = args.source or real_run(scratch)
        runs_dir = scratch / "runs"
        fill(runs_dir, source, args.runs)
        rows, warnings = collect_runs(runs_dir)
        unfinished = collect_unfinished(runs_dir)
        print(
            f"{args.runs} runs copied from {source.name}: compare counts {len(rows)}, "
            f"warns about {len(warnings)}, lists {len(unfinished)} apart"
        )
        reference = median_seconds(lambda: read_only(runs_dir), args.repeats)
        timings = {
            "read the files only (reference)": reference,
            "collect_runs + collect_unfinished": median_seconds(
                lambda: collect(runs_dir), args.repeats
            ),
            "densecli compare (new process)": median_seconds(
                lambda: command(runs_dir), args.repeats
            ),
        }
        for label, seconds in timings.items():
            print(f"{label:36s} {seconds * 1000:8.0f} ms   {seconds / reference:6.1f}x reference")
        total = timings["densecli compare (new process)"]
        print(f"goal: densecli compare under 2 s for 1,000 runs: {total:.2f} s")
    finally:
        print(scratch) if os.environ.get("KEEP") else shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
