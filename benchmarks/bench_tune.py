"""Trials per minute of an Optuna search with 10-fold CV: `densecli tune` against the script
users write today.

    python benchmarks/bench_tune.py --reference [--trials 20] [--epochs 200]
    python benchmarks/bench_tune.py --densecli  [--trials 20] [--epochs 200] [--workers 2]
    python benchmarks/bench_tune.py             (both, and the ratio)
    python benchmarks/bench_tune.py --densecli --own-cv 8 --trials 50 --epochs 300
        (the tune against the same trials each run as its own `densecli cv`)

The search space is configs/tune-pima.yaml's: depth 1–3 hidden layers, first-layer width
{4, 8, 12, 16, 32}, activation {relu, tanh}, batch size {16, 32, 64}, Adam's learning rate
log-uniform in [3e-4, 3e-2], L2 on the first layer log-uniform in [1e-5, 1e-1], dropout after
it uniform in [0, 0.5]; features standardized on each fold's training rows; fixed epochs.
The objective is the mean validation accuracy over 10 stratified folds (seed 7).

(b) `--reference` is a plain Optuna script: TPE (seed 7) with a MedianPruner, and an
objective that loops over the folds calling `model.fit` on each, with
`optuna_integration.KerasPruningCallback` on the first fold (per epoch, `val_accuracy`, since
the study maximizes accuracy and the pruner reads reported values in the study's direction:
reporting `val_loss` to a maximizing study would prune the best trials). That is
how users combine k-fold with pruning today (optuna #4373, #4946), because the callback
reports at step = epoch and Optuna ignores a step reported twice, so the later folds could
not report through it. `--report fold` instead reports the running mean accuracy after each
fold (step = fold) and asks the pruner there, the other common pattern.

(a) `--densecli` runs `densecli tune configs/tune-pima.yaml` (TPE seeded 7, median pruner,
10 folds, the confirmation skipped) in a subprocess and reads its results folder; its clock
includes TensorFlow's start-up, (b)'s does not. Both print `trials/min` measured in this
run, and, with both, the ratio. The machine is shared: compare ratios from one run, not
absolute numbers.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _pima import pima_path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "tune-pima.yaml"
SEED = 7
FOLDS = 10
# Hidden layers after the first one, per depth: configs/tune-pima.yaml's three layer stacks.
DEEPER = {1: [], 2: [8], 3: [8, 4]}


@dataclass(frozen=True)
class Outcome:
    label: str
    trials: int
    pruned: int
    seconds: float
    best: float | None  # mean CV accuracy of the best complete trial, 0..1

    @property
    def per_minute(self) -> float:
        return 60 * self.trials / self.seconds

    def describe(self) -> str:
        best = "none complete" if self.best is None else f"{100 * self.best:.2f} %"
        return (
            f"{self.label}: {self.trials} trials ({self.pruned} pruned) in {self.seconds:.1f} s: "
            f"{self.per_minute:.2f} trials/min, best mean CV accuracy {best}"
        )


# --- (b) the reference: what users write today ---------------------------------------------


def suggest(trial: Any) -> dict[str, Any]:
    """The search space of configs/tune-pima.yaml, in Optuna's define-by-run form."""
    return {
        "depth": trial.suggest_int("depth", 1, 3),
        "units": trial.suggest_categorical("units", [4, 8, 12, 16, 32]),
        "activation": trial.suggest_categorical("activation", ["relu", "tanh"]),
        "batch_size": trial.suggest_categorical("batch_size", [16, 32, 64]),
        "learning_rate": trial.suggest_float("learning_rate", 3e-4, 3e-2, log=True),
        "l2": trial.suggest_float("l2", 1e-5, 1e-1, log=True),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
    }


def build(keras: Any, params: dict[str, Any], n_features: int) -> Any:
    layers = [
        keras.Input((n_features,)),
        keras.layers.Dense(
            params["units"],
            activation=params["activation"],
            kernel_regularizer=keras.regularizers.L2(params["l2"]),
        ),
        keras.layers.Dropout(params["dropout"]),
    ]
    layers += [keras.layers.Dense(units, activation="relu") for units in DEEPER[params["depth"]]]
    model = keras.Sequential([*layers, keras.layers.Dense(1, activation="sigmoid")])
    model.compile(
        optimizer=keras.optimizers.Adam(params["learning_rate"]),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


def make_objective(x: np.ndarray, y: np.ndarray, epochs: int, report: str) -> Any:
    import keras
    import optuna
    from optuna_integration import KerasPruningCallback
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    folds = list(StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(x, y))

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial)
        scores = []
        for fold, (train, test) in enumerate(folds):
            scaler = StandardScaler().fit(x[train])
            x_train, x_test = scaler.transform(x[train]), scaler.transform(x[test])
            keras.utils.set_random_seed(SEED + fold)
            model = build(keras, params, x.shape[1])
            callbacks = []
            if report == "epoch" and fold == 0:
                callbacks = [KerasPruningCallback(trial, "val_accuracy")]
            model.fit(
                x_train,
                y[train],
                validation_data=(x_test, y[test]),
                epochs=epochs,
                batch_size=params["batch_size"],
                callbacks=callbacks,
                verbose=0,
            )
            scores.append(float(model.evaluate(x_test, y[test], verbose=0)[1]))
            keras.backend.clear_session()
            if report == "fold":
                trial.report(float(np.mean(scores)), fold)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        return float(np.mean(scores))

    return objective


def run_reference(data: Path, trials: int, epochs: int, report: str) -> Outcome:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    table = np.loadtxt(data, delimiter=",")
    x, y = table[:, :-1].astype("float32"), table[:, -1].astype("float32")
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=SEED),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5),
    )
    objective = make_objective(x, y, epochs, report)  # imports Keras before the clock starts
    started = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    seconds = time.perf_counter() - started
    states = [t.state for t in study.trials]
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = max((t.value for t in complete if t.value is not None), default=None)
    pruned = states.count(optuna.trial.TrialState.PRUNED)
    return Outcome("(b) Optuna + model.fit per fold", len(states), pruned, seconds, best)


# --- (a) densecli tune ---------------------------------------------------------------------


def run_densecli(
    data: Path, trials: int, epochs: int, workers: int, own_cv: int = 0
) -> tuple[Outcome, Outcome | None]:
    """`densecli tune configs/tune-pima.yaml --trials N --set train.epochs=E` in a subprocess:
    the wall clock of the whole command (TensorFlow's start-up included, the confirmation
    skipped: (b) has none), then the tune folder's results.csv. With `own_cv` S, then S of
    its trials (evenly spaced, pruned ones too) each run as its own `densecli cv` of the
    trial's config.yaml: what the same trials cost without the tune."""
    import csv
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-tune-") as scratch:
        command = [
            sys.executable, "-m", "densecli", "tune", str(CONFIG),
            "--trials", str(trials), "--set", f"train.epochs={epochs}",
            "--set", f"cv.folds={FOLDS}", "--set", f"seed={SEED}",
            "--confirm-repeats", "0", "--workers", str(workers),
            "--data", str(data), "--runs-dir", scratch,
        ]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"densecli tune failed:\n{done.stderr}")
        (folder,) = [p for p in Path(scratch).iterdir() if p.name.endswith("-tune")]
        with (folder / "results.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        alone = run_own_cv(folder, data, own_cv) if own_cv else None
    scores = [float(r["accuracy %"]) / 100 for r in rows if r["state"] == "done"]
    pruned = sum(r["state"] == "pruned" for r in rows)
    training = sum(float(r["train s"]) for r in rows if r.get("train s"))
    print(
        f"  the trials' training seconds (engine clock): {training:.1f} s in all, "
        f"{training / workers:.1f} s per worker: the least wall time {workers} worker(s) need",
        flush=True,
    )
    label = f"(a) densecli tune, {workers} worker(s)"
    return Outcome(label, len(rows), pruned, seconds, max(scores, default=None)), alone


def run_own_cv(tune: Path, data: Path, count: int) -> Outcome:
    """`count` of the tune's trials, evenly spaced in trial order, each as `densecli cv` of
    its own config.yaml (all epochs: no pruner outside a tune), timed one after another."""
    import subprocess
    import sys
    import tempfile

    trials = sorted(p for p in tune.iterdir() if (p / "config.yaml").is_file())
    chosen = [trials[round(i * (len(trials) - 1) / max(count - 1, 1))] for i in range(count)]
    chosen = list(dict.fromkeys(chosen))
    seconds, best = 0.0, None
    with tempfile.TemporaryDirectory(prefix="bench-own-cv-") as scratch:
        for trial in chosen:
            command = [
                sys.executable, "-m", "densecli", "cv", str(trial / "config.yaml"),
                "--data", str(data), "--runs-dir", scratch,
            ]  # fmt: skip
            started = time.perf_counter()
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
            took = time.perf_counter() - started
            seconds += took
            if done.returncode != 0:
                raise SystemExit(f"densecli cv {trial.name} failed:\n{done.stderr}")
            print(f"  {trial.name} as its own cv: {took:.1f} s", flush=True)
    return Outcome("(c) the same trials, each its own densecli cv", len(chosen), 0, seconds, best)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reference", action="store_true", help="run (b), the plain Optuna script")
    parser.add_argument("--densecli", action="store_true", help="run (a), densecli tune")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--report", choices=["epoch", "fold"], default="epoch")
    parser.add_argument("--workers", type=int, default=2, help="densecli tune --workers")
    parser.add_argument("--data", default=None, help="the Pima CSV (default: $DENSECLI_DATA_DIR)")
    parser.add_argument(
        "--own-cv",
        type=int,
        default=0,
        metavar="S",
        help="also run S of the tune's trials each as its own densecli cv, and the ratio",
    )
    args = parser.parse_args()
    if not (args.reference or args.densecli):
        args.reference = args.densecli = True
    data = pima_path(args.data)
    outcomes = []
    if args.densecli:
        tuned, alone = run_densecli(data, args.trials, args.epochs, args.workers, args.own_cv)
        outcomes.append(tuned)
        print(tuned.describe(), flush=True)
        if alone is not None:
            print(alone.describe(), flush=True)
            ratio = tuned.per_minute / alone.per_minute
            print(f"tune / trials as their own cv: {ratio:.1f}x trials/min (goal >= 8)")
    if args.reference:
        outcomes.append(run_reference(data, args.trials, args.epochs, args.report))
        print(outcomes[-1].describe(), flush=True)
    if len(outcomes) == 2:
        print(f"tune speedup: {outcomes[0].per_minute / outcomes[1].per_minute:.1f}x trials/min")


if __name__ == "__main__":
    main()
