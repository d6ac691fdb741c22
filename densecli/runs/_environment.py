"""What is needed to repeat a run: versions, platform, seed, command line, git commit."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from densecli import __version__


def this_command() -> tuple[str, ...]:
    """The command line of this process, as a run records it."""
    return (Path(sys.argv[0]).name, *sys.argv[1:])


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


def environment(
    seed: int, library_versions: dict[str, str], command: Sequence[str]
) -> dict[str, Any]:
    """What is needed to repeat a run: versions, platform, seed, command line, commit."""
    return {
        "densecli": __version__,
        "python": platform.python_version(),
        **library_versions,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "seed": seed,
        "command": list(command),
        "cwd": str(Path.cwd()),
        "git_commit": git_commit(Path.cwd()),
    }
