"""How regression runs are shown: RMSE first (lowest best), next to the mean of the training
targets and a standardized ridge regression on the same folds. Reads metrics.json only."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

from rich.console import Console
from rich.table import Table

from densecli.spec import ReferenceName
from densecli.tables import num, render_footer, right_aligned_table, titled_table
from densecli.tasks._base import Score, TaskView
from densecli.tasks._references import same_folds_references, versus_strongest
from densecli.tasks._regression import REGRESSION_REFERENCES, RMSE

MAX_JOB_ROWS = 30
_MEAN_RULE = "mean of training targets"
_SHORT: dict[ReferenceName, str] = {"linear": "ridge regression", "boosting": "gradient boosting"}
_LONG = {
    "linear": "ridge regression, standardized, same folds",
    "boosting": "gradient boosting (scikit-learn), same folds",
}
_R2 = {"linear": "ridge_r2", "boosting": "boosting_r2"}


def _value(value: Any, digits: int = 4) -> str:
    return "" if value is None else f"{float(value):.{digits}g}"


def _signed(value: Any) -> str:
    return "" if value is None else f"{float(value):+.2f}"


class RegressionView(TaskView):
    name = "regression"
    score: Score = RMSE
    history_columns = ("rmse",)
    sort_keys: ClassVar[dict[str, bool]] = {"rmse": False, "mae": False, "r2": True, "loss": False}
    json_keys = ("rmse", "rmse_std", "mae", "r2", "mape", "loss", "ridge_rmse", "mean_rule_rmse")
    prediction_plot = True

    reference_table = REGRESSION_REFERENCES
    result_columns: ClassVar[dict[ReferenceName, tuple[str, str]]] = {
        "linear": ("ridge RMSE", "vs ridge"),
        "boosting": ("boosting RMSE", "vs boosting"),
    }

    def check_record(self, metrics: dict[str, Any]) -> None:
        for key in ("rmse", "rmse_std", "mae"):
            if metrics.get(key) is None and key != "rmse":
                continue
            number = float(metrics[key])
            if not (math.isfinite(number) and number >= 0.0):
                raise ValueError(f"{key} is {number:.6g}, outside its possible range [0, ∞)")
        r2 = metrics.get("r2")
        if r2 is not None and not (math.isfinite(float(r2)) and float(r2) <= 1.0):
            raise ValueError(f"r2 is {float(r2):.6g}, outside its possible range (-∞, 1]")

    def shared_references(self, runs: list[dict[str, Any]]) -> dict[str, float | None]:
        return {}

    def compare_cells(
        self, metrics: dict[str, Any], shared: dict[str, float | None]
    ) -> dict[str, str]:
        std = metrics.get("rmse_std")
        return {
            "RMSE": _value(metrics["rmse"]) + (f" ± {_value(std, 3)}" if std is not None else ""),
            "R²": _value(metrics.get("r2"), 3),
            "MAE": _value(metrics.get("mae")),
            "vs ridge": _signed(metrics.get("network_minus_ridge")),
            **self._strongest_cells(metrics),
        }

    def _strongest_cells(self, metrics: dict[str, Any]) -> dict[str, str]:
        """compare's columns for the strongest reference on the run's own folds (CV runs)."""
        strongest = self.fold_reference(metrics)
        best = versus_strongest(self.reference_table, metrics)
        if strongest is None or best is None:
            return {"best ref": "", "vs best ref": ""}
        return {"best ref": f"{strongest[0]} {_value(strongest[1])}", "vs best ref": _signed(best)}

    def compare_note(self, shared: dict[str, float | None]) -> str:
        return (
            "RMSE and MAE in the target's units, lowest first; vs ridge: the network's RMSE "
            "minus a standardized RidgeCV's on the same folds (CV runs)."
        )

    def result_cells(self, metrics: dict[str, Any]) -> dict[str, str]:
        m = metrics
        return {
            "RMSE": _value(m.get("rmse")),
            "std": _value(m.get("rmse_std")),
            "R²": _value(m.get("r2")),
            "MAE": _value(m.get("mae")),
            **self.reference_result_cells(m),
        }

    def score_text(self, value: Any) -> str:
        return _value(value)

    def difference_text(self, value: Any) -> str:
        return _signed(value)

    def difference_words(self, difference: float) -> str:
        return f"{difference:+.2f} RMSE"

    def sweep_references(self, runs: list[dict[str, Any]]) -> list[tuple[str, float]]:
        references = []
        values = [float(m["mean_rule_rmse"]) for m in runs if m.get("mean_rule_rmse") is not None]
        if values:
            references.append((_MEAN_RULE, sum(values) / len(values)))
        return references + same_folds_references(self.reference_table, runs, _SHORT)

    def ranked_cells(self, metrics: dict[str, Any], references: dict[str, float]) -> dict[str, str]:
        if not metrics:
            return dict.fromkeys(("RMSE", "± std", "R²", "vs best ref"), "")
        return {
            "RMSE": _value(metrics["rmse"]),
            "± std": _value(metrics.get("rmse_std"), 3),
            "R²": _value(metrics.get("r2"), 3),
            "vs best ref": _signed(versus_strongest(self.reference_table, metrics)),
        }

    def reference_lines(self, metrics: dict[str, Any]) -> list[tuple[str, float]]:
        lines = []
        for reference, value in self.fold_references(metrics):
            label = _SHORT.get(reference.name, reference.label)
            lines.append((f"{label} {value:.4g}", value))
        return lines

    def describe_target(self, inputs: dict[str, Any]) -> str:
        return "a numeric target"

    def render_run(self, console: Console, metrics: dict[str, Any], run_dir: Path) -> None:
        cv = metrics.get("mode") == "cv"
        several = cv or metrics.get("seeds", 1) > 1
        if several and len(metrics.get("job_metrics", [])) <= MAX_JOB_ROWS:
            console.print(_jobs_table(_title(metrics), metrics))
        console.print(_metric_table(_title(metrics) + ": mean" if cv else _title(metrics), metrics))
        console.print(_reference_table(metrics))
        self.render_t_test(console, metrics)
        render_footer(console, metrics, run_dir)


def _title(metrics: dict[str, Any]) -> str:
    if metrics.get("mode") != "cv":
        rows = metrics.get("test_rows")
        return f"Regression, {metrics.get('split') or 'classic split'} ({rows} test rows)"
    title = f"Regression, {metrics['folds']}-fold CV"
    return title + (f", {metrics['repeats']} repeats" if metrics.get("repeats", 1) > 1 else "")


def _metric_table(title: str, metrics: dict[str, Any]) -> Table:
    table = titled_table(title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    std = metrics.get("rmse_std")
    table.add_row("RMSE", _value(metrics["rmse"]) + (f" ± {_value(std, 3)}" if std else ""))
    table.add_row("MAE", _value(metrics.get("mae")))
    table.add_row("R²", _value(metrics.get("r2"), 3))
    table.add_row("MAPE", "—" if metrics.get("mape") is None else f"{100 * metrics['mape']:.1f} %")
    table.add_row("loss", num(metrics.get("loss")))
    return table


def _reference_table(metrics: dict[str, Any]) -> Table:
    table = titled_table("Against the references (RMSE, lower is better)")
    table.add_column("reference")
    table.add_column("RMSE", justify="right")
    table.add_column("R²", justify="right")
    table.add_column("this run vs it", justify="right")
    rmse = float(metrics["rmse"])
    rows = [(f"{_MEAN_RULE} (each model's rows)", metrics.get("mean_rmse"), None)]
    rows += [
        (_LONG[reference.name], value, metrics.get(_R2[reference.name]))
        for reference, value in RegressionView().fold_references(metrics)
        if reference.name in _LONG
    ]
    for label, value, r2 in rows:
        if value is not None:
            table.add_row(label, _value(value), _value(r2, 3), _signed(rmse - float(value)))
    return table


def _jobs_table(title: str, metrics: dict[str, Any]) -> Table:
    columns = ("model", "test rows", "RMSE", "MAE", "R²", "mean rule RMSE")
    rows = [
        (
            job["job"],
            str(job["test_rows"]),
            _value(job["rmse"]),
            _value(job["mae"]),
            _value(job.get("r2"), 3),
            _value(job.get("mean_rmse")),
        )
        for job in metrics["job_metrics"]
    ]
    return right_aligned_table(title, columns, rows)
