"""`densecli show RUN`: everything a run holds, in one screen, read from its files only.

No TensorFlow: the parameter counts are computed from the layer specs, as a Dense layer has
inputs × units weights plus one bias per unit (units × pieces with maxout), and batch
normalization four values per unit (two trained, two moving statistics).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from densecli.errors import RunsError
from densecli.report._nested import read_nested, render_nested
from densecli.report._terminal import Terminal
from densecli.runs import SavedRun
from densecli.runs.files import CONFIG, METRICS, RESULTS_MD, search_kind
from densecli.tables import num, pct, print_line, titled_table
from densecli.tasks import view_for


def dense_parameters(n_inputs: int, layers: list[Any]) -> list[int]:
    """Parameters of each spec layer (Dense, plus its batch normalization if any)."""
    counts = []
    for layer in layers:
        width = layer.units * (layer.maxout or 1)
        count = n_inputs * width + (width if layer.use_bias else 0)
        counts.append(count + (4 * width if layer.batch_norm else 0))
        n_inputs = layer.units
    return counts


def model_table(run: SavedRun) -> Table:
    layers = run.spec.model.layers
    counts = dense_parameters(run.n_features, list(layers))
    table = titled_table(f"Model {run.spec.name!r}: {run.n_features} inputs")
    for column in ("layer", "units", "activation", "kernel initializer", "params"):
        table.add_column(column, justify="right" if column in {"units", "params"} else "left")
    for index, (layer, count) in enumerate(zip(layers, counts, strict=True)):
        table.add_row(
            f"dense_{index}",
            str(layer.units),
            str(layer.activation),
            str(layer.kernel_initializer),
            f"{count:,}",
        )
    table.add_section()
    table.add_row("total", "", "", "", f"{sum(counts):,}", style="bold")
    return table


def _size(n_bytes: int) -> str:
    for unit in ("B", "KB", "MB"):
        if n_bytes < 1024 or unit == "MB":
            return f"{n_bytes:,.0f} {unit}" if unit == "B" else f"{n_bytes:,.1f} {unit}"
        n_bytes /= 1024  # type: ignore[assignment]
    return ""


def files_table(folder: Path) -> Table:
    table = titled_table(f"Files in {folder}")
    table.add_column("file")
    table.add_column("size", justify="right")
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        table.add_row(path.relative_to(folder).as_posix(), _size(path.stat().st_size))
    return table


def _describe(run: SavedRun) -> str:
    m: dict[str, Any] = run.metrics
    folds = m.get("folds")
    mode = "classic split" if m.get("mode") == "split" else f"{folds or 'k'}-fold CV"
    created = str(m.get("created", "?"))[:19].replace("T", " ")
    target = view_for(m).describe_target(run.inputs)
    text = (
        f"Run {run.folder.name}: {mode}, created {created}, "
        f"data {m.get('data_file', '?')} ({target}, target {run.target!r})"
    )
    env = run.environment()
    if env.get("command"):
        text += f"\nCommand: {' '.join(map(str, env['command']))}"
    if env.get("git_commit"):
        text += f" (git {env['git_commit']})"
    return text


def render_run_folder(console: Console, run: SavedRun) -> None:
    console.print(_describe(run), markup=False, highlight=False, soft_wrap=True)
    console.print(f"\n[bold]Resolved spec[/bold] ({CONFIG}):")
    console.print(yaml.safe_dump(run.spec.resolved(), sort_keys=False), markup=False)
    console.print(model_table(run))
    try:
        # The tables printed when the run finished.
        view_for(run.metrics).render_run(console, run.metrics, run.folder)
    except (KeyError, TypeError, IndexError):
        # A run recorded by another densecli version may lack a key those tables need.
        console.print(scores_table(run.metrics))
    console.print(files_table(run.folder))


def scores_table(metrics: dict[str, Any]) -> Table:
    """Every single-number score in metrics.json, for runs the usual tables cannot show."""
    score = view_for(metrics).score
    table = titled_table(f"Metrics ({METRICS})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        if isinstance(value, float):
            shown = pct(value) if score.percent and score.key in key else num(value)
            table.add_row(key, shown)
    return table


def _not_a_search(folder: Path) -> None:
    """A sweep or tune folder holds runs; say where its results are rather than that its
    metrics.json is missing."""
    kind = search_kind(folder)
    if kind is not None:
        raise RunsError(
            f"{folder}: a {kind} folder, not one run; its ranked results are in "
            f"{RESULTS_MD}, `densecli compare {folder}` lists its runs, and `densecli show` "
            "takes any one of them"
        )


def show_run(run_dir: Path, plots: bool = False, terminal: Terminal | None = None) -> None:
    """`densecli show`: the run's summary; with `plots`, its pictures drawn into it first.
    A nested tune's folder shows its nested estimate."""
    from densecli.report._plots import write_run_plots
    from densecli.runs import load_run

    terminal = terminal or Terminal.open()
    nested = read_nested(run_dir)
    if nested is not None:  # a nested tune's folder: its estimate
        print_line(terminal.out, f"Tune {run_dir}: nested cross-validation of its search")
        render_nested(terminal.out, nested)
        return
    _not_a_search(run_dir)
    run = load_run(run_dir)
    if plots:
        written = write_run_plots(run.folder)
        terminal.notice("Drawn: " + ", ".join(str(path) for path in written))
    render_run_folder(terminal.out, run)
