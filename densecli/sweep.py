"""Running a sweep: points grouped into engine bundles, groups run by worker processes or Ray.

A sweep folder `<runs>/<time>-<name>-sweep/` holds `sweep.json` (the definition, the CV
protocol and every point's values), one ordinary CV run folder per point (so `densecli
compare` works on it), and `results.csv` / `results.md`, rewritten as points finish.

Points that build the same network (`bundle_key`) train together as one compiled bundle:
they may differ in seed, initializers, preprocessing and class weights, which every job
carries itself. Groups run in `--workers` processes, or as Ray tasks (`--ray`), each task
training one group into run folders. Which points share a group depends only on the points
and the worker count, so a Ray sweep trains exactly the bundles a local one does.

`--resume` keeps every finished (or failed) point of a sweep folder and trains the rest;
a point that was interrupted, or whose process died, is trained again from the start.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from densecli.compare import write_atomically
from densecli.errors import ConfigError, DensecliError, RunsError
from densecli.spec import Spec
from densecli.sweepfile import Point, Sweep

SWEEP_FILE = "sweep.json"
# Per job, not per bundle: the compiled engine gives every job its own of these.
PER_JOB_LAYER_KEYS = ("kernel_initializer", "bias_initializer")
PER_JOB_TRAIN_KEYS = ("class_weight", "tensorboard")

Status = Literal["done", "failed"]


@dataclass(frozen=True)
class Protocol:
    """How every point is trained: the CV repeats, seeds per fold and the engine."""

    repeats: int = 1
    seeds: int = 1
    engine: str = "compiled"


@dataclass(frozen=True)
class SweepRequest:
    """What `densecli sweep` was asked for."""

    source: Path  # a sweep file, a spec (with grid_options), or a sweep folder to resume
    overrides: tuple[str, ...]
    grid_options: tuple[str, ...]
    runs_dir: Path
    data: Path | None
    protocol: Protocol
    workers: int
    resume: bool
    ray: str | None
    max_points: int = 10_000  # refuse a grid of more points than this, before making them


@dataclass(frozen=True)
class GroupTask:
    """One engine bundle's worth of points, as plain data a worker process or Ray task takes."""

    sweep_dir: str
    points: list[tuple[int, Spec]]  # (point number, its validated spec)
    data_path: str | None
    protocol: Protocol
    data_bytes: bytes | None = None  # for Ray workers that may not see data_path
    command: tuple[str, ...] = ()  # the sweep's command line, for each run's env.json


@dataclass(frozen=True)
class PointResult:
    number: int
    status: Status
    run: str | None  # the run folder's name inside the sweep folder
    accuracy: float | None
    message: str = ""


def bundle_key(spec: Spec) -> str:
    """Specs with equal keys build the same network and can train as one compiled bundle."""
    resolved = spec.resolved()
    layers = [
        {k: v for k, v in layer.items() if k not in PER_JOB_LAYER_KEYS}
        for layer in resolved["model"]["layers"]
    ]
    train = {k: v for k, v in resolved["train"].items() if k not in PER_JOB_TRAIN_KEYS}
    # cv.folds too: folds of another size would pad the smaller jobs' epochs with extra steps.
    shared = [layers, train, resolved["data"], resolved["cv"]]
    return json.dumps(shared, sort_keys=True)


def check_with_keras(points: list[Point], n_features: int) -> None:
    """Let Keras resolve every point's names and parameters (optimizer, initializers,
    activations), once per distinct network and optimizer, before anything trains."""
    from densecli.model import build_model, compile_model

    problems: list[str] = []
    seen: set[str] = set()
    for point in points:
        key = bundle_key(point.spec) + json.dumps(
            [
                [layer.kernel_initializer, layer.bias_initializer]
                for layer in point.spec.model.layers
            ],
            default=str,
        )
        if key in seen:
            continue
        seen.add(key)
        try:
            compile_model(build_model(point.spec, n_features), point.spec)
        except ConfigError as err:
            problems += [f"point {point.label} ({point.describe()}): {p}" for p in err.problems]
    if problems:
        raise ConfigError(*problems, "nothing was trained; fix the grid or the base spec")


def plan_groups(points: list[Point], workers: int) -> list[list[Point]]:
    """Points with equal bundle keys form a group; while there are fewer groups than
    workers, the largest group is halved so that every worker has a bundle to train."""
    by_key: dict[str, list[Point]] = {}
    for point in points:
        by_key.setdefault(bundle_key(point.spec), []).append(point)
    groups = list(by_key.values())
    while groups and len(groups) < workers:
        largest = max(groups, key=len)
        if len(largest) < 2:
            break
        groups.remove(largest)
        half = (len(largest) + 1) // 2
        groups += [largest[:half], largest[half:]]
    return sorted(groups, key=lambda group: group[0].number)


# --- the sweep folder ----------------------------------------------------------------------


@dataclass(frozen=True)
class SweepFolder:
    path: Path

    @classmethod
    def create(
        cls, runs_dir: Path, sweep: Sweep, protocol: Protocol, data: Path | None, sha256: str
    ) -> SweepFolder:
        stamp = f"{datetime.now().astimezone():%Y%m%d-%H%M%S}-{sweep.name}-sweep"
        try:
            runs_dir.mkdir(parents=True, exist_ok=True)
            path = _new_folder(runs_dir, stamp)
        except OSError as err:
            raise RunsError(
                f"{runs_dir}: cannot create the sweep folder ({err.strerror}); "
                "pick another folder with --runs-dir"
            ) from None
        folder = cls(path)
        record = {
            "definition": sweep.definition(),
            "protocol": asdict(protocol),
            "data": None if data is None else str(data.resolve()),  # --data, if given
            "data_sha256": sha256,
            "points": [
                {"point": p.label, "values": p.values, "name": p.spec.name} for p in sweep.points
            ],
            "created": datetime.now().astimezone().isoformat(),
        }
        write_atomically(path / SWEEP_FILE, json.dumps(record, indent=2) + "\n")
        return folder

    def record(self) -> dict[str, Any]:
        try:
            loaded = json.loads((self.path / SWEEP_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise RunsError(
                f"{self.path}: not a readable sweep folder ({SWEEP_FILE}: {err}); "
                "pass a folder made by densecli sweep"
            ) from None
        return dict(loaded)

    def check_same_data(self, sha256s: set[str]) -> None:
        """A resumed sweep trains its remaining points on the data its first ones had."""
        recorded = self.record().get("data_sha256")
        if recorded is not None and sha256s != {recorded}:
            raise ConfigError(
                f"{self.path}: this sweep trained on data with sha256 {recorded[:12]}…, not on "
                "the file found now; resume with the same --data (or DENSECLI_DATA_DIR)"
            )

    def finished(self) -> dict[str, Path]:
        """Point spec name → its run folder, for every point that finished or failed."""
        from densecli.unfinished import is_unfinished

        found = {}
        for folder in sorted(p for p in self.path.iterdir() if p.is_dir()):
            if folder.name.startswith("."):
                continue
            failed = folder.name.endswith(".failed")
            if is_unfinished(folder) and not failed:
                continue
            name = _run_spec_name(folder)
            if name is not None and (failed or (folder / "metrics.json").is_file()):
                found[name] = folder
        return found

    def clear_leftovers(self, redo: set[str]) -> list[str]:
        """Remove what interrupted or killed points left, before they train again."""
        from densecli.unfinished import collect_unfinished

        removed = []
        for leftover in collect_unfinished(self.path):
            folder = self.path / leftover.run
            if leftover.status == "failed":
                continue
            name = _run_spec_name(folder)
            if leftover.status == "abandoned" or name in redo:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(leftover.run)
        return removed


def _new_folder(runs_dir: Path, stamp: str) -> Path:
    """`stamp`, or `stamp-2`, `stamp-3`, …: a folder no other sweep has (mkdir is atomic)."""
    for attempt in range(1, 1000):
        path = runs_dir / (stamp if attempt == 1 else f"{stamp}-{attempt}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RunsError(f"{runs_dir}: could not find a free name for {stamp}")


def _run_spec_name(folder: Path) -> str | None:
    import yaml

    try:
        config = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
        return str(config["name"])
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError):
        return None


def find_sweep_to_resume(runs_dir: Path, sweep: Sweep, protocol: Protocol) -> SweepFolder:
    """The newest sweep folder in runs_dir made from this same definition and protocol."""
    wanted = json.loads(json.dumps({"d": sweep.definition(), "p": asdict(protocol)}))
    candidates = sorted(runs_dir.glob("*-sweep*"), reverse=True) if runs_dir.is_dir() else []
    for path in candidates:
        if not (path / SWEEP_FILE).is_file():
            continue
        record = SweepFolder(path).record()
        if {"d": record.get("definition"), "p": record.get("protocol")} == wanted:
            return SweepFolder(path)
    raise RunsError(
        f"{runs_dir}: no sweep folder of {sweep.source} with these options to resume; "
        "run without --resume to start it, or pass the sweep folder itself"
    )


@dataclass(frozen=True)
class SweepJob:
    """A validated sweep, the folder it trains into, and where each point's data is."""

    sweep: Sweep
    folder: SweepFolder | None  # None until a new sweep's folder is made
    protocol: Protocol
    data_paths: dict[int, Path]  # point number → the data file prepare() found
    estimated_bytes: int  # the runs' size on disk, for the preflight check
    data_sha256: str = ""
    n_features: int = 0

    @property
    def sweep_folder(self) -> SweepFolder:
        assert self.folder is not None, "the sweep folder is made before training"
        return self.folder

    def task(self, group: list[Point]) -> GroupTask:
        data_path = self.data_paths[group[0].number]  # equal within a group: data is in the key
        return GroupTask(
            str(self.sweep_folder.path),
            [(p.number, p.spec) for p in group],
            str(data_path),
            self.protocol,
            command=(Path(sys.argv[0]).name, *sys.argv[1:]),
        )


# --- one group, in whatever process runs it ------------------------------------------------


class _Silent:
    """A Progress for worker processes: the sweep's display counts points, not epochs."""

    def describe(self, label: str) -> None:
        pass

    def advance(self, model_epochs: int, logs: dict[str, float]) -> None:
        pass


def run_group(task: GroupTask) -> list[PointResult]:
    """Train one group's points as one bundle into run folders in task.sweep_dir."""
    from densecli.watch import signals_as_interrupts

    with signals_as_interrupts():  # from the start: Ctrl-C during start-up stops it too
        return train_group(task)


def train_group(task: GroupTask) -> list[PointResult]:
    """run_group without its signal handling: a sweep worker installs its own."""
    from densecli.backend import import_keras, prefer_threads_for
    from densecli.experiment import Outcome, Plan, prepare, run_cv_together, step_macs

    # The run records (env.json) name the command that made them: the sweep's, not the
    # worker's own (a Ray worker's argv is Ray's).
    sys.argv = list(task.command)
    notices: list[str] = []
    protocol = task.protocol
    plan = Plan(protocol.engine, protocol.repeats, protocol.seeds, notices.append)  # type: ignore[arg-type]
    data_path = Path(task.data_path) if task.data_path else None
    experiments = [prepare(spec, data_path) for _, spec in task.points]
    models = experiments[0].spec.cv.folds * protocol.repeats * protocol.seeds
    prefer_threads_for(sum(step_macs(e.spec, e.data.n_features, models) for e in experiments))
    import_keras().backend.clear_session()  # each group starts from a fresh Keras state
    outcomes = run_cv_together(experiments, Path(task.sweep_dir), _Silent(), plan)
    message = "; ".join(dict.fromkeys(notices))
    results = []
    for (number, _), outcome in zip(task.points, outcomes, strict=True):
        if isinstance(outcome, Outcome):
            accuracy = float(outcome.metrics["accuracy"])
            results.append(PointResult(number, "done", outcome.run_dir.name, accuracy, message))
        else:
            results.append(PointResult(number, "failed", None, None, " ".join(outcome.problems)))
    return results


def failed_group(task: GroupTask, error: BaseException) -> list[PointResult]:
    """A group whose worker raised (not an interruption): its points fail, the sweep goes on."""
    problems = getattr(error, "problems", None) or [f"{type(error).__name__}: {error}"]
    return [PointResult(n, "failed", None, None, " ".join(problems)) for n, _ in task.points]


def run_group_packed(task: GroupTask) -> tuple[list[PointResult], bytes]:
    """For Ray: train into a scratch folder on the worker and return the run folders packed,
    so the cluster's nodes need no shared filesystem (the data travels with the task)."""
    import io
    import tarfile
    import tempfile

    with tempfile.TemporaryDirectory(prefix="densecli-ray-") as scratch:
        data_path = task.data_path
        if task.data_bytes is not None and not (data_path and Path(data_path).is_file()):
            data_path = str(Path(scratch) / "data.csv")
            Path(data_path).write_bytes(task.data_bytes)
        runs = Path(scratch) / "runs"
        runs.mkdir()
        local = GroupTask(str(runs), task.points, data_path, task.protocol, None, task.command)
        results = run_group(local)
        packed = io.BytesIO()
        with tarfile.open(fileobj=packed, mode="w:gz") as archive:
            for folder in sorted(runs.iterdir()):
                if not folder.name.startswith("."):
                    archive.add(folder, arcname=folder.name)
    return results, packed.getvalue()


def unpack_runs(packed: bytes, sweep_dir: Path) -> None:
    """Move a Ray task's run folders into the sweep folder, each appearing whole."""
    import io
    import tarfile
    import tempfile

    with tempfile.TemporaryDirectory(prefix=".unpack-", dir=sweep_dir) as scratch:
        with tarfile.open(fileobj=io.BytesIO(packed), mode="r:gz") as archive:
            archive.extractall(scratch, filter="data")
        for folder in sorted(Path(scratch).iterdir()):
            os.replace(folder, sweep_dir / folder.name)


# --- running the groups --------------------------------------------------------------------


OnResult = Callable[[list[PointResult]], None]
OnStart = Callable[[GroupTask], None]


def run_local(tasks: list[GroupTask], workers: int, on_start: OnStart, on_done: OnResult) -> None:
    """Groups in worker processes the sweep owns (densecli.sweepworkers); each worker imports
    TensorFlow once and trains groups. An interruption stops them all within a bounded time."""
    from densecli import sweepworkers

    sweepworkers.run_local(tasks, workers, on_start, on_done)


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


def run_ray(ray: Any, tasks: list[GroupTask], on_start: OnStart, on_done: OnResult) -> None:
    """Each group as a Ray task; results arrive as packed run folders, unpacked here."""
    remote = ray.remote(num_cpus=1)(run_group_packed)
    # As many tasks in flight as the cluster has CPUs: what is submitted is what runs.
    capacity = max(1, int(ray.cluster_resources().get("CPU", 1)))
    waiting = list(reversed(tasks))
    pending: dict[Any, GroupTask] = {}
    try:
        while waiting or pending:
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
                unpack_runs(packed, Path(task.sweep_dir))
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
