"""A nested tune against the K separate tunes a user would otherwise run, in one run.

    python benchmarks/bench_nested.py [--trials 40] [--folds 5] [--epochs 300]
        [--inner-folds 10] [--workers N] [--all-rows] [--data PIMA_CSV] [--keep DIR]

(a) `densecli tune configs/tune-pima.yaml --nested K --trials N --confirm-repeats 0`: K outer
studies of N trials and the search on all rows (N trials), in the same batches, so trials
of different studies that build the same network train in one bundle; then the K winners
refitted on their outer training rows.

(b) K sequential `densecli tune configs/tune-pima.yaml --trials N --confirm-repeats 0
--data OUTER_k.csv`, each on one outer fold's training rows written to a temporary CSV
(the same rows, in the same order, as (a)'s outer study k; deleted afterwards). With
`--all-rows`, (b) also runs the tune on all rows, as (a) does (like for like).

Both use the tune file's sampler (TPE, seed 7) and median pruner, `--set train.epochs=E`
and `--set cv.folds=F` (and `--set data.train_rows=100`: Pima's classic split of 700 rows
does not fit an outer training set, and plays no part in a CV). It prints the wall time of
each (whole commands, TensorFlow's start-up included), the ratio (a) / (b) (the goal: at
most 0.6 against the K tunes) and, as a check that (a)'s outer studies are the separate
tunes' searches, each outer fold's best inner score both ways. The machine may be shared:
compare ratios from one run.

With `--keep DIR`, the run folders stay in DIR (which must not exist yet): `nested/`, and
`outer-k/` for (b)'s tune on outer fold k's training rows (outer fold k - 1 of (a)), to
compare trial by trial; the outer training CSVs are deleted all the same (they are the
data's own rows).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from _pima import pima_path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "tune-pima.yaml"


def write_outer_training_sets(data: Path, folds: int, inner: int, into: Path) -> list[Path]:
    """Each outer fold's training rows as a CSV (the data file's own lines, in file order),
    made by the library as `tune --nested` makes them."""
    from densecli.experiment import prepare_file
    from densecli.search._outer import outer_folds

    experiment = prepare_file(ROOT / "configs" / "pima.yaml", [f"cv.folds={inner}"], data)
    lines = data.read_text().splitlines()
    header = [lines[0]] if experiment.data.header else []
    paths = []
    for outer in outer_folds(experiment, folds):
        path = into / f"outer-{outer.fold}.csv"
        rows = [lines[int(experiment.data.lines[row]) - 1] for row in outer.train]
        path.write_text("\n".join([*header, *rows]) + "\n")
        paths.append(path)
    return paths


def tune(args: list[str], runs: Path) -> tuple[float, Path]:
    """One `densecli tune` command: its wall time and its tune folder."""
    command = [sys.executable, "-m", "densecli", "tune", str(CONFIG), *args]
    started = time.perf_counter()
    done = subprocess.run(
        [*command, "--runs-dir", str(runs)], cwd=ROOT, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    (folder,) = [p for p in runs.iterdir() if p.name.endswith("-tune")]
    return seconds, folder


def best_value(folder: Path) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=folder.name, storage=f"sqlite:///{folder / 'study.db'}")
    return float(study.best_value)


@contextlib.contextmanager
def run_root(keep: Path | None) -> Iterator[Path]:
    """Where the runs go: a temporary folder, or `keep` (made here, kept afterwards)."""
    if keep is None:
        with tempfile.TemporaryDirectory(prefix="bench-nested-") as scratch:
            yield Path(scratch)
        return
    keep.mkdir(parents=True)
    yield keep


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=40, help="trials in each study")
    parser.add_argument("--folds", type=int, default=5, help="outer folds K")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--inner-folds", type=int, default=10, help="cv.folds of every trial")
    parser.add_argument("--workers", type=int, default=None, help="densecli tune --workers")
    parser.add_argument("--all-rows", action="store_true", help="(b) also tunes on all rows")
    parser.add_argument("--data", default=None, help="the Pima CSV (default: $DENSECLI_DATA_DIR)")
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep the run folders in this new folder"
    )
    options = parser.parse_args()
    data = pima_path(options.data)
    common = ["--trials", str(options.trials), "--confirm-repeats", "0"]
    common += ["--set", f"train.epochs={options.epochs}"]
    common += ["--set", f"cv.folds={options.inner_folds}"]
    # An outer training set has fewer rows than Pima's classic split trains on (700); the
    # split plays no part in a tune's CV, but it must fit the data.
    common += ["--set", "data.train_rows=100"]
    common += [] if options.workers is None else ["--workers", str(options.workers)]
    print(
        f"nested K = {options.folds}, {options.trials} trials per study, {options.epochs} "
        f"epochs, {options.inner_folds} inner folds, data {data}",
        flush=True,
    )
    with run_root(options.keep) as root, tempfile.TemporaryDirectory() as csvs:
        subsets = write_outer_training_sets(data, options.folds, options.inner_folds, Path(csvs))
        nested_seconds, nested = tune(
            [*common, "--nested", str(options.folds), "--data", str(data)], root / "nested"
        )
        print(f"(a) tune --nested {options.folds}: {nested_seconds:.1f} s", flush=True)
        separate, bests = 0.0, []
        for k, subset in enumerate(subsets, start=1):
            seconds, folder = tune([*common, "--data", str(subset)], root / f"outer-{k}")
            separate += seconds
            bests.append(best_value(folder))
            print(f"(b) tune on outer fold {k}'s training rows: {seconds:.1f} s", flush=True)
        if options.all_rows:
            seconds, _ = tune([*common, "--data", str(data)], root / "all-rows")
            separate += seconds
            print(f"(b) tune on all rows: {seconds:.1f} s", flush=True)
        record = json.loads((nested / "nested.json").read_text())
    what = f"{options.folds} tunes" + (" + the tune on all rows" if options.all_rows else "")
    print(f"(b) {what}, one after another: {separate:.1f} s")
    ratio = nested_seconds / separate
    print(f"ratio (a) / (b): {ratio:.2f} (goal against {options.folds} tunes: ≤ 0.60)")
    print("best inner score per outer fold, (a) nested vs (b) separate tune:")
    for fold, best in zip(record["outer_folds"], bests, strict=True):
        print(f"  outer fold {fold['fold']}: {fold['inner_best']:.6f} vs {best:.6f}")


if __name__ == "__main__":
    main()
