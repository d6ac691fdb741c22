"""A tune folder: `tune.json` (definition, protocol, options, data checksum), `study.db`,
one CV run folder per trial, the results; what a batch needs to train into it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from densecli.errors import RunsError
from densecli.experiment import Plan
from densecli.runs.files import METRICS, TUNE, is_unfinished, read_json, spec_name
from densecli.sweep._space import Space


@dataclass(frozen=True)
class TuneSetup:
    """A validated search, its folder and everything a batch needs."""

    space: Space
    folder: Path
    plan: Plan
    data_path: Path
    seed: int
    maximize: bool
    epochs: int
    validation: bool
    options: dict[str, Any]


def read_record(folder: Path) -> dict[str, Any]:
    try:
        return dict(read_json(folder / TUNE))
    except (OSError, ValueError) as err:
        raise RunsError(
            f"{folder}: not a readable tune folder ({TUNE}: {err}); pass a folder made by "
            "densecli tune"
        ) from None


def trial_folders(folder: Path) -> dict[str, Path]:
    """Spec name → its run folder (finished, pruned or failed; not interrupted)."""
    found: dict[str, Path] = {}
    for path in sorted(p for p in folder.iterdir() if p.is_dir()):
        if path.name.startswith(".") or path.name.endswith(".interrupted"):
            continue
        name = spec_name(path)
        if name is not None and ((path / METRICS).is_file() or is_unfinished(path)):
            found[name] = path
    return found
