"""Groups in local worker processes (spawned, so each imports TensorFlow once).

One group per worker is in flight at a time, so 'running' in the display is what runs and an
interruption has nothing queued. Ctrl-C reaches every process of the terminal's group; a
training worker keeps its points' history as `.interrupted` runs, and the sweep's process
stops the rest after a grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from typing import Any

from densecli.errors import DensecliError
from densecli.sweep._worker import GroupTask, PointResult, failed_group, run_group

STOP_GRACE_SECONDS = 3.0  # for workers to save what an interruption left, before SIGTERM


def _start_worker() -> None:
    """Worker start-up. Ctrl-C reaches every process of the terminal's group: an idle worker
    ignores it (a training one turns it into a kept `.interrupted` run). A watchdog ends the
    worker when the sweep's process dies (kill -9) instead of letting it train on alone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import threading

    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    import time

    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)  # a training group keeps its history, as on Ctrl-C
    time.sleep(STOP_GRACE_SECONDS + 5)
    os._exit(143)  # idle, or stuck handing a result to the dead parent


OnResult = Callable[[list[PointResult]], None]
OnStart = Callable[[GroupTask], None]


def run_local(tasks: list[GroupTask], workers: int, on_start: OnStart, on_done: OnResult) -> None:
    """Groups in worker processes; each worker imports TensorFlow once and trains groups."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    if not tasks:
        return
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=max(1, min(workers, len(tasks))),
        mp_context=context,
        initializer=_start_worker,
    )
    waiting = list(reversed(tasks))
    pending: dict[Future[list[PointResult]], GroupTask] = {}
    try:
        # One group per worker at a time: what is submitted is what is running.
        while waiting or pending:
            while waiting and len(pending) < workers:
                task = waiting.pop()
                try:
                    pending[pool.submit(run_group, task)] = task
                except BrokenProcessPool:
                    raise DensecliError(
                        "a sweep worker process died (out of memory, or killed); the finished "
                        "points are kept; continue with --resume"
                    ) from None
                on_start(task)
            done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                task = pending.pop(future)
                try:
                    results = future.result()
                except Exception as error:  # reported per point; the sweep goes on
                    results = failed_group(task, error)
                on_done(results)
    except BaseException:
        _stop_workers(pool, pending)
        raise
    pool.shutdown()


def _stop_workers(pool: Any, pending: dict[Any, GroupTask]) -> None:
    """The sweep stops: training workers keep their points' history as `.interrupted` runs.

    Ctrl-C reached the workers too; a moment later, any still running (the signal went to
    the sweep's process only, or a worker was starting up) get SIGTERM.
    """
    from concurrent.futures import wait

    with contextlib.suppress(BaseException):
        wait(pending, timeout=STOP_GRACE_SECONDS)
    for process in list(getattr(pool, "_processes", {}).values()):
        with contextlib.suppress(OSError):
            os.kill(process.pid, signal.SIGTERM)
    with contextlib.suppress(BaseException):
        pool.shutdown(wait=True, cancel_futures=True)
