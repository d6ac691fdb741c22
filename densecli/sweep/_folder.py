"""A sweep folder: `sweep.json` (definition, plan, points, data checksum), one CV run folder
per point, and the results tables; finding the points that finished, for `--resume`."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from densecli.errors import ConfigError, RunsError
from densecli.experiment import Plan
from densecli.runs import collect_unfinished
from densecli.runs.files import (
    FAILED_SUFFIX,
    METRICS,
    SWEEP,
    is_sweep,
    is_unfinished,
    read_json,
    spec_name,
    write_json,
)
from densecli.sweep._definition import Sweep


@dataclass(frozen=True)
class SweepFolder:
    path: Path

    @classmethod
    def create(
        cls, runs_dir: Path, sweep: Sweep, plan: Plan, data: Path | None, sha256: str
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
            "protocol": asdict(plan),
            "data": None if data is None else str(data.resolve()),  # --data, if given
            "data_sha256": sha256,
            "points": [
                {"point": p.label, "values": p.values, "name": p.spec.name} for p in sweep.points
            ],
            "created": datetime.now().astimezone().isoformat(),
        }
        write_json(path / SWEEP, record)
        return folder

    def record(self) -> dict[str, Any]:
        try:
            loaded = read_json(self.path / SWEEP)
        except (OSError, ValueError) as err:
            raise RunsError(
                f"{self.path}: not a readable sweep folder ({SWEEP}: {err}); "
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
        found = {}
        for folder in sorted(p for p in self.path.iterdir() if p.is_dir()):
            if folder.name.startswith("."):
                continue
            failed = folder.name.endswith(FAILED_SUFFIX)
            if is_unfinished(folder) and not failed:
                continue
            name = spec_name(folder)
            if name is not None and (failed or (folder / METRICS).is_file()):
                found[name] = folder
        return found

    def clear_leftovers(self, redo: set[str]) -> list[str]:
        """Remove what interrupted or killed points left, before they train again."""
        removed = []
        for leftover in collect_unfinished(self.path):
            folder = self.path / leftover.run
            if leftover.status == "failed":
                continue
            name = spec_name(folder)
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


def find_sweep_to_resume(runs_dir: Path, sweep: Sweep, plan: Plan) -> SweepFolder:
    """The newest sweep folder in runs_dir made from this same definition and protocol."""
    wanted = json.loads(json.dumps({"d": sweep.definition(), "p": asdict(plan)}))
    candidates = sorted(runs_dir.glob("*-sweep*"), reverse=True) if runs_dir.is_dir() else []
    for path in candidates:
        if not is_sweep(path):
            continue
        record = SweepFolder(path).record()
        if {"d": record.get("definition"), "p": record.get("protocol")} == wanted:
            return SweepFolder(path)
    raise RunsError(
        f"{runs_dir}: no sweep folder of {sweep.source} with these options to resume; "
        "run without --resume to start it, or pass the sweep folder itself"
    )
