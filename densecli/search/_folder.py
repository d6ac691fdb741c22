"""A search folder, sweep or tune alike: its record (`sweep.json` or `tune.json`: definition,
protocol, data checksum, the search's own options), one CV run folder per point, the results;
finding it again to resume, and clearing what stopped points left.

Its name is made by `densecli.runs` as every folder's is: `<time>-<name>-sweep` or `-tune`.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

from densecli.errors import ConfigError, RunsError
from densecli.experiment import Plan
from densecli.runs import collect_unfinished, folder_stem, now, reserve_folder
from densecli.runs.files import (
    FAILED_SUFFIX,
    INTERRUPTED_SUFFIX,
    METRICS,
    PRUNED_SUFFIX,
    SEARCH_RECORDS,
    TUNE_LOCK,
    SearchKind,
    read_json,
    spec_name,
    write_json,
)
from densecli.search._file import (
    Definition,
    Reading,
    definition_from_record,
    read_definition,
)
from densecli.search._request import SearchRequest

_GOES_ON = {"sweep": "finish", "tune": "continue"}  # what --resume does to each


@dataclass(frozen=True)
class SearchFolder:
    path: Path
    kind: SearchKind

    @classmethod
    def create(
        cls, runs_dir: Path, kind: SearchKind, name: str, record: dict[str, Any]
    ) -> SearchFolder:
        """A new folder named after the search, with its record written first."""
        created = now()
        try:
            runs_dir.mkdir(parents=True, exist_ok=True)
            path = reserve_folder(runs_dir, folder_stem(created, name, kind))
        except OSError as err:
            raise RunsError(
                f"{runs_dir}: cannot create the {kind} folder ({err.strerror}); "
                "pick another folder with --runs-dir"
            ) from None
        write_json(path / SEARCH_RECORDS[kind], {**record, "created": created.isoformat()})
        return cls(path, kind)

    def record(self) -> dict[str, Any]:
        name = SEARCH_RECORDS[self.kind]
        try:
            return dict(read_json(self.path / name))
        except (OSError, ValueError) as err:
            raise RunsError(
                f"{self.path}: not a readable {self.kind} folder ({name}: {err}); "
                f"pass a folder made by densecli {self.kind}"
            ) from None

    def hold(self, why: str) -> IO[str]:
        """This process's hold on the folder (an exclusive `flock` on its lock file, which
        records who holds it), until the returned file is closed or the process ends, however
        it ends. Another process's hold is refused with one line naming it and `why`."""
        path = self.path / TUNE_LOCK
        handle = path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise RunsError(f"{self.path}: {holder} is running this {self.kind}; {why}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()} (since {now():%H:%M:%S})\n")
        handle.flush()
        return handle

    def resume_line(self) -> str:
        """The folder, and the command that takes it up again (said when a search stops)."""
        return (
            f"{self.path}; {_GOES_ON[self.kind]} it with: densecli {self.kind} {self.path} --resume"
        )

    def check_same_data(self, sha256s: set[str]) -> None:
        """A resumed search trains its remaining points on the data its first ones had."""
        recorded = self.record().get("data_sha256")
        if recorded is not None and sha256s != {recorded}:
            raise ConfigError(
                f"{self.path}: this {self.kind} trained on data with sha256 {recorded[:12]}…, "
                "not on the file found now; resume with the same --data (or DENSECLI_DATA_DIR)"
            )

    def runs(self) -> dict[str, Path]:
        """Spec name → its run folder, for every point that finished, failed or was pruned
        (an interrupted one trains again)."""
        found = {}
        for folder in sorted(p for p in self.path.iterdir() if p.is_dir()):
            if folder.name.startswith(".") or folder.name.endswith(INTERRUPTED_SUFFIX):
                continue
            stopped = folder.name.endswith((FAILED_SUFFIX, PRUNED_SUFFIX))
            name = spec_name(folder)
            if name is not None and (stopped or (folder / METRICS).is_file()):
                found[name] = folder
        return found

    def clear_leftovers(self, redo: set[str]) -> list[str]:
        """Remove what interrupted or killed points left (scratch folders of dead processes,
        stopped runs of the points in `redo`) before those train again; failed runs stay."""
        removed = []
        for leftover in collect_unfinished(self.path):
            folder = self.path / leftover.run
            if leftover.status == "failed":
                continue
            if leftover.status == "abandoned" or spec_name(folder) in redo:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(leftover.run)
        return removed


def find_to_resume(
    runs_dir: Path, kind: SearchKind, definition: dict[str, Any], plan: Plan, source: str
) -> SearchFolder:
    """The newest folder of this kind in runs_dir made from this definition and protocol."""
    wanted = json.loads(json.dumps({"d": definition, "p": asdict(plan)}))
    candidates = sorted(runs_dir.glob(f"*-{kind}*"), reverse=True) if runs_dir.is_dir() else []
    for path in candidates:
        if not (path / SEARCH_RECORDS[kind]).is_file():
            continue
        record = SearchFolder(path, kind).record()
        if {"d": record.get("definition"), "p": record.get("protocol")} == wanted:
            return SearchFolder(path, kind)
    raise RunsError(
        f"{runs_dir}: no {kind} folder of {source} with these options to resume; "
        f"run without --resume to start it, or pass the {kind} folder itself"
    )


@dataclass(frozen=True)
class Resumed:
    """A search folder given to --resume, read back: what it recorded."""

    folder: SearchFolder
    record: dict[str, Any]
    plan: Plan
    data: Path | None


def open_to_resume(request: SearchRequest, kind: SearchKind) -> Resumed:
    """`densecli sweep|tune FOLDER --resume`: the plan and data its record names; options
    that would change the search are refused."""
    source = request.source
    folder = SearchFolder(source, kind)
    record = folder.record()  # refuses a folder that is not this kind's
    if not request.resume:
        raise ConfigError(
            f"{source}: this is a {kind} folder; add --resume to {_GOES_ON[kind]} it, or give "
            f"a {kind} file"
        )
    if request.overrides or request.grid_options:
        raise ConfigError(
            f"{source}: --set, --grid and --folds cannot change a {kind} being resumed; "
            f"start a new {kind} instead"
        )
    recorded = Plan(**record["protocol"])
    if request.plan not in (Plan(), recorded):
        raise ConfigError(
            f"{source}: a resumed {kind} keeps its own --repeats {recorded.repeats}, --seeds "
            f"{recorded.seeds} and --engine {recorded.engine}; leave those options out"
        )
    data = request.data or (Path(record["data"]) if record.get("data") else None)
    return Resumed(folder, record, recorded, data)


def data_record(data: Path | None, sha256: str) -> dict[str, Any]:
    """What a search folder records of its data: --data, if given, and the checksum."""
    return {"data": None if data is None else str(data.resolve()), "data_sha256": sha256}


R = TypeVar("R", bound=Reading)


@dataclass(frozen=True)
class Located(Generic[R]):
    """A search ready to check: its reading, and the folder it resumes (None: a new one)."""

    reading: R
    folder: SearchFolder | None
    plan: Plan
    data: Path | None


def locate(request: SearchRequest, kind: SearchKind, read: Callable[[Definition], R]) -> Located[R]:
    """The search a request names: a search file (or a spec with --grid), with --resume the
    newest folder made from it; or a search folder given to --resume, read back."""
    if request.source.is_dir():
        resumed = open_to_resume(request, kind)
        reading = read(definition_from_record(resumed.record["definition"]))
        return Located(reading, resumed.folder, resumed.plan, resumed.data)
    reading = read(read_definition(request.source, request.overrides, request.grid_options, kind))
    folder = None
    if request.resume:
        folder = find_to_resume(
            request.runs_dir, kind, reading.definition(), request.plan, reading.spec.source
        )
    return Located(reading, folder, request.plan, request.data)
