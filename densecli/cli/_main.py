"""The `densecli` program: stops made process-wide first, then the app, then an exit that
says how a stop ended it. Only the standard library and densecli.signals are imported
before the stop handlers are in place."""

from __future__ import annotations

import os
import signal
import sys

from densecli.signals import (
    STOP_SIGNALS,
    as_stop,
    exit_code,
    report_stop,
    stop_in,
    stop_received,
    stop_reported,
    stops_from_now_on,
)


def main() -> None:
    """The command, then an exit that skips the interpreter's teardown. Python resets its
    signal handlers before it tears down the modules it loaded (TensorFlow, pandas,
    scikit-learn: most of a second), so a stop in that window would end the process by the
    signal's default action instead of with its exit code; and there is nothing left to
    clean up: every file is written, every worker has ended."""
    stops_from_now_on()
    status, stop = 0, None
    try:
        from densecli.cli._app import app  # inside: a stop while importing is a stop too

        app()
    except SystemExit as done:
        code = done.code
        status = code if isinstance(code, int) else (0 if code is None else 1)
        stop = stop_in(done)  # Typer turns a stop outside the commands into exit 130
    except BaseException as error:
        stop = as_stop(error)
        if stop is None:
            raise  # a bug: its traceback
    for s in STOP_SIGNALS:  # nothing is left to stop: a later one only waits for the exit
        signal.signal(s, signal.SIG_IGN)
    if (said := stop_reported()) is not None:
        status = exit_code(said)
    elif stop is not None:
        status = report_stop(stop)
    elif (late := stop_received()) is not None:  # the command ended all the same
        late.ended = True
        status = report_stop(late)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
