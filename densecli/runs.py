"""Run folders: written in a hidden scratch folder, renamed into place only when complete.

A run never overwrites another: the final name is reserved with an atomic `mkdir`, so two
processes finishing in the same second get `…-cv` and `…-cv-2`. `compare` ignores hidden
folders, so a run that is still writing, or that died, is never counted.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from densecli import __version__
from densecli.errors import RunsError


class RunFolder:
    def __init__(self, runs_dir: Path, name: str, mode: str) -> None:
        self.runs_dir = runs_dir
        self.created = datetime.now().astimezone()
        self.base_name = f"{self.created:%Y%m%d-%H%M%S}-{name}-{mode}"
        try:
            runs_dir.mkdir(parents=True, exist_ok=True)
            self.path = Path(tempfile.mkdtemp(prefix=f".{self.base_name}.", dir=runs_dir))
        except OSError as err:
            raise RunsError(
                f"{runs_dir}: cannot write run records here ({err.strerror}); "
                "pick another folder with --runs-dir"
            ) from None

    def write_yaml(self, name: str, data: Any) -> None:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        (self.path / name).write_text(text, encoding="utf-8")

    def write_json(self, name: str, data: Any) -> None:
        (self.path / name).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")

    def file(self, name: str) -> Path:
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def finish(self) -> Path:
        """Move the complete run into place under a name no other run has."""
        for attempt in range(1, 1000):
            suffix = "" if attempt == 1 else f"-{attempt}"
            final = self.runs_dir / f"{self.base_name}{suffix}"
            try:
                final.mkdir()  # reserves the name; rename then replaces our own empty folder
            except FileExistsError:
                continue
            os.replace(self.path, final)
            return final
        raise RunsError(f"{self.runs_dir}: could not find a free name for {self.base_name}")

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def git_commit(cwd: Path) -> str | None:
    try:
        found = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if found.returncode != 0:
        return None
    return found.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def environment(seed: int, library_versions: dict[str, str]) -> dict[str, Any]:
    """What is needed to repeat a run: versions, platform, seed, command line, commit."""
    return {
        "densecli": __version__,
        "python": platform.python_version(),
        **library_versions,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "seed": seed,
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "cwd": str(Path.cwd()),
        "git_commit": git_commit(Path.cwd()),
    }
