"""What a sweep point costs next to its training, and next to one `densecli cv`, in one run.

    python benchmarks/bench_sweep.py [--epochs 300] [--workers N] [--one-by-one] [--pima-sweep]
        [--checkout OTHER_DENSECLI_FOLDER]   # the same measurements of another checkout

Every number below comes from this one run on this machine (it may be shared: compare the
ratios, not the seconds, across runs). Wall-clock seconds of whole commands, TensorFlow's
start-up included.

- `cv`: one `densecli cv` of configs/pima.yaml at --epochs (10-fold CV): the unit of cost.
- grid A, 12 points: first-layer width {8, 12, 16} × initializer {uniform, normal} × batch
  size {32, 64}. Width and batch size split bundles, the initializer does not: 6 bundles.
- grid B, 12 points: learning rate {0.0003, 0.001, 0.002, 0.005, 0.01, 0.03} × L2 of the
  first layer {0, 0.001} at the base shape: one bundle.
- with --pima-sweep: configs/sweep-pima.yaml (48 points at its own 300 epochs).

For each sweep it prints the wall time, the sum of its points' training seconds (from their
metrics.json), `sweep / cv` and `sweep / training`. With --one-by-one it also runs grid A's
points as 12 separate `densecli cv` commands and checks that every point's accuracy is the
same both ways (the sweep's speedup over what a user would do without it).
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
CWD = ROOT  # --checkout: measure another checkout of densecli (e.g. main) with its own python
PYTHON = sys.executable
GRID_A = {
    "model.layers.0.units": [8, 12, 16],
    "model.layers.0.kernel_initializer": ["uniform", "normal"],
    "train.batch_size": [32, 64],
}
RATES = [0.0003, 0.001, 0.002, 0.005, 0.01, 0.03]
GRID_B = {
    "train.optimizer": [f"{{name: adam, learning_rate: {rate}}}" for rate in RATES],
    "model.layers.0.kernel_regularizer": ["{l2: 0}", "{l2: 0.001}"],
}


def densecli(*args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [PYTHON, "-m", "densecli", *args], cwd=CWD, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"densecli {' '.join(args)} failed:\n{done.stderr}")
    return time.perf_counter() - started


def run_sweep(args: list[str], runs: Path) -> tuple[float, float, dict[str, float], int]:
    """Wall seconds, summed training seconds, accuracy per point, and bundles trained."""
    wall = densecli("sweep", *args, "--runs-dir", str(runs))
    (sweep_dir,) = runs.iterdir()
    with (sweep_dir / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    metrics = [json.loads((sweep_dir / r["run"] / "metrics.json").read_text()) for r in rows]
    training = sum(m["train_seconds"] for m in metrics)
    # Points of one bundle share its training call: equal per-model seconds mark a bundle.
    bundles = len({round(m["train_seconds"] / m["models"], 9) for m in metrics})
    return wall, training, {r["point"]: float(r["accuracy %"]) for r in rows}, bundles


def report(name: str, wall: float, training: float, cv: float, bundles: int) -> None:
    print(
        f"{name}: {wall:.1f} s wall, {training:.1f} s training in {bundles} bundle(s); "
        f"sweep / cv = {wall / cv:.2f}, sweep / training = {wall / training:.2f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--one-by-one", action="store_true")
    parser.add_argument("--pima-sweep", action="store_true")
    parser.add_argument("--checkout", type=Path, default=None, help="another densecli folder")
    parser.add_argument("--python", default=None, help="its interpreter (default: its .venv)")
    args = parser.parse_args()
    if args.checkout is not None:
        global CWD, PYTHON
        CWD = args.checkout.resolve()
        PYTHON = args.python or str(CWD / ".venv" / "bin" / "python")
    epochs = ["--set", f"train.epochs={args.epochs}"]
    workers = [] if args.workers is None else ["--workers", str(args.workers)]
    scratch = Path(tempfile.mkdtemp(prefix="bench-sweep-"))

    cv = densecli("cv", str(CONFIG), *epochs, "--runs-dir", str(scratch / "cv"))
    (cv_run,) = (scratch / "cv").iterdir()
    cv_training = json.loads((cv_run / "metrics.json").read_text())["train_seconds"]
    print(f"one densecli cv (10 folds, {args.epochs} epochs): {cv:.1f} s wall, "
          f"{cv_training:.1f} s training", flush=True)  # fmt: skip

    grid_a = [f"--grid={key}={','.join(map(str, values))}" for key, values in GRID_A.items()]
    wall, training, swept, bundles = run_sweep(
        [str(CONFIG), *grid_a, *epochs, *workers], scratch / "grid-a"
    )
    report("grid A (width × initializer × batch, 12 points)", wall, training, cv, bundles)

    grid_b = [f"--grid={key}={','.join(values)}" for key, values in GRID_B.items()]
    wall_b, training_b, _, bundles_b = run_sweep(
        [str(CONFIG), *grid_b, *epochs, *workers], scratch / "grid-b"
    )
    report("grid B (learning rate × L2, 12 points)", wall_b, training_b, cv, bundles_b)

    if args.pima_sweep:
        pima = ROOT / "configs" / "sweep-pima.yaml"
        wall_p, training_p, _, bundles_p = run_sweep([str(pima), *workers], scratch / "pima")
        report("configs/sweep-pima.yaml (48 points)", wall_p, training_p, cv, bundles_p)

    if args.one_by_one:
        one_by_one, same = 0.0, 0
        for number, values in enumerate(itertools.product(*GRID_A.values()), start=1):
            sets = [f"--set={key}={value}" for key, value in zip(GRID_A, values, strict=True)]
            runs = scratch / f"cv-{number:02d}"
            one_by_one += densecli("cv", str(CONFIG), *epochs, *sets, "--runs-dir", str(runs))
            (run,) = runs.iterdir()
            accuracy = 100 * json.loads((run / "metrics.json").read_text())["accuracy"]
            same += f"{accuracy:.2f}" == f"{swept[f'p{number:03d}']:.2f}"
        print(f"grid A as 12 × densecli cv, one after another: {one_by_one:.1f} s")
        print(f"points with the same accuracy both ways: {same} of 12")
        print(f"sweep speedup over one-by-one: {one_by_one / wall:.1f}x")


if __name__ == "__main__":
    main()
