"""Groups as Ray tasks on a cluster (or a local Ray runtime): each task receives the data
file with it and returns its run folders packed, so the nodes need no shared filesystem."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from densecli.errors import ConfigError, DensecliError
from densecli.search._local import OnResult, OnStart, Refill
from densecli.search._worker import GroupTask, failed_group, run_group_packed, unpack_runs


@contextlib.contextmanager
def ray_session(address: str, workers: int) -> Iterator[Any]:
    """Ray connected to a cluster's head (`host:port`, `ray://host:port`, `auto`) or, for
    `local`, a Ray runtime started here with `workers` CPUs; shut down afterwards."""
    ray = import_ray()
    import logging

    options: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
    if address == "local":
        options.update(num_cpus=workers, include_dashboard=False)
    else:
        _check_reachable(address)  # Ray itself retries an unreachable head for minutes
        options["address"] = address
    try:
        ray.init(**options)
    except Exception as err:  # Ray raises ConnectionError, RuntimeError, ValueError, …
        raise DensecliError(
            f"--ray {address}: cannot connect to Ray ({str(err).splitlines()[0]}); give the "
            "head node's address (e.g. ray://host:10001 or host:6379) or use --ray local"
        ) from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _check_reachable(address: str) -> None:
    import socket

    host_port = address.removeprefix("ray://")
    if host_port == "auto":
        return
    host, _, port = host_port.rpartition(":")
    if not host or not port.isdigit():
        raise DensecliError(f"--ray {address}: expected HOST:PORT, ray://HOST:PORT, auto or local")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as err:
        raise DensecliError(
            f"--ray {address}: nothing answers at {host}:{port} ({err.strerror or err}); "
            "start the cluster (ray start --head) or check the address"
        ) from None


def run_ray(
    ray: Any,
    tasks: list[GroupTask],
    on_start: OnStart,
    on_done: OnResult,
    more: Refill | None = None,
) -> None:
    """Each group as a Ray task; results arrive as packed run folders, unpacked here. When
    the cluster has a free CPU and no group waits, `more` gives the next ones."""
    remote = ray.remote(num_cpus=1)(run_group_packed)
    # As many tasks in flight as the cluster has CPUs: what is submitted is what runs.
    capacity = max(1, int(ray.cluster_resources().get("CPU", 1)))
    waiting = list(reversed(tasks))
    pending: dict[Any, GroupTask] = {}
    try:
        while True:
            if not waiting and more is not None and len(pending) < capacity:
                waiting = list(reversed(more()))
            if not (waiting or pending):
                break
            while waiting and len(pending) < capacity:
                task = waiting.pop()
                shipped = replace(task, data_bytes=Path(str(task.data_path)).read_bytes())
                pending[remote.remote(shipped)] = task
                on_start(task)
            done, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            for ref in done:
                task = pending.pop(ref)
                try:
                    results, packed = ray.get(ref)
                except Exception as error:  # reported per point; the sweep goes on
                    on_done(failed_group(task, getattr(error, "cause", None) or error))
                    continue
                unpack_runs(packed, Path(task.sweep_dir), {p.folder for p in task.places})
                on_done(results)
    except BaseException:
        for ref in pending:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        raise


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--ray: Ray is not installed; install it with pip install 'densecli[ray]' "
            "(or pip install ray), or run without --ray"
        ) from None
    return ray


def cluster_for(address: str | None, workers: int, stack: contextlib.ExitStack[Any]) -> Any:
    """The Ray session a search runs on (closed with `stack`), or None to run locally."""
    return None if address is None else stack.enter_context(ray_session(address, workers))
