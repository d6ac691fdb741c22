"""Runs that are not results: interrupted, failed, or abandoned by a process that died.

`compare` never ranks them (`collect_runs` skips them) and shows them in a table of their own,
so a stopped run can be found and understood but never read as a result. Files only: no
TensorFlow.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from densecli.runs.files import STATUS, is_unfinished, read_json


@dataclass(frozen=True)
class UnfinishedRun:
    run: str  # folder name
    status: str  # interrupted | failed | abandoned
    reason: str
    epochs: str  # "12 of 2000", or "" when unknown


def _read_unfinished(folder: Path) -> UnfinishedRun:
    status: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        loaded = read_json(folder / STATUS)
        status = loaded if isinstance(loaded, dict) else {}
    done, planned = status.get("epochs_done"), status.get("epochs_planned")
    return UnfinishedRun(
        run=folder.name,
        status=str(status.get("status") or folder.suffix.lstrip(".") or "unknown"),
        reason=str(status.get("reason") or f"no readable {STATUS}"),
        epochs=f"{done} of {planned}" if done is not None and planned is not None else "",
    )


def _abandoned(folder: Path) -> UnfinishedRun | None:
    """A hidden scratch run whose writer (its pid is in the name) no longer runs here."""
    match = re.search(r"\.pid(\d+)\.[^.]*$", folder.name)
    if match is None:
        return None
    pid = int(match.group(1))
    try:
        os.kill(pid, 0)
        if not _zombie(pid):
            return None  # still writing
    except ProcessLookupError:
        pass
    except (OSError, OverflowError):
        return None  # someone else's live process, or not a pid at all
    return UnfinishedRun(
        folder.name, "abandoned", "its process died while training (kill -9, crash)", ""
    )


def _zombie(pid: int) -> bool:
    """Killed but not yet reaped by its parent: it will never write again."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def collect_unfinished(runs_dir: Path) -> list[UnfinishedRun]:
    """Runs that stopped early, and scratch folders left by a process that died: not results."""
    if not runs_dir.is_dir():
        return []
    found = []
    for folder in sorted(p for p in runs_dir.iterdir() if p.is_dir()):
        if folder.name.startswith("."):
            abandoned = _abandoned(folder)
            found += [abandoned] if abandoned else []
        elif is_unfinished(folder):
            found.append(_read_unfinished(folder))
    return found


def unfinished_cells(unfinished: list[UnfinishedRun]) -> list[dict[str, str]]:
    return [
        {"run": u.run, "status": u.status, "epochs": u.epochs, "reason": u.reason}
        for u in unfinished
    ]
