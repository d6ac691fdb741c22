"""`densecli predict`: a run's models on the rows of a CSV, written as one CSV."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from densecli.predict._rows import read_input_rows
from densecli.predict._score import (
    missing_models,
    model_outputs,
    predictions_csv,
    write_predictions,
)
from densecli.runs import load_run


def predict_file(
    run_dir: Path, input_csv: Path, output: Path | None, notice: Callable[[str], None]
) -> str | None:
    """Score the rows; returns the CSV's text when `output` is None (for stdout), else
    writes it there and says so through `notice`."""
    run = load_run(run_dir)
    warning = missing_models(run)
    if warning is not None:
        notice(f"warning: {warning}")
    rows = read_input_rows(input_csv, run)
    outputs = model_outputs(run, rows, lambda w: notice(f"warning: {w}"))
    text = predictions_csv(run, rows, outputs)
    if output is None:
        return text
    write_predictions(output, text)
    models = len(run.model_paths)
    how = f"mean of {models} fold models" if models > 1 else "the run's model"
    ignored = f"; ignored column(s) {', '.join(rows.ignored)}" if rows.ignored else ""
    notice(f"Scored {rows.n_rows} rows with {how}{ignored}. Written: {output}")
    return None
