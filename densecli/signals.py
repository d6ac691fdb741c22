"""Stop signals while a command trains: SIGINT and SIGTERM become `Interrupted`.

Python turns only SIGINT into a KeyboardInterrupt; here SIGTERM does the same, so one
clean-up path serves Ctrl-C and `kill`. A few file operations that must finish together
hold the signals until they are done (`signals_deferred`). No TensorFlow here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Training was stopped by a signal; `saved` is the folder kept for it, if any."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.saved: str | None = None

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


def interrupted_message(stop: KeyboardInterrupt) -> str:
    name = signal.Signals(stop.signum).name if isinstance(stop, Interrupted) else "SIGINT"
    saved = stop.saved if isinstance(stop, Interrupted) else None
    if saved is None:
        return f"interrupted ({name}): no run was saved"
    return (
        f"interrupted ({name}): the history so far is kept in {saved}; "
        "`densecli compare` lists it apart from the results"
    )


def stop_reason(error: BaseException) -> str:
    """`stopped by SIGTERM`: what a run folder records about an interruption."""
    signum = error.signum if isinstance(error, Interrupted) else signal.SIGINT
    return f"stopped by {signal.Signals(signum).name}"


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """While training, SIGINT and SIGTERM raise `Interrupted` (Python only does SIGINT)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _raise_interrupted) for s in STOP_SIGNALS}
    previous_hook = sys.unraisablehook
    sys.unraisablehook = redeliver_swallowed
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        for s, handler in previous.items():
            signal.signal(s, handler)


def redeliver_swallowed(unraisable: Any) -> None:
    """A signal's `Interrupted` raised inside a weakref callback or `__del__` (garbage
    collection runs them anywhere) is printed and dropped by Python: the stop would be lost.
    Send the signal again instead, silently, so it is raised where it counts."""
    if isinstance(unraisable.exc_value, Interrupted):
        # From a thread, a moment later: sent from here, it would be raised in this hook.
        resend = threading.Timer(0.02, os.kill, (os.getpid(), unraisable.exc_value.signum))
        resend.daemon = True
        resend.start()
        return
    sys.__unraisablehook__(unraisable)


_deferring = False


@contextlib.contextmanager
def signals_deferred(reraise: bool = True) -> Iterator[None]:
    """Hold SIGINT / SIGTERM while a few file operations must finish together.

    A signal that arrives meanwhile is raised as `Interrupted` when the block ends, or
    dropped with `reraise=False` (while saving what an earlier interruption left).
    """
    global _deferring
    if _deferring or threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {s: signal.signal(s, lambda n, f: caught.append(n)) for s in STOP_SIGNALS}
    _deferring = True
    try:
        yield
    finally:
        _deferring = False
        for s, handler in previous.items():
            signal.signal(s, handler)
    if caught and reraise:
        raise Interrupted(caught[0])


def exit_on_late_stops(saved: str, notice: Callable[[str], None]) -> None:
    """Everything is written and shown: a stop from now until the process ends has nothing
    left to save. It ends the process at once with the stop's exit code and the usual line
    (naming `saved`), never by the signal's default action."""

    def stop(signum: int, frame: FrameType | None) -> None:
        interrupted = Interrupted(signum)
        interrupted.saved = saved
        notice(interrupted_message(interrupted))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(interrupted.exit_code)

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop)
