"""Groups in local worker processes: started, fed, signalled and ended by the sweep itself.

Why not `ProcessPoolExecutor`: its workers share one call queue guarded by a semaphore, so a
worker killed while holding it leaves the others blocked in `Queue.get` forever, and
`shutdown()` joins them without a timeout: a SIGTERM at the wrong moment hung the sweep.
Here each worker is a plain child process with its own socket (no shared lock, no semaphore
for the resource tracker to report), in its own process group:

- the sweep decides every signal a worker gets: Ctrl-C in the terminal reaches only the
  sweep's process, which sends each worker SIGTERM. A worker still starting up dies of it
  silently; a ready one turns it into `Interrupted` (training stops at the next chunk and
  keeps its history as a `.interrupted` run; one swallowed by garbage collection is sent
  again);
- the sweep waits at most `STOP_GRACE_SECONDS` for them, then SIGKILLs what is left (its
  scratch folder is then `abandoned`, and `--resume` clears it);
- a worker whose sweep died (kill -9) stops itself the same way.

The workers start warm and stay for the whole search: each imports TensorFlow as soon as it
starts, while the sweep validates the points; the first worker then lets Keras check the
grid, so the sweep's own process never imports TensorFlow. A worker takes its thread
settings from its first message, before its first TensorFlow op. A `densecli tune` keeps
the same workers from one batch of trials to the next.
No TensorFlow import here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait

from densecli.errors import ConfigError
from densecli.experiment import check_with_keras
from densecli.search._worker import GroupTask, PointResult, failed_group, train_group
from densecli.signals import (
    STOP_SIGNALS,
    as_stop,
    received,
    signals_deferred,
    stops_from_now_on,
)
from densecli.spec import Spec

STOP_GRACE_SECONDS = 5.0  # for workers to save what an interruption left, before SIGKILL
REAP_SECONDS = 2.0  # after SIGKILL: the kernel ends a process at once; this only bounds it
POLL_SECONDS = 0.25  # how often the sweep looks at a signal it noted
WORKER_CODE = "from densecli.search._local import worker_main; worker_main()"

OnResult = Callable[[list[PointResult]], None]
OnStart = Callable[[GroupTask], None]
Refill = Callable[[], list[GroupTask]]  # the next groups, asked when a worker is free


class WorkerDied(Exception):
    """A worker's process ended while it trained a group (out of memory, killed, a crash)."""


@dataclass(frozen=True)
class KerasCheck:
    """Let Keras resolve the networks' names and parameters (`check_with_keras`) in a worker,
    whose TensorFlow is imported anyway; the reply is the list of problems (none: all good)."""

    networks: list[tuple[str, Spec]]  # (how errors name it, its spec)
    n_features: int
    step_macs: int  # the largest group's, for the worker's threads (see prefer_threads_for)


# --- the sweep's side ----------------------------------------------------------------------


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    connection: Connection
    task: GroupTask | None = None  # the group it trains, if any

    @classmethod
    def start(cls) -> Worker:
        ours, theirs = socket.socketpair()
        with ours, theirs:
            process = subprocess.Popen(
                [
                    sys.executable,
                    *_interpreter_flags(),
                    "-c",
                    WORKER_CODE,
                    str(theirs.fileno()),
                    str(os.getpid()),
                ],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                process_group=0,  # the terminal's Ctrl-C reaches the sweep only, never a worker
            )
            return cls(process, Connection(ours.detach()))

    def give(self, task: GroupTask) -> None:
        self.task = task
        self.connection.send(task)

    def send_signal(self, signum: int) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                os.kill(self.process.pid, signum)


def _interpreter_flags() -> list[str]:
    """The sweep's -X, -W, … options, as multiprocessing passes them to its children."""
    return list(subprocess._args_from_interpreter_flags())  # type: ignore[attr-defined]


@dataclass
class Pool:
    """Up to `size` worker processes."""

    size: int
    workers: list[Worker] = field(default_factory=list)

    def fill(self) -> None:
        """Start workers up to `size` (again after one died). A stop waits until the worker
        started is in the list, so that `stop` ends it too."""
        while len(self.workers) < self.size:
            with signals_deferred():
                self.workers.append(Worker.start())

    def trim(self, size: int) -> None:
        """No more than `size` workers (fewer groups than workers): idle ones end at once."""
        self.size = min(self.size, size)
        for worker in [w for w in self.workers if w.task is None][: len(self.workers) - self.size]:
            worker.send_signal(signal.SIGKILL)  # it holds nothing: no group, no folder
            self.remove(worker)

    def idle(self) -> Iterator[Worker]:
        """Workers with nothing to do."""
        self.fill()
        yield from (w for w in self.workers if w.task is None)

    def check(self, networks: list[tuple[str, Spec]], n_features: int, step_macs: int) -> None:
        """`check_with_keras` in the first worker (here, if it ended before replying)."""
        self.fill()
        worker = self.workers[0]
        try:
            worker.connection.send(KerasCheck(networks, n_features, step_macs))
            problems: list[str] = worker.connection.recv()
        except (EOFError, OSError):  # it died: the next round starts another
            self.remove(worker)
            check_with_keras(networks, n_features, step_macs)
            return
        if problems:
            raise ConfigError(*problems)

    def busy(self) -> bool:
        return any(w.task is not None for w in self.workers)

    def results(self, timeout: float) -> Iterator[list[PointResult]]:
        """Each group that finished (or whose worker died) within `timeout`."""
        ready = wait([w.connection for w in self.workers if w.task is not None], timeout)
        for worker in [w for w in self.workers if w.connection in ready]:
            task = worker.task
            assert task is not None
            try:
                results: list[PointResult] = worker.connection.recv()
            except Exception:  # EOF: it died; a half-sent reply: it died while sending
                self.remove(worker)
                error = WorkerDied(
                    f"its worker process ended (exit {worker.process.poll()}: out of memory, "
                    "or killed); --resume trains it again"
                )
                results = failed_group(task, error)
            worker.task = None
            yield results

    def remove(self, worker: Worker) -> None:
        self.workers.remove(worker)
        worker.connection.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.process.wait(REAP_SECONDS)

    def close(self) -> None:
        """The sweep is done: idle workers see the end of their socket and exit."""
        for worker in self.workers:
            worker.connection.close()
        self._end(time.monotonic() + STOP_GRACE_SECONDS)

    def stop(self) -> None:
        """The sweep was interrupted: SIGTERM to every worker with a group, SIGKILL after
        the grace; one without a group holds nothing to save and ends at once."""
        for worker in self.workers:
            worker.send_signal(signal.SIGTERM if worker.task is not None else signal.SIGKILL)
        self._end(time.monotonic() + STOP_GRACE_SECONDS)
        for worker in self.workers:
            worker.connection.close()

    def _end(self, deadline: float) -> None:
        for worker in self.workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.process.wait(max(0.0, deadline - time.monotonic()))
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.send_signal(signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.process.wait(REAP_SECONDS)
        self.workers.clear()


@contextlib.contextmanager
def signals_noted() -> Iterator[list[int]]:
    """SIGINT / SIGTERM only noted, never raised mid-operation: the loop below decides when
    to stop, so no send, write or display update is ever cut in half."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return
    previous = {s: signal.signal(s, lambda n, f: caught.append(n)) for s in STOP_SIGNALS}
    try:
        yield caught
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def local_workers(size: int) -> Iterator[Pool]:
    """`size` warm workers for the groups of one sweep or tune; they end with the block (at
    once and by signal if it raised)."""
    pool = Pool(max(1, size))
    try:
        pool.fill()
        yield pool
    except BaseException:
        pool.stop()  # a no-op after run_local's stop; ends the workers after any other error
        raise
    pool.close()


@contextlib.contextmanager
def local_workers_unless(ray: str | None, size: int) -> Iterator[Pool | None]:
    """`local_workers(size)`, or None when the groups go to a Ray cluster (`--ray`)."""
    if ray is not None:
        yield None
        return
    with local_workers(size) as pool:
        yield pool


def run_local(
    pool: Pool,
    tasks: list[GroupTask],
    on_start: OnStart,
    on_done: OnResult,
    more: Refill | None = None,
) -> None:
    """Groups in the pool's workers, one group per worker at a time; when a worker is free
    and no group waits, `more` gives the next ones. Raises `Interrupted` once every worker
    has stopped (or was killed after the grace period) when a signal came."""
    waiting = list(reversed(tasks))
    with signals_noted() as caught:
        while not caught:
            idle = list(pool.idle())
            if idle and not waiting and more is not None:
                waiting = list(reversed(more()))
            if not (waiting or pool.busy()):
                break
            for worker in idle:
                if not waiting:
                    break
                task = waiting.pop()
                try:
                    worker.give(task)
                except OSError:  # it died while idle: the next round starts another
                    pool.remove(worker)
                    waiting.append(task)
                    break
                on_start(task)
            for results in pool.results(POLL_SECONDS):
                on_done(results)
        if caught:
            pool.stop()
            raise received(caught[0])


# --- the worker's side ---------------------------------------------------------------------


def worker_main() -> None:
    """`python -c WORKER_CODE FD PARENT`: import TensorFlow, then train each group that
    arrives on socket FD and reply with its results; end at the socket's end, at a stop
    signal, or when process PARENT (the search) is gone."""
    from densecli.backend import import_keras

    code = 0
    try:
        # Until TensorFlow is imported there is nothing to save, and a stop raised inside
        # its import is swallowed there while the import runs on for seconds: end at once.
        for s in STOP_SIGNALS:
            signal.signal(s, _end_at_once)
        # The search's pid from its command line, not getppid(): a search stopped while
        # this worker started may be gone already, and this worker must not outlive it.
        parent = int(sys.argv[2])
        threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
        connection = Connection(int(sys.argv[1]))
        import_keras()  # warm: while the sweep validates, before the first group arrives
        stops_from_now_on()  # training stops at its next chunk, keeping its history
        _serve(connection)
    except KeyboardInterrupt:
        code = 128 + signal.SIGTERM
    except (EOFError, OSError):
        pass  # the sweep ended (or died): nothing more to do
    finally:
        # No interpreter teardown: TensorFlow's can print or hang, and there is nothing to save.
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _end_at_once(signum: int, frame: object) -> None:
    os._exit(128 + signum)


def _serve(connection: Connection) -> None:
    while True:
        task: GroupTask | KerasCheck = connection.recv()
        if isinstance(task, KerasCheck):
            connection.send(_problems(task))
            continue
        try:
            results = train_group(task)
        except Exception as error:  # a bug or a late error: this group fails, the sweep goes on
            stop = as_stop(error)  # unless a stop caused it (TensorFlow may wrap one)
            if stop is not None:
                raise stop from None
            results = failed_group(task, error)
        connection.send(results)


def _problems(check: KerasCheck) -> list[str]:
    try:  # the threads are chosen first, before Keras builds the first model
        check_with_keras(check.networks, check.n_features, check.step_macs)
    except ConfigError as err:
        return list(err.problems)
    return []


def _exit_with_parent(parent: int) -> None:
    """A worker whose sweep died (kill -9) stops as on SIGTERM instead of training on alone."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(STOP_GRACE_SECONDS + 5)
    os._exit(128 + signal.SIGKILL)  # idle, or stuck handing a result to the dead sweep
