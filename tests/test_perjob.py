"""Per-job hyperparameters in one compiled bundle, and freezing jobs between chunks."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from densecli.data import dataset_for, stratified_folds
from densecli.engine import Job, JobResult, bundle_key
from densecli.search import group_points, load_sweep
from densecli.spec import Spec, load_spec

from conftest import CONFIGS, ROOT, invoke, train_specs

PIMA = CONFIGS / "pima.yaml"
RATES = (0.0003, 0.003, 0.03)
L2 = ("{l2: 0}", "{l2: 0.001}")


def _spec(*overrides: str) -> Spec:
    return load_spec(PIMA, ["train.epochs=8", *overrides])


def _jobs() -> list[Job]:
    folds = stratified_folds(dataset_for(None).target.astype(int), 3, 7)
    return [Job(f"fold-{i}", train, test, 100 + i) for i, (train, test) in enumerate(folds)]


def _trained_together_as_alone(specs: list[Spec]) -> list[list[JobResult]]:
    """Train the specs as one bundle; each job's outputs equal its spec trained alone."""
    together = train_specs(specs, _jobs())
    for spec, bundled in zip(specs, together, strict=True):
        (alone,) = train_specs([spec], _jobs())
        for a, b in zip(alone, bundled, strict=True):
            assert np.allclose(a.outputs, b.outputs, atol=1e-4)
    return together


def test_optimizer_and_penalty_settings_do_not_split_bundles(tmp_path: Path) -> None:
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(
        f"base: {PIMA}\n"
        "set: {train.optimizer: {name: adam}}\n"
        "grid:\n"
        f"  train.optimizer.learning_rate: {list(RATES)}\n"
        "  train.optimizer.beta_1: [0.8, 0.9]\n"
        "  model.layers.1.kernel_regularizer: [null, {l2: 0.001}, {l1: 0.01}]\n"
        "  model.layers.0.kernel_initializer: [uniform, normal]\n"
    )
    points = load_sweep(sweep_file).points
    assert len(points) == 36 and len({bundle_key(p.spec) for p in points}) == 1
    assert [len(group) for group in group_points(points, 1)] == [36]
    # What changes the program still splits: the optimizer's kind, its momentum (a code
    # path in SGD), the batch size, the network's shape, having dropout at all.
    others = [
        _spec("train.optimizer=rmsprop"),
        _spec("train.optimizer={name: sgd, momentum: 0.9}"),
        _spec("train.batch_size=32"),
        _spec("model.layers.0.units=16"),
        _spec("model.layers.0.dropout=0.1"),
    ]
    keys = {bundle_key(_spec()), *(bundle_key(s) for s in others)}
    assert len(keys) == 6


@pytest.mark.data
def test_a_learning_rate_by_l2_grid_trains_as_one_bundle_like_standalone_cv(
    tmp_path: Path, runner: CliRunner
) -> None:
    runs, epochs = tmp_path / "runs", ["--set", "train.epochs=5", "--folds", "3"]
    one_worker = ["--workers", "1", "--runs-dir", str(runs)]
    grid = [
        "--grid",
        f"train.optimizer={','.join(f'{{name: adam, learning_rate: {r}}}' for r in RATES)}",
        "--grid",
        f"model.layers.0.kernel_regularizer={','.join(L2)}",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "densecli", "sweep", str(PIMA), *grid, *epochs, *one_worker],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    (sweep_dir,) = runs.iterdir()
    with (sweep_dir / "results.csv").open() as handle:
        rows = sorted(csv.DictReader(handle), key=lambda row: row["point"])  # ranked in the file
    assert len(rows) == 6 and {row["status"] for row in rows} == {"done"}
    swept = [json.loads((sweep_dir / r["run"] / "metrics.json").read_text()) for r in rows]
    # One bundle: every point's training time is a share of the same training call.
    assert len({round(m["train_seconds"], 6) for m in swept}) == 1
    number = 0
    for rate in RATES:
        for l2 in L2:
            alone_dir = tmp_path / f"alone-{number}"
            sets = [
                f"--set=train.optimizer={{name: adam, learning_rate: {rate}}}",
                f"--set=model.layers.0.kernel_regularizer={l2}",
            ]
            result = invoke(runner, "cv", str(PIMA), *epochs, *sets, "--runs-dir", str(alone_dir))
            assert result.exit_code == 0, result.output
            (run,) = alone_dir.iterdir()
            alone = json.loads((run / "metrics.json").read_text())
            assert (run / "learning_curves.png").is_file() and (run / "folds.png").is_file()
            point = swept[number]
            assert point["fold_accuracy"] == alone["fold_accuracy"], (rate, l2)
            assert np.isclose(point["loss"], alone["loss"], rtol=1e-4), (rate, l2)
            number += 1


@pytest.mark.data
def test_per_job_adam_settings_train_as_each_job_alone() -> None:
    specs = [
        _spec("train.optimizer={name: adam, learning_rate: 0.01, beta_1: 0.8, epsilon: 1e-5}"),
        _spec(
            "train.optimizer={name: adam, beta_2: 0.99}",
            "model.layers.0.kernel_regularizer={l1: 0.001, l2: 0.01}",
        ),
        _spec("train.optimizer={name: rmsprop, rho: 0.8}"),
        _spec("train.optimizer={name: rmsprop, learning_rate: 0.01}"),
    ]
    together = train_specs(specs[:2], _jobs()) + train_specs(specs[2:], _jobs())
    for spec, bundled in zip(specs, together, strict=True):
        (alone,) = train_specs([spec], _jobs())
        for a, b in zip(alone, bundled, strict=True):
            assert np.allclose(a.outputs, b.outputs, atol=1e-4), spec.train.optimizer
    assert not np.allclose(together[0][0].outputs, together[1][0].outputs, atol=1e-3)


@pytest.mark.data
def test_a_pruned_part_stops_changing_and_the_others_do_not_notice() -> None:
    specs = [
        _spec("train.epochs=12"),
        _spec("train.epochs=12", "train.optimizer={name: adam, learning_rate: 0.01}"),
    ]
    judged: list[int] = []

    def prune_at_once(done: int, logs: np.ndarray) -> bool:
        judged.append(done)
        return True  # the first part's three jobs freeze after the first chunk

    free = train_specs(specs, _jobs())
    pruned = train_specs(specs, _jobs(), judges=[prune_at_once, None])
    assert judged == [5]  # the first chunk is 5 epochs; a pruned part is not judged again
    five = [s.model_copy(update={"train": s.train.model_copy(update={"epochs": 5})}) for s in specs]
    at_freeze = train_specs(five, _jobs())
    flat = [r for part in pruned for r in part]
    flat_free = [r for part in free for r in part]
    flat_five = [r for part in at_freeze for r in part]
    for job in (0, 1, 2):
        # Its weights are those it had when frozen; its scores stop moving.
        now, then = flat[job].model.get_weights(), flat_five[job].model.get_weights()
        assert all(np.array_equal(a, b) for a, b in zip(now, then, strict=True))
        assert len(set(flat[job].history["eval_loss"][5:])) == 1
    for job in (3, 4, 5):  # the other part trains exactly as without freezing
        assert np.array_equal(flat[job].outputs, flat_free[job].outputs)
        assert flat[job].history == flat_free[job].history


@pytest.mark.data
def test_jobs_on_a_shared_model_start_from_the_weights_build_model_gives() -> None:
    from densecli.backend import seed_everything
    from densecli.engine import build_model
    from densecli.engine._compiled import JobModel, build_models

    data = dataset_for(None)
    variants = [
        [],
        ["model.layers.0.init=uniform", "model.layers.1.bias_initializer=random_normal"],
        ["model.layers.1.maxout=2", "model.layers.1.activation=linear"],
        ["model.layers.0.activation={name: leaky_relu, negative_slope: 0.1}"],
        ["model.layers.0.dropout=0.3", "model.layers.1.dropout=0.1"],
        ["model.layers.0.dropout=0.0", "model.layers.1.dropout=0.2", "model.layers.1.maxout=2",
         "model.layers.1.activation=linear"],
    ]  # fmt: skip
    for overrides in variants:
        spec = _spec(*overrides)
        jobs = _jobs()
        models = build_models(spec, data.n_features, [j.seed for j in jobs], steps=1)
        assert all(isinstance(m, JobModel) for m in models)  # one Keras model, not three
        for job, model in zip(jobs, models, strict=True):
            seed_everything(job.seed)
            built = build_model(spec, data.n_features)
            dropouts = sum(1 for layer in spec.model.layers if layer.dropout)
            assert len(built.non_trainable_variables) == dropouts  # each one's seed state
            assert all(
                np.array_equal(a, b)
                for a, b in zip(built.get_weights(), model.get_weights(), strict=True)
            )


@pytest.mark.data
def test_dropout_rates_share_a_bundle_and_train_as_each_job_alone() -> None:
    specs = [_spec(f"model.layers.0.dropout={rate}", "train.epochs=4") for rate in (0.1, 0.4)]
    assert bundle_key(specs[0]) == bundle_key(specs[1])
    together = _trained_together_as_alone(specs)
    assert not np.allclose(together[0][0].outputs, together[1][0].outputs, atol=1e-3)


@pytest.mark.data
def test_cosine_schedules_with_their_own_starting_rates_share_a_bundle() -> None:
    specs = [
        _spec(
            f"train.optimizer={{name: adam, learning_rate: {rate}}}",
            "train.schedule={name: cosine}",
        )
        for rate in (0.001, 0.01)
    ]
    assert bundle_key(specs[0]) == bundle_key(specs[1])
    _trained_together_as_alone(specs)
