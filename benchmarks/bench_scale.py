"""What a `densecli cv` costs as the table grows, beside what a user would write instead.

    python benchmarks/bench_scale.py [--sizes 1000x20,10000x20,100000x20,500000x20,50000x200]
        [--epochs 5] [--skip-peers] [--out scale.json] [--plot scale.png]

For each size, a synthetic table (seeded: normal features, a noisy linear boundary, a header
row) is written once, then, in this one run on this machine, on the same 10 stratified folds
(StratifiedKFold(10, shuffle=True, random_state=7)):

- `densecli cv` with a fixed small network (inputs → 32 relu → 1 sigmoid, standardized
  inputs, Adam, --epochs epochs, batch 256), as a user runs it: wall seconds of the whole
  command; TensorFlow's import and the training seconds, as the run records them (env.json
  `tensorflow_import_seconds`, metrics.json `train_seconds`: the engine's fitting alone);
  everything else (wall − import − training); peak resident memory of the process; and the
  memory densecli estimated beforehand (what `validate` prints);
- the `model.fit` loop a user would write: pandas reads the CSV, then per fold a
  StandardScaler, the same Keras network fitted with `model.fit` (same epochs and batch),
  and a StandardScaler + LogisticRegression, as densecli's reference;
- scikit-learn's MLPClassifier((32,), max_iter=epochs, batch_size=256) in a StandardScaler
  pipeline, in `cross_val_score` on the same folds.

Each command runs in its own process; peak memory is that process's maximum resident set
(`wait4`). It prints a table with the ratios the goals are written in, writes the numbers
as JSON, and draws rows against seconds on log-log axes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SEED = 7
FOLDS = 10
DEFAULT_SIZES = "1000x20,10000x20,100000x20,500000x20,50000x200"

FIT_LOOP = """
import os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
path, epochs, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
table = pd.read_csv(path)
x = table.iloc[:, :-1].to_numpy(np.float32)
y = table.iloc[:, -1].to_numpy()
import keras
accuracy, reference = [], []
for train, test in StratifiedKFold(10, shuffle=True, random_state=seed).split(x, y):
    scaler = StandardScaler().fit(x[train])
    model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(scaler.transform(x[train]), y[train], epochs=epochs, batch_size=256, verbose=0)
    accuracy.append(model.evaluate(scaler.transform(x[test]), y[test], verbose=0)[1])
    linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    reference.append(linear.fit(x[train], y[train]).score(x[test], y[test]))
print(f"{np.mean(accuracy)} {np.mean(reference)}")
"""

MLP = """
import sys, warnings
import numpy as np, pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
warnings.simplefilter("ignore", ConvergenceWarning)
path, epochs, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
table = pd.read_csv(path)
x, y = table.iloc[:, :-1].to_numpy(np.float32), table.iloc[:, -1].to_numpy()
mlp = MLPClassifier((32,), max_iter=epochs, batch_size=256, random_state=seed)
folds = StratifiedKFold(10, shuffle=True, random_state=seed)
print(np.mean(cross_val_score(make_pipeline(StandardScaler(), mlp), x, y, cv=folds)))
"""


@dataclass
class Measured:
    rows: int
    columns: int
    wall: float
    peak_mb: float
    tensorflow_import: float | None = None
    training: float | None = None
    estimate_mb: float | None = None
    score: float | None = None
    reference: float | None = None

    @property
    def rest(self) -> float | None:
        if self.tensorflow_import is None or self.training is None:
            return None
        return self.wall - self.tensorflow_import - self.training


def write_table(path: Path, rows: int, columns: int) -> None:
    """A seeded table: normal features, label = noisy linear boundary; written in chunks."""
    rng = np.random.default_rng(SEED)
    weights = rng.normal(size=columns) / np.sqrt(columns)
    with path.open("w") as handle:
        handle.write(",".join([*(f"f{j}" for j in range(columns)), "label"]) + "\n")
        for start in range(0, rows, 50_000):
            x = rng.normal(size=(min(50_000, rows - start), columns))
            y = (x @ weights + 0.5 * rng.normal(size=len(x)) > 0).astype(int)
            np.savetxt(handle, np.column_stack([x, y]), delimiter=",",
                       fmt=["%.6g"] * columns + ["%d"])  # fmt: skip


def run(command: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall seconds, peak resident MB of that process, and its stdout."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    stdout = process.stdout.read() if process.stdout else ""
    stderr = process.stderr.read() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(command)} failed:\n{stderr[-3000:]}")
    return wall, usage.ru_maxrss / 1024, stdout


def spec_file(folder: Path, epochs: int) -> Path:
    spec = folder / "scale.yaml"
    spec.write_text(
        f"name: scale\nseed: {SEED}\npreprocess: {{standardize: true}}\n"
        "model:\n  layers:\n    - {units: 32, activation: relu}\n"
        "    - {units: 1, activation: sigmoid}\n"
        f"train: {{loss: binary_crossentropy, optimizer: adam, epochs: {epochs}, "
        "batch_size: 256}\n"
        f"cv: {{folds: {FOLDS}}}\n"
    )
    return spec


def estimate_mb(spec: Path, table: Path) -> float:
    """What densecli estimates for this cv before training (no TensorFlow)."""
    from densecli.experiment import DEFAULT_PLAN, memory_needed, prepare
    from densecli.spec import load_spec

    experiment = prepare(load_spec(spec, [f"data.path={table}"]))
    return float(memory_needed(experiment, DEFAULT_PLAN, cv=True).with_runtime / 2**20)


def measure_densecli(table: Path, rows: int, columns: int, epochs: int, work: Path) -> Measured:
    spec = spec_file(work, epochs)
    runs = work / "runs"
    command = [PYTHON, "-m", "densecli", "cv", str(spec), "--data", str(table),
               "--runs-dir", str(runs)]  # fmt: skip
    wall, peak, _ = run(command, ROOT)
    (folder,) = [p for p in runs.iterdir() if p.name.endswith("-cv")]
    metrics = json.loads((folder / "metrics.json").read_text())
    env = json.loads((folder / "env.json").read_text())
    return Measured(
        rows, columns, wall, peak,
        tensorflow_import=env.get("tensorflow_import_seconds"),
        training=metrics["train_seconds"],
        estimate_mb=estimate_mb(spec, table),
        score=metrics["accuracy"],
        reference=metrics.get("logistic_regression_accuracy"),
    )  # fmt: skip


def measure_peer(script: str, table: Path, rows: int, columns: int, epochs: int) -> Measured:
    wall, peak, out = run([PYTHON, "-c", script, str(table), str(epochs), str(SEED)], ROOT)
    scores = [float(v) for v in out.split()]
    return Measured(rows, columns, wall, peak, score=scores[0],
                    reference=scores[1] if len(scores) > 1 else None)  # fmt: skip


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def report(results: list[dict[str, Measured]]) -> None:
    print()
    print("| rows × cols | densecli wall | TF import | training | rest | wall / (import + "
          "training) | peak MB | estimate MB | estimate / peak | model.fit loop wall | loop "
          "peak MB | densecli / loop | MLP wall | densecli / MLP |")  # fmt: skip
    print("|" + " --- |" * 14)
    for found in results:
        d, loop, mlp = found["densecli"], found.get("fit_loop"), found.get("mlp")
        base = (d.tensorflow_import or 0) + (d.training or 0)
        cells = [
            f"{d.rows:,} × {d.columns}", _fmt(d.wall), _fmt(d.tensorflow_import),
            _fmt(d.training), _fmt(d.rest), _fmt(d.wall / base if base else None, 2),
            _fmt(d.peak_mb, 0), _fmt(d.estimate_mb, 0),
            _fmt(d.estimate_mb / d.peak_mb if d.estimate_mb else None, 2),
            _fmt(loop.wall if loop else None), _fmt(loop.peak_mb if loop else None, 0),
            _fmt(d.wall / loop.wall if loop else None, 2), _fmt(mlp.wall if mlp else None),
            _fmt(d.wall / mlp.wall if mlp else None, 2),
        ]  # fmt: skip
        print("| " + " | ".join(cells) + " |")
    print()
    for found in results:
        d = found["densecli"]
        scores = [
            f"densecli {_fmt(100 * (d.score or 0), 2)} % (LR {_fmt(100 * (d.reference or 0), 2)} %)"
        ]
        for name in ("fit_loop", "mlp"):
            if name in found:
                scores.append(f"{name} {_fmt(100 * (found[name].score or 0), 2)} %")
        print(f"{d.rows:,} × {d.columns}: accuracy " + ", ".join(scores))


def plot(results: list[dict[str, Measured]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    narrow = [r for r in results if r["densecli"].columns == 20]
    rows = [r["densecli"].rows for r in narrow]
    figure, axes = plt.subplots(figsize=(8, 5.5), dpi=120)
    lines = {
        "densecli cv, wall": [r["densecli"].wall for r in narrow],
        "  of which TensorFlow import": [r["densecli"].tensorflow_import for r in narrow],
        "  of which training": [r["densecli"].training for r in narrow],
        "  of which everything else": [r["densecli"].rest for r in narrow],
    }
    if all("fit_loop" in r for r in narrow):
        lines["model.fit loop + logistic regression, wall"] = [r["fit_loop"].wall for r in narrow]
    if all("mlp" in r for r in narrow):
        lines["scikit-learn MLPClassifier, wall"] = [r["mlp"].wall for r in narrow]
    for (label, values), style in zip(lines.items(), ["-o", "--", "--", "--", "-s", "-^"],
                                      strict=False):  # fmt: skip
        axes.plot(rows, values, style, label=label.strip())
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("rows (20 columns)")
    axes.set_ylabel("seconds")
    axes.set_title(f"10-fold CV of a 32-1 network, {results[0]['densecli'].columns}-column tables")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    print(f"Drawn: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("scale.json"))
    parser.add_argument("--plot", type=Path, default=Path("scale.png"))
    args = parser.parse_args()
    results: list[dict[str, Measured]] = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch:
        for size in args.sizes.split(","):
            rows, columns = (int(v) for v in size.split("x"))
            work = Path(scratch) / size
            work.mkdir()
            table = work / "table.csv"
            write_table(table, rows, columns)
            found = {"densecli": measure_densecli(table, rows, columns, args.epochs, work)}
            if not args.skip_peers:
                found["fit_loop"] = measure_peer(FIT_LOOP, table, rows, columns, args.epochs)
                found["mlp"] = measure_peer(MLP, table, rows, columns, args.epochs)
            results.append(found)
            print(f"{size}: " + ", ".join(f"{k} {v.wall:.1f} s, {v.peak_mb:.0f} MB"
                                          for k, v in found.items()), flush=True)  # fmt: skip
    report(results)
    args.out.write_text(
        json.dumps([{k: asdict(v) for k, v in r.items()} for r in results], indent=2)
    )
    plot(results, args.plot)


if __name__ == "__main__":
    main()
