"""`densecli validate`: the spec checked against its data, then every name resolved by Keras
and the model's layers counted; nothing is trained or written."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml
from rich.table import Table

from densecli.experiment._checks import memory_needed
from densecli.experiment._prepare import DEFAULT_PLAN, Experiment, prepare_file
from densecli.experiment._run import announce
from densecli.report import Terminal
from densecli.spec import Spec
from densecli.tables import print_line, titled_table


def validate_file(
    config: Path, overrides: Sequence[str], data: Path | None, terminal: Terminal | None = None
) -> Experiment:
    """Print the resolved spec, the model summary, the memory estimates and the data."""
    terminal = terminal or Terminal.open()
    experiment = prepare_file(config, overrides, data)
    memory = _memory_line(experiment)  # before building the model: it may not fit
    summary = _model_summary(experiment.spec, experiment.data.n_features)
    announce(experiment, terminal.notice)
    console = terminal.out
    console.print(f"[bold]{config}[/bold]: valid. Resolved spec:")
    console.print(yaml.safe_dump(experiment.spec.resolved(), sort_keys=False), markup=False)
    console.print(summary)
    print_line(console, memory)
    found = experiment.data
    print_line(
        console,
        f"Data: {found.path} — {found.n_rows} rows, "
        f"{found.n_features} features, {experiment.task.describe_data()}.",
    )
    return experiment


def _memory_line(experiment: Experiment) -> str:
    """The memory estimates for `train` and `cv`; refuses a model too large to build."""
    from densecli.engine import available_bytes, check_fits, describe_bytes, estimate

    spec = experiment.spec
    check_fits([estimate(spec, experiment.data.n_features, 1, 1, 0)], "one model")
    split = memory_needed(experiment, DEFAULT_PLAN, cv=False)
    folds = memory_needed(experiment, DEFAULT_PLAN, cv=True)
    available = available_bytes()
    room = "" if available is None else f"; {describe_bytes(available)} available"
    return (
        f"Memory, TensorFlow included: about {describe_bytes(split.with_runtime)} to train "
        f"(train), {describe_bytes(folds.with_runtime)} for {spec.cv.folds} folds (cv){room}."
    )


def _model_summary(spec: Spec, n_features: int) -> Table:
    """Every Keras layer the spec builds (a spec layer may become Dense, batch norm,
    activation, maxout and dropout), with Keras' own parameter counts."""
    from densecli.engine import build_model, compile_model

    model = build_model(spec, n_features)
    compile_model(model, spec)  # resolves loss, optimizer and metrics names too
    table = titled_table(f"Model {spec.name!r}: {n_features} inputs")
    for column in ("layer", "kind", "outputs", "params"):
        table.add_column(column, justify="right" if column in {"outputs", "params"} else "left")
    for layer in model.layers:
        table.add_row(
            layer.name,
            type(layer).__name__,
            str(layer.output.shape[-1]),
            f"{layer.count_params():,}",
        )
    table.add_section()
    table.add_row("total", "", "", f"{model.count_params():,}", style="bold")
    return table
