"""The compiled engine against the per-fold `model.fit` loop, measured in one run.

    python benchmarks/bench_cv.py [--epochs 1500] [--seeds 1] [--skip-rss]
    python benchmarks/bench_cv.py --epochs 300 --compiled-only [--checkout OTHER_DENSECLI]

On the same folds, epochs and batch size of configs/pima.yaml it times (a) `model.fit` per
fold as `densecli --engine fit` runs it (with a per-epoch evaluation of the held-out rows,
as the compiled engine also does), (a') the tutorial's bare loop — `model.fit` alone, no
per-epoch evaluation (with --seeds 1) — and (b) densecli's compiled engine, for a 10-fold
CV and for a single `train`; then prints the times, mean accuracies and ratios. Each side
runs in its own fresh process (`densecli ... --engine fit|compiled`), so TensorFlow's start-up,
thread settings and tracing are charged to the side that needs them and neither warms the
other's caches; the reported seconds are the training time each run recorded in its
metrics.json. The reference `model.fit` runs with TensorFlow's default threads, as a user's
script would. With --seeds S, each fold is trained S times (the equivalence check of the
engine: mean accuracy over S seeds must differ by less than 1 point between the engines).

Last line: `cv speedup: N.Nx`. Also records peak RSS of `densecli cv --repeats 5`.

With --compiled-only it times only the compiled engine (`train` and `cv`, three runs each,
the median of their recorded training seconds): run it here and with --checkout on an
older checkout, alternately, to see whether a change kept the engine's per-epoch rate.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "pima.yaml"
CWD = ROOT  # --checkout: the densecli folder whose code is measured
PYTHON = sys.executable


def run(command: str, engine: str, epochs: int, extra: list[str]) -> tuple[dict, float]:
    """One densecli run in a fresh process; its metrics and wall seconds."""
    runs = Path(tempfile.mkdtemp(prefix="bench-runs-"))
    env = dict(os.environ)
    if engine == "fit":
        env["DENSECLI_INTRA_OP_THREADS"] = "0"  # TensorFlow's default, as in a user's script
    args = [
        PYTHON,
        "-m",
        "densecli",
        command,
        str(CONFIG),
        "--engine",
        engine,
        "--set",
        f"train.epochs={epochs}",
        "--runs-dir",
        str(runs),
        *extra,
    ]
    started = time.perf_counter()
    done = subprocess.run(args, cwd=CWD, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{done.stderr}{done.stdout}")
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return json.loads((run_dir / "metrics.json").read_text()), wall


TUTORIAL_LOOP = """
import json, sys, time
import numpy as np
from densecli.backend import import_keras
from densecli.data import classic_split, dataset_for, stratified_folds
from densecli.engine import build_model, compile_model
from densecli.spec import load_spec
from pathlib import Path

keras = import_keras()
command, epochs = sys.argv[1], int(sys.argv[2])
spec = load_spec(Path("configs/pima.yaml"), [f"train.epochs={epochs}"])
data = dataset_for(None)
if command == "cv":
    folds = stratified_folds(data.target.astype(int), spec.cv.folds, spec.seed)
else:
    folds = [classic_split(data.n_rows, 700)]
seconds, correct = 0.0, []
for train, test in folds:
    keras.utils.set_random_seed(spec.seed)
    model = build_model(spec, data.n_features)
    compile_model(model, spec)
    started = time.perf_counter()
    model.fit(data.features[train], data.target.astype(int)[train], epochs=epochs,
              batch_size=spec.train.batch_size, verbose=0)
    seconds += time.perf_counter() - started
    predicted = model.predict(data.features[test], verbose=0)[:, 0] >= 0.5
    correct.append(np.mean(predicted == data.target.astype(int)[test]))
print(json.dumps({"train_seconds": seconds, "accuracy": float(np.mean(correct)),
                  "models": len(folds)}))
"""


def tutorial_loop(command: str, epochs: int) -> dict:
    """The tutorial's plain loop: model.fit per fold, no per-epoch evaluation, default threads."""
    env = {**os.environ, "DENSECLI_INTRA_OP_THREADS": "0"}
    done = subprocess.run(
        [sys.executable, "-c", TUTORIAL_LOOP, command, str(epochs)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"tutorial loop failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def peak_rss_mb() -> float:
    """Largest peak RSS of any child so far: call it after the first child only."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def compare(label: str, command: str, epochs: int, extra: list[str]) -> float:
    fit, fit_wall = run(command, "fit", epochs, extra)
    fast, fast_wall = run(command, "compiled", epochs, extra)
    ratio = fit["train_seconds"] / fast["train_seconds"]
    print(f"{label}: {fit['models']} models × {epochs} epochs")
    if fit["models"] == fast["models"] and "--seeds" in extra and extra[-1] == "1":
        plain = tutorial_loop(command, epochs)
        print(
            f"  tutorial loop  : {plain['train_seconds']:8.2f} s training (model.fit alone, no "
            f"per-epoch evaluation), mean accuracy {100 * plain['accuracy']:.2f} %, "
            f"{plain['train_seconds'] / fast['train_seconds']:.1f}x the compiled engine"
        )
    strict = ratio
    if fit["models"] == fast["models"] and "--seeds" in extra and extra[-1] == "1":
        strict = plain["train_seconds"] / fast["train_seconds"]  # the bare loop is the fair bar
    print(
        f"  model.fit loop : {fit['train_seconds']:8.2f} s training ({fit_wall:6.1f} s wall), "
        f"mean accuracy {100 * fit['accuracy']:.2f} %"
    )
    print(
        f"  compiled engine: {fast['train_seconds']:8.2f} s training ({fast_wall:6.1f} s wall), "
        f"mean accuracy {100 * fast['accuracy']:.2f} %"
    )
    print(
        f"  difference in mean accuracy: {100 * (fast['accuracy'] - fit['accuracy']):+.2f} "
        f"points; training-time ratio {ratio:.1f}x, wall-time ratio {fit_wall / fast_wall:.1f}x"
    )
    return strict


def compiled_only(epochs: int, runs: int = 3) -> None:
    """The compiled engine's training seconds (median of `runs`) for train and cv."""
    for command in ("train", "cv"):
        measured = [run(command, "compiled", epochs, [])[0] for _ in range(runs)]
        seconds = statistics.median(m["train_seconds"] for m in measured)
        print(
            f"{command} ({measured[0]['models']} models × {epochs} epochs) on {CWD}: "
            f"median {seconds:.2f} s training of {runs} runs, "
            f"{1000 * seconds / epochs:.2f} ms per epoch"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=1500)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--compiled-only", action="store_true")
    parser.add_argument("--checkout", type=Path, default=None, help="another densecli folder")
    parser.add_argument("--python", default=None, help="its interpreter (default: its .venv)")
    options = parser.parse_args()
    if options.checkout is not None:
        global CWD, PYTHON
        CWD = options.checkout.resolve()
        PYTHON = options.python or str(CWD / ".venv" / "bin" / "python")
    if options.compiled_only:
        compiled_only(options.epochs)
        return
    seeds = ["--seeds", str(options.seeds)]
    if not options.skip_rss:  # first, so that the peak RSS of children is this run's
        repeated, _ = run("cv", "compiled", options.epochs, ["--repeats", "5"])
        print(
            f"densecli cv --repeats 5 ({repeated['models']} models, {options.epochs} epochs): "
            f"{repeated['train_seconds']:.2f} s training, peak RSS {peak_rss_mb():.0f} MB"
        )
        single, _ = run("cv", "compiled", options.epochs, [])
        print(
            f"densecli cv ({single['models']} models): {single['train_seconds']:.2f} s; "
            f"repeats-5 / single time ratio "
            f"{repeated['train_seconds'] / single['train_seconds']:.2f}x"
        )
    # The speedup lines use the tutorial's bare loop when it ran (--seeds 1), else densecli's
    # fit engine, which also evaluates the held-out rows every epoch and so is slower.
    train_ratio = compare("train (classic split)", "train", options.epochs, seeds)
    cv_ratio = compare("10-fold CV", "cv", options.epochs, seeds)
    print(f"train speedup: {train_ratio:.1f}x")
    print(f"cv speedup: {cv_ratio:.1f}x")


if __name__ == "__main__":
    main()
