"""The commands whose library function returns something to show: the call, then one line."""

from __future__ import annotations

import sys
from pathlib import Path

from densecli.report import Terminal
from densecli.tables import print_line


def schema() -> None:
    from densecli.spec import schema_text

    sys.stdout.write(schema_text())  # plain bytes: redirected into a file, never wrapped


def init(path: Path, data: Path | None = None, target: str = "-1") -> None:
    from densecli.experiment import write_spec

    print_line(Terminal.open().out, write_spec(path, data, target))


def predict(run_dir: Path, input_csv: Path, output: Path | None) -> None:
    from densecli.predict import predict_file

    text = predict_file(run_dir, input_csv, output, Terminal.open().notice)
    if text is not None:
        sys.stdout.write(text)


def mlflow(path: Path, uri: str | None) -> int:
    """Log existing run folders to MLflow; runs logged before are left as they are. A damaged
    folder is named on a line of its own and skipped; returns 1 if any was, else 0."""
    from densecli.tracking import log_runs

    terminal = Terminal.open()
    report = log_runs(path, uri)
    for problem in report.problems:
        terminal.notice(f"skipped: {problem}")
    terminal.notice(report.summary())
    return report.exit_code


def export(run: Path, fmt: str, output: Path, fold: int | None) -> None:
    """One model file taking raw rows, with the run's preprocessing built in."""
    from densecli.export import export_run

    Terminal.open().notice(export_run(run, fmt, output, fold))
