"""What the user sees: progress while training, then metric tables next to the references."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress
from rich.table import Table


def titled_table(title: str) -> Table:
    """A table whose title never wraps onto two lines when the columns are narrow."""
    return Table(title=title, title_justify="left", min_width=len(title) + 2)


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def points(value: float, reference: float | None) -> str:
    return "—" if reference is None else f"{100 * (value - reference):+.1f} pts"


class EpochProgress:
    """One bar over every epoch of every model, with the latest training loss and accuracy."""

    def __init__(self, console: Console, models: int, epochs: int) -> None:
        self._bar = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._total = models * epochs
        self._task: TaskID | None = None

    def __enter__(self) -> EpochProgress:
        self._bar.start()
        self._task = self._bar.add_task("training", total=self._total, status="")
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._bar.stop()

    def describe(self, label: str) -> None:
        if self._task is not None:
            self._bar.update(self._task, description=label)

    def advance(self, model_epochs: int, logs: dict[str, float]) -> None:
        status = f"loss {logs.get('loss', float('nan')):.4f}"
        if "accuracy" in logs:
            status += f"  acc {100 * logs['accuracy']:.1f} %"
        if self._task is not None:
            self._bar.update(self._task, advance=model_epochs, status=status)


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
        ("best reported 10-fold accuracy (Pima)", metrics["reported_best_accuracy"]),
        (local_label, local_rate),
        (
            "logistic regression, standardized, same folds",
            metrics.get("logistic_regression_accuracy"),
        ),
    ]
    for label, value in references:
        if value is not None:
            table.add_row(label, pct(value), points(accuracy, value))
    return table


def _confusion_table(matrix: list[list[int]]) -> Table:
    table = titled_table("Confusion matrix")
    table.add_column("")
    for k in range(len(matrix)):
        table.add_column(f"pred {k}", justify="right")
    for k, row in enumerate(matrix):
        table.add_row(f"true {k}", *map(str, row))
    return table


def render_split(console: Console, metrics: dict[str, Any], run_dir: Path) -> None:
    rows, train = metrics["test_rows"], metrics["train_rows"]
    title = f"Test rows {train + 1}–{train + rows} ({rows} rows)"
    if metrics["seeds"] > 1:
        title += f", mean of {metrics['seeds']} initialisations"
        console.print(_jobs_table("Each initialisation", metrics))
    console.print(_metric_table(title, metrics))
    console.print(
        _reference_table(
            metrics, f"majority class on these {rows} test rows", metrics["majority_accuracy"]
        )
    )
    console.print(_confusion_table(metrics["confusion_matrix"]))
    low, high = metrics["accuracy_interval_95"]
    console.print(
        f"Note: {rows} test rows are a small sample: one row moves accuracy by "
        f"{100 / rows:.1f} points, and the 95 % interval is {pct(low)} – {pct(high)}. "
        "`densecli cv` gives a steadier estimate."
    )
    _render_footer(console, metrics, run_dir)


MAX_JOB_ROWS = 30


def _jobs_table(title: str, metrics: dict[str, Any]) -> Table:
    table = titled_table(title)
    for column in ("model", "test rows", "accuracy", "loss", "F1", "ROC AUC", "majority class"):
        table.add_column(column, justify="right")
    for job in metrics["job_metrics"]:
        table.add_row(
            job["job"],
            str(job["test_rows"]),
            pct(job["accuracy"]),
            num(job["loss"]),
            num(job["f1"]),
            num(job["roc_auc"]),
            pct(job["majority_accuracy"]),
        )
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


def render_cv(console: Console, metrics: dict[str, Any], run_dir: Path) -> None:
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
    if metrics.get("p_value") is not None:
        console.print(
            f"Network − logistic regression: {100 * metrics['network_minus_logistic']:+.2f} "
            f"points over {metrics['folds'] * repeats} folds; corrected resampled t-test "
            f"(Nadeau & Bengio 2003): t = {metrics['t_statistic']:.2f}, "
            f"p = {metrics['p_value']:.3f}.",
            highlight=False,
        )
    _render_footer(console, metrics, run_dir)


def _render_footer(console: Console, metrics: dict[str, Any], run_dir: Path) -> None:
    console.print(
        f"Training took {metrics['train_seconds']:.1f} s ({metrics['engine']} engine, "
        f"{metrics['models']} model{'s' if metrics['models'] > 1 else ''}). "
        f"Run saved to {run_dir}",
        highlight=False,
        soft_wrap=True,
    )


def render_unfinished(console: Console, cells: list[dict[str, str]]) -> None:
    """Runs that stopped early: shown apart, so they are never read as results."""
    if not cells:
        return
    table = titled_table("Not results: interrupted, failed or abandoned runs (never ranked)")
    for column in cells[0]:
        table.add_column(column, overflow="fold")
    for row in cells:
        table.add_row(*row.values())
    console.print(table)


# What matters when the terminal is narrow, in this order; `--wide` shows every column.
NARROW_COLUMNS = ("run", "mode", "accuracy %", "vs baseline (pts)", "vs 77.7 % (pts)")
NARROW_HEADERS = {"vs baseline (pts)": "Δ base", "vs 77.7 % (pts)": "Δ 77.7"}


def render_compare(
    console: Console,
    cells: list[dict[str, str]],
    written: list[Path],
    title: str = "Runs, best accuracy first",
    wide: bool = False,
) -> None:
    if not cells:
        console.print("No finished runs yet: `densecli train configs/pima.yaml` makes one.")
    else:
        fits = _natural_width(cells) <= console.width
        table = _compare_table(cells, title, narrow=not (wide or fits))
        console.print(table)
        console.print(
            "baseline: the data's majority class (Pima 65.1 %); "
            "77.7 %: best 10-fold accuracy reported for Pima."
            + ("" if table.columns[-1].header != "Δ 77.7" else " Every column: --wide."),
            soft_wrap=True,
        )
    console.print("Written: " + ", ".join(str(p) for p in written), soft_wrap=True)


def _natural_width(cells: list[dict[str, str]]) -> int:
    """The full table's width with no cell cut: each column, its padding and a border."""
    return 1 + sum(3 + max(len(c), *(len(row[c]) for row in cells)) for c in cells[0])


def _compare_table(cells: list[dict[str, str]], title: str, narrow: bool = False) -> Table:
    """Every column, or (narrow) only those that matter, in a compact box; run names are
    never cut, since `show` and `predict` take them."""
    from rich import box

    columns = [c for c in cells[0] if not narrow or c in NARROW_COLUMNS]
    table = titled_table(title)
    if narrow:
        table.box, table.pad_edge, table.padding = box.SIMPLE_HEAD, False, (0, 1)
    for column in columns:
        left = column in {"run", "name", "mode"}
        table.add_column(
            NARROW_HEADERS.get(column, column) if narrow else column,
            justify="left" if left else "right",
            no_wrap=column != "name",
            overflow="fold" if column == "name" else "ellipsis",
            min_width=max(len(row[column]) for row in cells) if column == "run" else None,
        )
    for row in cells:
        table.add_row(*(row[c] for c in columns))
    return table
