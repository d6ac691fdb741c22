"""How classification runs are shown: run tables, compare's and a sweep's score columns.

Reads metrics.json only (no data, no TensorFlow). Accuracy ranks runs; every table puts it
next to the references the run recorded: the majority class of the whole data set, the best
reported score of a published data set (densecli.data knows them by checksum), the majority
rule on the same rows and the logistic regression on the same folds.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

from rich.console import Console
from rich.table import Table

from densecli.data import KNOWN_DATA
from densecli.spec import ReferenceName
from densecli.tables import num, pct, points, render_footer, right_aligned_table, titled_table
from densecli.tasks._base import Score, TaskView
from densecli.tasks._classification import ACCURACY, CLASSIFICATION_REFERENCES
from densecli.tasks._references import same_folds_references, versus_strongest

MAX_JOB_ROWS = 30
_REPORTED = "best reported 10-fold"
_VERSUS_BEST = "vs best ref (pts)"  # the strongest reference on the same folds
# How tables name each reference on the same folds: in a run's table, and a sweep's rows.
_LONG = {
    "linear": "logistic regression, standardized, same folds",
    "boosting": "gradient boosting (scikit-learn), same folds",
}
_SHORT: dict[ReferenceName, str] = {"linear": "logistic regr.", "boosting": "gradient boosting"}


class ClassificationView(TaskView):
    name = "classification"
    score: Score = ACCURACY
    history_columns = ("accuracy", "acc")
    sort_keys: ClassVar[dict[str, bool]] = {
        "accuracy": True, "roc_auc": True, "f1": True, "precision": True, "recall": True,
        "loss": False,
    }  # fmt: skip
    json_keys = (
        "accuracy", "accuracy_std", "loss", "precision", "recall", "f1", "roc_auc",
        "baseline_accuracy", "reported_best_accuracy",
    )  # fmt: skip

    reference_table = CLASSIFICATION_REFERENCES
    result_columns: ClassVar[dict[ReferenceName, tuple[str, str]]] = {
        "linear": ("logistic regression %", "vs logistic (pts)"),
        "boosting": ("boosting %", "vs boosting (pts)"),
    }

    def check_record(self, metrics: dict[str, Any]) -> None:
        for key in (
            "accuracy",
            "accuracy_std",
            "baseline_accuracy",
            "reported_best_accuracy",
            "roc_auc",
        ):
            if metrics.get(key) is None and key not in ("accuracy", "baseline_accuracy"):
                continue
            number = float(metrics[key])  # KeyError, TypeError, ValueError: unreadable
            if not (math.isfinite(number) and 0.0 <= number <= 1.0):
                raise ValueError(f"{key} is {number:.6g}, outside its possible range [0, 1]")

    def shared_references(self, runs: list[dict[str, Any]]) -> dict[str, float | None]:
        shared: dict[str, float | None] = {}
        for key in ("baseline_accuracy", "reported_best_accuracy"):
            values = {m.get(key) for m in runs}
            shared[key] = values.pop() if len(values) == 1 else None
        return shared

    def compare_cells(
        self, metrics: dict[str, Any], shared: dict[str, float | None]
    ) -> dict[str, str]:
        reported = shared.get("reported_best_accuracy")
        accuracy, std = float(metrics["accuracy"]), metrics.get("accuracy_std")
        versus = f"vs {100 * reported:.1f} %" if reported is not None else "vs best reported"
        spread = f" ± {100 * std:.2f}" if std is not None else ""
        return {
            "accuracy %": f"{100 * accuracy:.2f}{spread}",
            "vs baseline (pts)": _points(accuracy, metrics.get("baseline_accuracy")),
            f"{versus} (pts)": _points(accuracy, metrics.get("reported_best_accuracy")),
            "AUC": "" if metrics.get("roc_auc") is None else f"{metrics['roc_auc']:.3f}",
            **_strongest_cells(self, metrics),
        }

    def compare_note(self, shared: dict[str, float | None]) -> str:
        reported = shared.get("reported_best_accuracy")
        note = "baseline: the data's majority class"
        baseline = shared.get("baseline_accuracy")
        if reported is not None and baseline is not None:
            # The reported best is known only for published data sets (densecli.data).
            return (
                f"{note} ({100 * baseline:.1f} %); "
                f"{100 * reported:.1f} %: best 10-fold accuracy reported for this data set."
            )
        return f"{note} of each run's data."

    def result_cells(self, metrics: dict[str, Any]) -> dict[str, str]:
        m = metrics
        low, high = m.get("accuracy_interval_95") or (None, None)
        return {
            "accuracy %": _pct2(m.get("accuracy")),
            "std %": _pct2(m.get("accuracy_std")),
            "95 % low": _pct2(low),
            "95 % high": _pct2(high),
            "ROC AUC": "" if m.get("roc_auc") is None else f"{m['roc_auc']:.4f}",
            **self.reference_result_cells(m),
        }

    def score_text(self, value: Any) -> str:
        return _pct2(value)

    def difference_words(self, difference: float) -> str:
        return f"{100 * difference:+.2f} points"

    def sweep_references(self, runs: list[dict[str, Any]]) -> list[tuple[str, float]]:
        first = runs[0]
        references = [("majority class", float(first["baseline_accuracy"]))]
        if first.get("reported_best_accuracy") is not None:
            references.append((_REPORTED, float(first["reported_best_accuracy"])))
        return references + same_folds_references(self.reference_table, runs, _SHORT)

    def ranked_cells(self, metrics: dict[str, Any], references: dict[str, float]) -> dict[str, str]:
        reported = references.get(_REPORTED)
        versus = f"vs {100 * reported:.1f} (pts)" if reported is not None else "vs reported (pts)"
        if not metrics:
            return dict.fromkeys(("accuracy %", "± std", versus, _VERSUS_BEST), "")
        m = metrics
        best = versus_strongest(self.reference_table, m)
        return {
            "accuracy %": f"{100 * m['accuracy']:.2f}",
            "± std": f"{100 * (m.get('accuracy_std') or 0):.2f}",
            versus: "" if reported is None else f"{100 * (m['accuracy'] - reported):+.1f}",
            _VERSUS_BEST: "" if best is None else f"{100 * best:+.1f}",
        }

    def reference_lines(self, metrics: dict[str, Any]) -> list[tuple[str, float]]:
        lines = []
        baseline = metrics.get("baseline_accuracy")
        if baseline is not None:
            lines.append((f"majority-class baseline {100 * baseline:.1f} %", float(baseline)))
        reported = metrics.get("reported_best_accuracy")
        if reported is not None:
            lines.append((f"best reported (10-fold) {100 * reported:.1f} %", float(reported)))
        return lines

    def describe_target(self, inputs: dict[str, Any]) -> str:
        return f"{len(inputs.get('classes', []))} classes"

    def render_run(self, console: Console, metrics: dict[str, Any], run_dir: Path) -> None:
        if metrics.get("mode") == "cv":
            _render_cv(console, metrics, run_dir)
        else:
            _render_split(console, metrics, run_dir)


def _data_name(metrics: dict[str, Any]) -> str:
    """The published data set a run trained on, by the checksum it recorded."""
    known = KNOWN_DATA.get(str(metrics.get("data_sha256")))
    return known.name.capitalize() if known is not None else "this data set"


def _points(value: float, reference: float | None) -> str:
    return "" if reference is None else f"{100 * (value - reference):+.1f}"


def _pct2(value: Any) -> str:
    return "" if value is None else f"{100 * float(value):.2f}"


def _metric_table(title: str, metrics: dict[str, Any]) -> Table:
    table = titled_table(title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("accuracy", pct(metrics["accuracy"]))
    table.add_row("loss", num(metrics["loss"]))
    table.add_row("precision", num(metrics["precision"]))
    table.add_row("recall", num(metrics["recall"]))
    table.add_row("F1", num(metrics["f1"]))
    table.add_row("ROC AUC", num(metrics["roc_auc"]))
    return table


def _reference_table(metrics: dict[str, Any], local_label: str, local_rate: float) -> Table:
    accuracy = metrics["accuracy"]
    table = titled_table("Against the references")
    table.add_column("reference")
    table.add_column("accuracy", justify="right")
    table.add_column("this run vs it", justify="right")
    references = [
        ("majority class, whole data set (baseline)", metrics["baseline_accuracy"]),
        (
            f"best reported 10-fold accuracy ({_data_name(metrics)})",
            metrics["reported_best_accuracy"],
        ),
        (local_label, local_rate),
    ]
    view = ClassificationView()
    references += [
        (_LONG[reference.name], value)
        for reference, value in view.fold_references(metrics)
        if reference.name != "majority"  # the local majority row above is this rule
    ]
    for label, value in references:
        if value is not None:
            table.add_row(label, pct(value), points(accuracy, value))
    return table


def _confusion_table(matrix: list[list[int]], classes: list[Any] | None = None) -> Table:
    """Rows: true class, columns: predicted class, named as the run recorded them."""
    names = [str(c) for c in classes] if classes else [str(k) for k in range(len(matrix))]
    table = titled_table("Confusion matrix")
    table.add_column("")
    for name in names:
        table.add_column(f"pred {name}", justify="right")
    for name, row in zip(names, matrix, strict=True):
        table.add_row(f"true {name}", *map(str, row))
    return table


def _render_split(console: Console, metrics: dict[str, Any], run_dir: Path) -> None:
    rows, train = metrics["test_rows"], metrics["train_rows"]
    title = f"Test rows {train + 1}–{train + rows} ({rows} rows)"
    if metrics.get("split"):  # given rows, not the classic split's last ones (nested CV)
        title = f"Test rows of {metrics['split']} ({rows} rows)"
    if metrics["seeds"] > 1:
        title += f", mean of {metrics['seeds']} initialisations"
        console.print(_jobs_table("Each initialisation", metrics))
    console.print(_metric_table(title, metrics))
    share = metrics.get("test_majority_share", metrics["majority_accuracy"])
    console.print(_reference_table(metrics, f"commonest class among these {rows} test rows", share))
    if metrics.get("test_classes") == 1:
        console.print(
            f"Warning: all {rows} test rows hold one class (a file sorted by class?); accuracy "
            "on them says little about the others. `densecli cv` uses stratified folds.",
            highlight=False,
        )
    console.print(_confusion_table(metrics["confusion_matrix"], metrics.get("classes")))
    low, high = metrics["accuracy_interval_95"]
    console.print(
        f"Note: {rows} test rows are a small sample: one row moves accuracy by "
        f"{100 / rows:.1f} points, and the 95 % interval is {pct(low)} – {pct(high)}. "
        "`densecli cv` gives a steadier estimate."
    )
    render_footer(console, metrics, run_dir)


def _jobs_table(title: str, metrics: dict[str, Any]) -> Table:
    columns = ("model", "test rows", "accuracy", "loss", "F1", "ROC AUC", "majority class")
    rows = [
        (
            job["job"],
            str(job["test_rows"]),
            pct(job["accuracy"]),
            num(job["loss"]),
            num(job["f1"]),
            num(job["roc_auc"]),
            pct(job["majority_accuracy"]),
        )
        for job in metrics["job_metrics"]
    ]
    table = right_aligned_table(title, columns, rows)
    table.add_section()
    table.add_row(
        "mean",
        "",
        f"{pct(metrics['accuracy'])} ± {100 * metrics['accuracy_std']:.1f}",
        num(metrics["loss"]),
        num(metrics["f1"]),
        num(metrics["roc_auc"]),
        pct(metrics["majority_accuracy"]),
        style="bold",
    )
    return table


def _render_cv(console: Console, metrics: dict[str, Any], run_dir: Path) -> None:
    k, repeats, seeds = metrics["folds"], metrics["repeats"], metrics["seeds"]
    title = f"{k}-fold stratified CV"
    title += f", {repeats} repeats" if repeats > 1 else ""
    title += f", {seeds} initialisations per fold" if seeds > 1 else ""
    if len(metrics["job_metrics"]) <= MAX_JOB_ROWS:
        console.print(_jobs_table(title, metrics))
    else:
        console.print(_metric_table(f"{title}: mean of {metrics['models']} models", metrics))
    if repeats > 1:
        means = ", ".join(pct(a) for a in metrics["repeat_accuracy"])
        console.print(f"Mean accuracy of each repeat: {means}", highlight=False)
    console.print(
        _reference_table(
            metrics, "majority class on the test folds (mean)", metrics["majority_accuracy"]
        )
    )
    low, high = metrics["accuracy_interval_95"]
    console.print(
        f"Accuracy {pct(metrics['accuracy'])} ± {100 * metrics['accuracy_std']:.1f} (std over "
        f"{metrics['models']} models, n − 1); 95 % t-interval of the mean {pct(low)} – "
        f"{pct(high)} (optimistic: CV models share training rows).",
        highlight=False,
    )
    ClassificationView().render_t_test(console, metrics)
    render_footer(console, metrics, run_dir)


def _strongest_cells(view: TaskView, metrics: dict[str, Any]) -> dict[str, str]:
    """compare's columns for the strongest reference on the run's own folds (CV runs)."""
    strongest = view.fold_reference(metrics)
    best = versus_strongest(view.reference_table, metrics)
    if strongest is None or best is None:
        return {"best ref": "", _VERSUS_BEST: ""}
    label, value = strongest
    return {"best ref": f"{label} {100 * value:.2f}", _VERSUS_BEST: f"{100 * float(best):+.1f}"}
