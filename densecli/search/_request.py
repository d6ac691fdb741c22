"""What a search was asked for: the options sweep and tune share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from densecli.experiment import DEFAULT_PLAN, Plan
from densecli.runs import DEFAULT_RUNS_DIR
from densecli.search._choices import DEFAULT_WORKERS


@dataclass(frozen=True)
class SearchRequest:
    source: Path  # a search file, a spec (with grid_options), or a search folder to resume
    overrides: tuple[str, ...] = ()
    grid_options: tuple[str, ...] = ()
    runs_dir: Path = DEFAULT_RUNS_DIR
    data: Path | None = None
    plan: Plan = DEFAULT_PLAN
    workers: int = DEFAULT_WORKERS
    resume: bool = False
    ray: str | None = None  # a Ray cluster's address, or "local"; None: local workers
    command: tuple[str, ...] = ()  # recorded in every point's env.json
    plots: bool = False  # draw every point's pictures (else `densecli show RUN --plots`)
