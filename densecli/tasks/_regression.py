"""Regression: a continuous target, predicted by one linear output unit.

By default each model trains on its target scaled to mean 0, std 1 on its own training rows
(`preprocess.scale_target`); every score is in the target's own units. A model is scored by
RMSE (which ranks runs, lowest first), MAE, R² and, where no target is 0, MAPE, and read
against the mean of the training targets and a standardized `RidgeCV` on the same rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from densecli.data import Dataset
from densecli.errors import ConfigError, DataError
from densecli.spec import ReferenceName, Spec
from densecli.tasks._base import JobTargets, Score, Task
from densecli.tasks._labels import snake_case
from densecli.tasks._references import (
    BOOSTING_REFERENCE,
    FoldScore,
    Reference,
    boosting_inputs,
    chosen_references,
    fitted_boosting,
    score_on_folds,
)
from densecli.tasks._stats import mean_or_none, median_filled, once_per_fold, t_interval

RMSE = Score("rmse", "RMSE", higher_is_better=False, percent=False, short="rmse")
# The tutorial's regression losses, by Keras' names and short names.
REGRESSION_LOSSES = frozenset(
    {
        "mean_squared_error", "mse", "mean_absolute_error", "mae",
        "mean_absolute_percentage_error", "mape", "mean_squared_logarithmic_error", "msle",
        "huber", "huber_loss", "log_cosh", "logcosh",
    }
)  # fmt: skip
_MEAN_KEYS = ("rmse", "loss", "mae", "r2", "mape", "mean_rmse")


class ScaledTargets(JobTargets):
    """The target scaled to mean 0, std 1 on one model's training rows (or left as it is)."""

    def __init__(self, task: RegressionTask, mean: float, scale: float) -> None:
        super().__init__(task)
        self.values = task.values
        self.mean, self.scale = mean, scale

    def encode(self, rows: np.ndarray) -> np.ndarray:
        scaled = (self.values[rows] - self.mean) / self.scale
        return np.asarray(scaled, dtype=np.float32).reshape(-1, 1)

    def decode(self, outputs: np.ndarray) -> np.ndarray:
        return np.asarray(outputs, dtype=np.float64) * self.scale + self.mean

    def to_json(self) -> dict[str, Any]:
        return {"mean": self.mean, "scale": self.scale}


def check_regression_output(spec: Spec) -> None:
    """One linear unit and a loss that compares numbers, or an error saying what to change."""
    index = len(spec.model.layers) - 1
    output, key = spec.model.layers[-1], f"model.layers.{index}"
    activation = output.activation if isinstance(output.activation, str) else "custom"
    if output.units != 1:
        raise ConfigError(
            f"{key}.units: a regression predicts one value, but the output layer has "
            f"{output.units} units; use units: 1 with activation: linear"
        )
    if snake_case(activation) in {"softmax", "sigmoid"}:
        raise ConfigError(
            f"{key}.activation: {activation} squeezes a regression's prediction into 0..1; "
            "use activation: linear (or set task: classification for class labels)"
        )
    loss = snake_case(spec.train.loss)
    if loss not in REGRESSION_LOSSES:
        raise ConfigError(
            f"train.loss: {spec.train.loss} is not a regression loss; use mean_squared_error, "
            "mean_absolute_error, huber or another of the tutorial's regression losses"
        )


class RegressionTask(Task):
    name = "regression"
    score = RMSE
    history_metric = "rmse"
    # train.metrics is not used for regression: the history records RMSE.
    keras_metrics = frozenset({"accuracy", "acc", "rmse", "mse", "mae"})
    default_metrics = ()  # the history records RMSE without a Keras metric

    def __init__(self, spec: Spec, data: Dataset, reason: str | None = None) -> None:
        try:
            values = np.asarray(data.target, dtype=np.float64)
        except (TypeError, ValueError):
            values = np.array([np.nan])
        if not np.all(np.isfinite(values)):
            raise DataError(
                f"data.target: column {data.target_name!r} of {data.path} holds cells that are "
                "not numbers; a regression needs a number in every row"
            )
        check_regression_output(spec)
        self.values = values
        self.data = data
        self.reason = reason
        self.scale_target = spec.preprocess.scale_target is not False
        self.seed = spec.seed
        self.references, self.references_note = chosen_references(spec, data)

    # --- feeding the network --------------------------------------------------------------

    def encode(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.values[rows], dtype=np.float32).reshape(-1, 1)

    def job_targets(self, fit_rows: np.ndarray) -> JobTargets:
        if not self.scale_target:
            return ScaledTargets(self, 0.0, 1.0)
        train = self.values[fit_rows]
        scale = float(np.std(train)) or 1.0
        return ScaledTargets(self, float(np.mean(train)), scale)

    def stratify(self, rows: np.ndarray) -> np.ndarray | None:
        return None

    def row_weights(self, rows: np.ndarray) -> np.ndarray:
        return np.ones(rows.size, dtype=np.float32)

    def row_scores(self, tf: Any, y_true: Any, y_pred: Any) -> Any:
        """Squared error per row, in the network's units."""
        return tf.cast(
            tf.square(y_pred[..., 0] - tf.cast(y_true[..., 0], y_pred.dtype)), tf.float32
        )

    def epoch_value(self, tf: Any, mean_row_score: Any, scale: Any) -> Any:
        return tf.sqrt(mean_row_score) * scale  # RMSE in the target's units

    def fit_metrics(self, keras: Any) -> list[Any] | None:
        return [keras.metrics.MeanSquaredError(name="mse")]

    def fit_history(
        self, history: dict[str, list[float]], targets: JobTargets
    ) -> dict[str, list[float]]:
        renamed = {}
        for key, values in history.items():
            if key.endswith("mse"):
                key, values = key[:-3] + "rmse", [float(np.sqrt(v)) * targets.scale for v in values]
            renamed[key] = values
        return renamed

    def folds_of_all(self, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
        return self.folds_of(np.arange(self.values.size), folds, seed)

    def folds_of(
        self, rows: np.ndarray, folds: int, seed: int
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        from sklearn.model_selection import KFold

        if folds > rows.size:
            raise DataError(
                f"cv.folds: {folds} folds need at least {folds} rows, but the data has "
                f"{rows.size}; use cv.folds={max(2, min(rows.size, 10))} or fewer"
            )
        splitter = KFold(n_splits=folds, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros((rows.size, 1))))

    def fold_method(self, folds: int) -> str:
        return f"sklearn KFold(n_splits={folds}, shuffle=True, random_state=seed + r)"

    # --- scores ---------------------------------------------------------------------------

    def job_metrics(
        self, train_rows: np.ndarray, eval_rows: np.ndarray, outputs: np.ndarray
    ) -> dict[str, Any]:
        return regression_metrics(self.values[eval_rows], np.asarray(outputs)[:, 0])

    def eval_references(self, train_rows: np.ndarray, eval_rows: np.ndarray) -> dict[str, Any]:
        """Always predicting the training rows' mean, scored on the evaluation rows."""
        guess = float(np.mean(self.values[train_rows]))
        truth = self.values[eval_rows]
        return {"mean_rmse": float(np.sqrt(np.mean((truth - guess) ** 2)))}

    def summarize(self, per_job: list[dict[str, Any]]) -> dict[str, Any]:
        summary: dict[str, Any] = {
            key: mean_or_none([m.get(key) for m in per_job]) for key in _MEAN_KEYS
        }
        _, std, half = t_interval([m["rmse"] for m in per_job])
        summary["rmse_std"] = std
        summary["rmse_interval_95"] = [summary["rmse"] - half, summary["rmse"] + half]
        return summary

    def single_split(self, metrics: dict[str, Any]) -> dict[str, Any]:
        return {}

    def compare_folds(
        self, folds: list[tuple[np.ndarray, np.ndarray]], fold_scores: list[float]
    ) -> dict[str, Any]:
        chosen = [REGRESSION_REFERENCES[name] for name in self.references]
        record = score_on_folds(chosen, self._scorers(), folds, fold_scores, False)
        features, values = self.data.features, self.values
        if "linear" in self.references:
            r2 = [ridge_scores(features, values, train, test)[1] for train, test in folds]
            record["ridge_r2"] = mean_or_none(r2)
        if "boosting" in self.references:
            inputs, native = boosting_inputs(self.data)
            scores = [boosting_scores(inputs, values, *fold, self.seed, native) for fold in folds]
            record["boosting_r2"] = mean_or_none([r2 for _, r2 in scores])
        note = self.references_note
        return record | ({"references_left_out": note} if note else {})

    def _scorers(self) -> dict[ReferenceName, FoldScore]:
        """Each reference's RMSE on one fold (training rows, evaluation rows)."""
        features, values = self.data.features, self.values

        def mean_rule(train: np.ndarray, test: np.ndarray) -> float:
            return float(np.sqrt(np.mean((values[test] - values[train].mean()) ** 2)))

        def boosting(train: np.ndarray, test: np.ndarray) -> float:
            inputs, native = boosting_inputs(self.data)
            return float(boosting_scores(inputs, values, train, test, self.seed, native)[0])

        return {
            "majority": mean_rule,
            "linear": lambda train, test: float(ridge_scores(features, values, train, test)[0]),
            "boosting": boosting,
        }

    def data_references(self) -> dict[str, Any]:
        return {"target_std": float(np.std(self.values))}

    # --- records --------------------------------------------------------------------------

    def prediction_rows(self, eval_rows: np.ndarray, outputs: np.ndarray) -> list[dict[str, Any]]:
        return [
            {"row": int(row), "target": float(self.values[row]), "predicted": float(out[0])}
            for row, out in zip(eval_rows, outputs, strict=True)
        ]

    def describe_target(self) -> dict[str, Any]:
        return {"target_kind": "numeric"}

    def describe_data(self) -> str:
        values = self.values
        return f"a numeric target (mean {values.mean():.4g}, std {values.std():.4g})"


def regression_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """RMSE, MAE, R² and (where no target is 0) MAPE, by scikit-learn, in the target's units."""
    from sklearn.metrics import (
        mean_absolute_error,
        mean_absolute_percentage_error,
        mean_squared_error,
        r2_score,
    )

    return {
        "rmse": float(np.sqrt(mean_squared_error(truth, predicted))),
        "mae": float(mean_absolute_error(truth, predicted)),
        "r2": float(r2_score(truth, predicted)) if truth.size > 1 else None,
        "mape": None
        if np.any(truth == 0)
        else float(mean_absolute_percentage_error(truth, predicted)),
    }


# What the linear reference is, recorded in metrics.json beside its scores.
RIDGE_ALPHAS = np.logspace(-3, 3, 13)
RIDGE_REFERENCE = (
    "median-imputed, standardized RidgeCV over 13 alphas 1e-3..1e3 (leave-one-out by "
    "generalized cross-validation)"
)


# The references on the same folds, as metrics.json records them (the first two as before;
# "majority" is the mean of the training targets).
REGRESSION_REFERENCES: dict[ReferenceName, Reference] = {
    "majority": Reference(
        "majority", "mean of training targets", "mean_rule_rmse", "mean_rule_fold_rmse"
    ),
    "linear": Reference(
        "linear", "ridge regression", "ridge_rmse", "ridge_fold_rmse", "network_minus_ridge",
        "ridge_model", RIDGE_REFERENCE,
    ),
    "boosting": Reference(
        "boosting", "gradient boosting", "boosting_rmse", "boosting_fold_rmse",
        "network_minus_boosting", "boosting_model",
        BOOSTING_REFERENCE.format(estimator="HistGradientBoostingRegressor"),
    ),
}  # fmt: skip


@once_per_fold
def boosting_scores(
    inputs: np.ndarray,
    values: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    seed: int,
    native: tuple[bool, ...],
) -> tuple[float, float | None]:
    """RMSE and R² of HistGradientBoostingRegressor fitted on the training rows."""
    from threadpoolctl import threadpool_limits

    model = fitted_boosting(False, inputs, values, train, seed, native)
    with threadpool_limits(limits=1, user_api="openmp"):
        predicted = model.predict(inputs[test])
    scores = regression_metrics(values[test], predicted)
    return scores["rmse"], scores["r2"]


@once_per_fold
def ridge_scores(
    features: np.ndarray, values: np.ndarray, train: np.ndarray, test: np.ndarray
) -> tuple[float, float | None]:
    """RMSE and R² of a standardized RidgeCV fitted on the training rows."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train, x_test = median_filled(features, train, test)
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=RIDGE_ALPHAS))
    model.fit(x_train, values[train])
    scores = regression_metrics(values[test], model.predict(x_test))
    return scores["rmse"], scores["r2"]


class ValuePredictions:
    """predict's column for a regression: the predicted value, in the target's units."""

    def header(self) -> list[str]:
        return ["predicted"]

    def cells(self, outputs: np.ndarray) -> list[list[str]]:
        return [[repr(float(out[0]))] for out in outputs]
