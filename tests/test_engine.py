"""The compiled engine against Keras itself and against the reference `model.fit` path."""

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold
from typer.testing import CliRunner

from densecli.data import Dataset, classic_split, dataset_for
from densecli.engine import EngineName, Job, JobResult
from densecli.spec import load_spec
from densecli.tasks import ClassificationTask, task_for

from conftest import CONFIGS, invoke, train_specs


def _train(
    config: str, *overrides: str, engine: EngineName = "compiled", seeds: tuple[int, ...] = (7,)
) -> tuple[Dataset, list[JobResult], list[str]]:
    spec = load_spec(CONFIGS / config, list(overrides))
    data = dataset_for(None)
    train_rows, test_rows = classic_split(data.n_rows, 700)
    jobs = [Job(f"s{seed}", train_rows, test_rows, seed) for seed in seeds]
    notices: list[str] = []
    (results,) = train_specs([spec], jobs, engine, notices=notices, data=data)
    return data, results, notices


@pytest.mark.data
def test_trained_keras_models_reproduce_the_engines_outputs() -> None:
    data, results, notices = _train("pima.yaml", "train.epochs=5", seeds=(1, 2))
    assert notices == [] and [r.engine for r in results] == ["compiled", "compiled"]
    for result in results:
        predicted = result.model.predict(data.features[700:], verbose=0)
        assert np.allclose(predicted, result.outputs, atol=1e-5)
        assert len(result.history["loss"]) == 5 and len(result.history["eval_accuracy"]) == 5
    assert not np.allclose(results[0].outputs, results[1].outputs)  # seeds differ


@pytest.mark.data
def test_a_jobs_result_does_not_depend_on_the_rest_of_the_bundle() -> None:
    _, alone, _ = _train("pima.yaml", "train.epochs=5", seeds=(3,))
    _, bundled, _ = _train("pima.yaml", "train.epochs=5", seeds=(3, 4, 5))
    assert np.allclose(alone[0].outputs, bundled[0].outputs, atol=1e-5)


@pytest.mark.data
def test_both_engines_start_from_the_same_weights() -> None:
    _, compiled, _ = _train("pima.yaml", "train.epochs=1", engine="compiled")
    _, fitted, _ = _train("pima.yaml", "train.epochs=1", engine="fit")
    assert fitted[0].engine == "fit"
    # One epoch of eleven steps from identical weights, different shuffles: close, not equal.
    assert np.abs(compiled[0].outputs - fitted[0].outputs).max() < 0.1


@pytest.mark.data
@pytest.mark.parametrize(
    ("config", "overrides"),
    [
        ("pima-softmax.yaml", ["train.loss=sparse_categorical_crossentropy"]),
        ("pima-softmax.yaml", ["train.loss=CategoricalCrossentropy"]),
        (
            "pima.yaml",
            [
                "train.loss=mean_squared_logarithmic_error",
                "train.optimizer={name: sgd, learning_rate: 0.01}",
            ],
        ),
        ("pima-uniform.yaml", ["train.loss=mape", "model.layers.0.use_bias=false"]),
    ],
)
def test_losses_and_layers_run_in_the_compiled_engine(config: str, overrides: list[str]) -> None:
    _, results, notices = _train(config, "train.epochs=2", *overrides)
    assert notices == [] and results[0].engine == "compiled"
    assert np.all(np.isfinite(results[0].history["loss"]))


@pytest.mark.data
def test_what_the_engine_cannot_run_falls_back_with_a_notice() -> None:
    _, results, notices = _train("pima.yaml", "train.epochs=1", "train.metrics=[accuracy, auc]")
    assert results[0].engine == "fit"
    assert len(notices) == 1 and "using --engine fit" in notices[0]


@pytest.mark.data
def test_repeated_cv_with_seeds_trains_every_model(runner: CliRunner, runs_dir: Path) -> None:
    result = invoke(
        runner,
        "cv",
        str(CONFIGS / "pima.yaml"),
        "--set",
        "train.epochs=2",
        "--folds",
        "3",
        "--repeats",
        "2",
        "--seeds",
        "2",
        "--runs-dir",
        str(runs_dir),
    )
    assert result.exit_code == 0, result.output
    (run,) = list(runs_dir.iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["models"] == 12 and len(metrics["repeat_accuracy"]) == 2
    low, high = metrics["accuracy_interval_95"]
    assert low < metrics["accuracy"] < high
    jobs = json.loads((run / "folds.json").read_text())["jobs"]
    assert [j["name"] for j in jobs[:3]] == ["r1-fold-01-s1", "r1-fold-01-s2", "r1-fold-02-s1"]
    assert len({j["seed"] for j in jobs}) == 12
    labels = dataset_for(None).target.astype(int)
    second = StratifiedKFold(3, shuffle=True, random_state=8).split(labels, labels)
    assert [j["test_rows"] for j in jobs[6::2]] == [test.tolist() for _, test in second]


@pytest.mark.data
def test_engine_fit_is_the_reference_path(runner: CliRunner, runs_dir: Path) -> None:
    result = invoke(
        runner,
        "train",
        str(CONFIGS / "pima.yaml"),
        "--set",
        "train.epochs=2",
        "--engine",
        "fit",
        "--runs-dir",
        str(runs_dir),
    )
    assert result.exit_code == 0, result.output
    (run,) = list(runs_dir.iterdir())
    assert json.loads((run / "metrics.json").read_text())["engine"] == "fit"


def test_an_unknown_engine_is_a_user_error(runner: CliRunner) -> None:
    result = invoke(runner, "train", str(CONFIGS / "pima.yaml"), "--engine", "turbo")
    assert result.exit_code == 2
    text = " ".join(result.output.replace("│", " ").split())
    assert "'turbo' is not one of 'compiled', 'fit'" in text


@pytest.mark.data
@pytest.mark.slow
def test_engines_agree_on_mean_cv_accuracy_within_one_point() -> None:
    """Issue 3's statistical equivalence: 10 folds × 5 seeds at 300 epochs (~15 min)."""
    from densecli.experiment import Plan, cv_jobs, prepare

    experiment = prepare(load_spec(CONFIGS / "pima.yaml", ["train.epochs=300"]))
    jobs = cv_jobs(experiment, Plan(seeds=5))
    task = experiment.task
    assert isinstance(task, ClassificationTask)
    means = {}
    engines: tuple[EngineName, ...] = ("compiled", "fit")
    for engine in engines:
        (results,) = train_specs([experiment.spec], jobs, engine, data=experiment.data)
        means[engine] = np.mean(
            [
                np.mean(task.encoding.predict(r.outputs) == task.class_index[r.job.eval_rows])
                for r in results
            ]
        )
    assert abs(means["compiled"] - means["fit"]) < 0.01, means


def test_new_layers_build_the_expected_keras_model() -> None:
    from densecli.engine import build_model

    spec = load_spec(
        CONFIGS / "pima.yaml",
        [
            "model.layers.0.activation={name: leaky_relu, negative_slope: 0.1}",
            "model.layers.0.dropout=0.2",
            "model.layers.1.maxout=2",
            "model.layers.1.activation=linear",
            "model.layers.1.batch_norm=true",
            "model.layers.1.kernel_regularizer={l2: 0.01}",
        ],
    )
    model = build_model(spec, 8)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == [
        "Dense",
        "LeakyReLU",
        "Dropout",
        "Dense",
        "BatchNormalization",
        "Maxout",
        "Dense",
    ]
    assert model.layers[1].negative_slope == pytest.approx(0.1)
    assert model.layers[3].units == 16 and model.output_shape == (None, 1)


@pytest.mark.data
def test_regularized_batch_normed_models_train_in_both_engines() -> None:
    overrides = [
        "train.epochs=3",
        "preprocess.standardize=true",
        "model.layers.0.batch_norm=true",
        "model.layers.0.dropout=0.3",
        "model.layers.1.kernel_regularizer={l2: 0.01}",
        "model.layers.1.maxout=2",
        "model.layers.1.activation=linear",
        "train.class_weight=balanced",
    ]
    for engine in ("compiled", "fit"):
        data, results, notices = _train("pima.yaml", *overrides, engine=engine)
        assert notices == [] and results[0].engine == engine
        x_eval = results[0].preprocessor.transform(data.features[700:])
        predicted = results[0].model.predict(x_eval, verbose=0)
        assert np.allclose(predicted, results[0].outputs, atol=1e-5)


@pytest.mark.data
def test_early_stopping_restores_the_best_epoch() -> None:
    _, results, _ = _train(
        "pima.yaml",
        "train.epochs=60",
        "preprocess.standardize=true",
        "train.optimizer={name: adam, learning_rate: 0.05}",
        "train.early_stopping={patience: 3, validation_fraction: 0.2}",
    )
    history = results[0].history
    best = int(np.argmin(history["val_loss"]))
    assert results[0].epochs_trained == len(history["val_loss"]) == min(best + 1 + 3, 60)


@pytest.mark.data
def test_reduce_on_plateau_falls_back_to_fit() -> None:
    _, results, notices = _train(
        "pima.yaml", "train.epochs=2", "train.schedule={name: reduce_on_plateau}"
    )
    assert results[0].engine == "fit" and "reduce_on_plateau" in notices[0]


@pytest.mark.data
def test_cv_reports_logistic_regression_on_the_same_folds(
    runner: CliRunner, runs_dir: Path
) -> None:
    from densecli.tasks._references import logistic_accuracy

    result = invoke(
        runner,
        "cv",
        str(CONFIGS / "pima.yaml"),
        "--set",
        "train.epochs=2",
        "--folds",
        "3",
        "--repeats",
        "2",
        "--runs-dir",
        str(runs_dir),
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # rich wraps long lines at the console width
    assert "logistic regression, standardized, same folds" in text
    assert "corrected resampled t-test" in text
    (run,) = list(runs_dir.iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    pima = dataset_for(None)
    labels = pima.target.astype(int)
    train, test = next(iter(StratifiedKFold(3, shuffle=True, random_state=7).split(labels, labels)))
    first_fold = logistic_accuracy(pima.features, labels, train, test)
    assert metrics["logistic_regression_fold_accuracy"][0] == first_fold
    assert 0 <= metrics["p_value"] <= 1
    assert (run / "models" / "r1-fold-01.preprocess.json").is_file()


@pytest.mark.data
def test_train_with_several_seeds_reports_their_mean(runner: CliRunner, runs_dir: Path) -> None:
    result = invoke(
        runner,
        "train",
        str(CONFIGS / "pima.yaml"),
        "--set",
        "train.epochs=2",
        "--seeds",
        "3",
        "--runs-dir",
        str(runs_dir),
    )
    assert result.exit_code == 0, result.output
    assert "mean of 3 initialisations" in " ".join(result.output.split())
    (run,) = list(runs_dir.iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    accuracies = [job["accuracy"] for job in metrics["job_metrics"]]
    assert metrics["models"] == 3 and metrics["accuracy"] == pytest.approx(np.mean(accuracies))
    assert len(list((run / "models").glob("split-s*.keras"))) == 3


def _trainer(*overrides: str, seeds: tuple[int, ...] = (1, 2, 3)):  # type: ignore[no-untyped-def]
    from densecli.engine import job_data
    from densecli.engine._compiled import CompiledTrainer, build_models, make_bundle

    spec = load_spec(CONFIGS / "pima.yaml", ["preprocess.standardize=true", *overrides])
    data = dataset_for(None)
    task = task_for(spec, data)
    train_rows, test_rows = classic_split(data.n_rows, 700)
    jobs = [Job(f"s{seed}", train_rows, test_rows, seed) for seed in seeds]
    import tensorflow as tf

    longest = max(len(job.train_rows) for job in jobs)
    steps = -(-longest // spec.train.batch_size)
    models = build_models(spec, data.n_features, list(seeds), steps)

    def prepare(b: int) -> Any:
        return job_data(spec, task, data, jobs[b])

    bundle, _ = make_bundle(tf, jobs, prepare, spec.train.batch_size, longest)
    return CompiledTrainer(spec, task, models, bundle)


PLAIN_VARIANTS = [
    [],
    [
        "model.layers.0.activation={name: leaky_relu, negative_slope: 0.1}",
        "model.layers.1.kernel_regularizer={l1: 0.001, l2: 0.01}",
        "model.layers.1.use_bias=false",
    ],
    ["model.layers.1.maxout=2", "model.layers.1.activation=linear"],
]


@pytest.mark.data
@pytest.mark.parametrize("overrides", PLAIN_VARIANTS)
def test_plain_dense_path_matches_the_vectorized_keras_call(overrides: list[str]) -> None:
    import tensorflow as tf

    trainer = _trainer(*overrides)
    assert trainer.forward_pass.plain
    x, y, _, _ = trainer.epochs.batch(trainer.epochs.order(0, whole=False), 0, whole=False)
    results = []
    for plain in (True, False):
        with tf.GradientTape() as tape:
            if plain:
                outputs, _, penalty = trainer.forward(x, training=True)
            else:
                forward, weights = trainer.forward_pass, trainer.weights()
                outputs, _, penalty = forward.vectorized(weights, trainer.non_trainable, x, True)
                penalty = penalty + forward.penalty(weights)  # per job, outside
            total = tf.reduce_sum(trainer._losses(y, outputs)) + tf.reduce_sum(penalty)
        results.append((outputs, total, tape.gradient(total, trainer.params)))
    for plain, vectorized in zip(*results, strict=True):
        assert np.allclose(plain, vectorized, atol=1e-5)


@pytest.mark.data
def test_plain_dense_path_trains_as_the_vectorized_path() -> None:
    overrides = ["model.layers.1.kernel_regularizer={l2: 0.01}", "train.class_weight=balanced"]
    plain, vectorized = _trainer(*overrides), _trainer(*overrides)
    vectorized.forward_pass.plan = None  # before the first chunk traces the graph
    histories = [t.run_chunk(0, 3) for t in (plain, vectorized)]
    assert np.allclose(histories[0], histories[1], atol=1e-5)
    assert np.allclose(plain.params.numpy(), vectorized.params.numpy(), atol=1e-5)


@pytest.mark.data
@pytest.mark.parametrize(
    "overrides", [["model.layers.0.dropout=0.2"], ["model.layers.0.batch_norm=true"]]
)
def test_layers_with_state_or_randomness_take_the_vectorized_path(overrides: list[str]) -> None:
    assert not _trainer(*overrides).forward_pass.plain
