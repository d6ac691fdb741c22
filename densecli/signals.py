"""Stop signals: SIGINT and SIGTERM become `Interrupted`.

Python turns only SIGINT into a KeyboardInterrupt; here SIGTERM does the same, so one
clean-up path serves Ctrl-C and `kill`. The command line does so from its first instant
(`stops_from_now_on`, before it imports anything else), and then reports any error that
follows a stop as that stop (`as_stop`): code between the signal and the command line
(TensorFlow's context managers) may turn the interruption into an error of its own. A few
file operations that must finish together hold the signals until they are done
(`signals_deferred`). No TensorFlow here; only the standard library, so this loads at once.
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
        self.finished = False  # `saved` is a finished result, stopped only while it was shown
        self.ended = False  # the command ran to its end all the same (the stop came too late)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


def interrupted_message(stop: KeyboardInterrupt) -> str:
    name = signal.Signals(stop.signum).name if isinstance(stop, Interrupted) else "SIGINT"
    saved = stop.saved if isinstance(stop, Interrupted) else None
    if isinstance(stop, Interrupted) and stop.ended:
        return f"interrupted ({name}) as the command ended: what it printed above is complete"
    if saved is None:
        return f"interrupted ({name}): no run was saved"
    if isinstance(stop, Interrupted) and stop.finished:
        return f"interrupted ({name}) after the run had finished: it is saved in {saved}"
    return (
        f"interrupted ({name}): the history so far is kept in {saved}; "
        "`densecli compare` lists it apart from the results"
    )


_reported: list[KeyboardInterrupt] = []  # the stops whose line was printed


def report_stop(stop: KeyboardInterrupt) -> int:
    """Print the stop's one line on stderr; its exit code (130 / 143)."""
    _reported.append(stop)
    sys.stderr.write(interrupted_message(stop) + "\n")
    sys.stderr.flush()
    return exit_code(stop)


def stop_reported() -> KeyboardInterrupt | None:
    """The first stop whose line was printed, if any."""
    return _reported[0] if _reported else None


def stop_reason(error: BaseException) -> str:
    """`stopped by SIGTERM`: what a run folder records about an interruption."""
    signum = error.signum if isinstance(error, Interrupted) else signal.SIGINT
    return f"stopped by {signal.Signals(signum).name}"


def exit_code(stop: KeyboardInterrupt) -> int:
    return stop.exit_code if isinstance(stop, Interrupted) else 128 + signal.SIGINT


# The first stop this process received, once `stops_from_now_on` made stops process-wide
# (the command line); library callers (tests driving the app in-process) never record one.
_process_wide = False
_first_stop: Interrupted | None = None


def stops_from_now_on() -> None:
    """For the whole process, from this instant: SIGINT and SIGTERM raise `Interrupted`,
    and the first one is remembered (`stop_received`), whatever becomes of its exception."""
    global _process_wide
    _process_wide = True
    for s in STOP_SIGNALS:
        signal.signal(s, _raise_interrupted)
    sys.unraisablehook = redeliver_swallowed


def stop_received() -> Interrupted | None:
    """The first stop signal of a process that called `stops_from_now_on`, if any came."""
    return _first_stop


def received(signum: int) -> Interrupted:
    """The `Interrupted` for a stop signal that came; the process's first is remembered."""
    global _first_stop
    stop = Interrupted(signum)
    if _process_wide and _first_stop is None:
        _first_stop = stop
    return stop


def raise_if_stopped() -> None:
    """Raise the stop the process received, if one came and its exception was lost on the
    way: code in C that calls back into Python (TensorFlow's, NumPy's) may turn it into an
    error of its own and print and drop that. Called where work goes on regularly (every
    recorded chunk of training, every round of a search), never while a stop is handled."""
    if _first_stop is not None:
        raise _first_stop


def stop_in(error: BaseException) -> KeyboardInterrupt | None:
    """The stop among `error` and its causes (code that caught a stop and raised its own)."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def as_stop(error: BaseException) -> KeyboardInterrupt | None:
    """The stop behind `error`: one among its causes, or, once the process received a stop,
    that stop: whatever error follows a stop is the stop, reported as one, never as a
    failure."""
    return stop_in(error) or _first_stop


@contextlib.contextmanager
def stops_name(saved: str, finished: bool = False) -> Iterator[None]:
    """A stop in this block (or any error after one) names `saved` in its line: what it left
    (`finished`: a result that was complete before the stop came)."""
    try:
        yield
    except BaseException as error:
        stop = as_stop(error)
        if isinstance(stop, Interrupted) and stop.saved is None:
            stop.saved, stop.finished = saved, finished
        raise


IMPORT_RETRY_SECONDS = 0.05  # how often a stop that came during an import looks again


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    """Raise the stop, except in the middle of an import: an exception raised there can land
    inside a C extension's initialisation (NumPy's, TensorFlow's), which may swallow it or
    hang. Then the stop is remembered and the signal sent again a moment later, until the
    import is over (TensorFlow's, the longest, takes a few seconds)."""
    stop = received(signum)
    if _importing(frame):
        _send_again(signum, IMPORT_RETRY_SECONDS)
        return
    raise stop


def _importing(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _send_again(signum: int, delay: float) -> None:
    """From a thread, a moment later: sent from a signal handler, it would be handled there."""
    resend = threading.Timer(delay, os.kill, (os.getpid(), signum))
    resend.daemon = True
    resend.start()


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
        _send_again(unraisable.exc_value.signum, 0.02)  # sent from here, raised in this hook
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
        raise received(caught[0])


def exit_on_late_stops(saved: str, notice: Callable[[str], None]) -> None:
    """Everything is written and shown: a stop from now until the process ends has nothing
    left to save. It ends the process at once with the stop's exit code and the usual line
    (naming `saved`), never by the signal's default action."""

    def stop(signum: int, frame: FrameType | None) -> None:
        interrupted = received(signum)
        interrupted.saved = saved
        notice(interrupted_message(interrupted))
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(interrupted.exit_code)

    for signum in STOP_SIGNALS:
        signal.signal(signum, stop)
