"""The commands whose library function returns something to show: the call, then one line."""

from __future__ import annotations

import sys
from pathlib import Path

from densecli.report import Terminal
from densecli.runs import load_run
from densecli.tables import print_line


def schema() -> None:
    from densecli.spec import schema_text

    sys.stdout.write(schema_text())  # plain bytes: redirected into a file, never wrapped


def init(path: Path, data: Path | None = None, target: str = "-1") -> None:
    if data is None:
        from densecli.spec import write_starter

        written = write_starter(path)
        print_line(
            Terminal.open().out,
            f"Wrote {written}: the tutorial's 12-8-1 network. Next: densecli validate {written}",
        )
        return
    from densecli.experiment import write_fitted_spec

    written, fitted = write_fitted_spec(path, data, target)
    print_line(Terminal.open().out, f"Wrote {written}: {fitted}. Next: densecli cv {written}")


def predict(run_dir: Path, input_csv: Path, output: Path | None) -> None:
    from densecli.predict import (
        missing_models,
        model_outputs,
        predictions_csv,
        read_input_rows,
        write_predictions,
    )

    notice = Terminal.open().notice
    run = load_run(run_dir)
    warning = missing_models(run)
    if warning is not None:
        notice(f"warning: {warning}")
    rows = read_input_rows(input_csv, run)
    outputs = model_outputs(run, rows, lambda w: notice(f"warning: {w}"))
    text = predictions_csv(run, rows, outputs)
    if output is None:
        sys.stdout.write(text)
        return
    write_predictions(output, text)
    models = len(run.model_paths)
    how = f"mean of {models} fold models" if models > 1 else "the run's model"
    ignored = f"; ignored column(s) {', '.join(rows.ignored)}" if rows.ignored else ""
    notice(f"Scored {rows.n_rows} rows with {how}{ignored}. Written: {output}")


def mlflow(path: Path, uri: str | None) -> None:
    """Log existing run folders to MLflow; runs logged before are skipped."""
    from densecli.tracking import log_runs

    Terminal.open().notice(log_runs(path, uri))


def export(run: Path, fmt: str, output: Path, fold: int | None) -> None:
    """One model file taking raw rows, with the run's preprocessing built in."""
    from densecli.export import export_run

    Terminal.open().notice(export_run(run, fmt, output, fold))
