"""How every folder densecli makes is named: `<time>-<name>-<kind>`, then `-2`, `-3`, … when
another process took the name in the same second. Run, sweep and tune folders alike; a tune's
trial runs are named after their trial (`<name>-t0007`), so its number can be read back.

The name is reserved with an atomic `mkdir`, so two writers never share a folder.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from densecli.errors import RunsError

STAMP_FORMAT = "%Y%m%d-%H%M%S"  # the time at the head of every folder name
MAX_ATTEMPTS = 1000


def now() -> datetime:
    """This moment in the local time zone, as folders and records state it."""
    return datetime.now().astimezone()


def folder_stem(created: datetime, name: str, kind: str) -> str:
    """`20250101-120000-pima-tutorial-cv`: when, what and which kind of folder."""
    return f"{created:{STAMP_FORMAT}}-{name}-{kind}"


def reserve_folder(parent: Path, stem: str, ending: str = "") -> Path:
    """`parent/<stem><ending>`, or `<stem>-2<ending>`, `<stem>-3<ending>`, …: the first name
    no other folder has, made here (an OSError other than a taken name is the caller's)."""
    for attempt in range(1, MAX_ATTEMPTS):
        path = parent / f"{stem}{'' if attempt == 1 else f'-{attempt}'}{ending}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise RunsError(f"{parent}: could not find a free name for {stem}")


def trial_name(name: str, number: int, tag: str = "") -> str:
    """The spec name of a tune's trial `number`: `pima-tune-t0007`, or in a nested tune's
    outer fold `tag`, `pima-tune-o2-t0007`. At most 78 characters: a spec's name has at most 80."""
    return f"{name[: 72 - len(tag)]}{tag}-t{number:04d}"


REFIT_SUFFIX = "-refit"


def refit_name(name: str, number: int, tag: str) -> str:
    """A nested tune's refit of trial `number`, the winner of the outer fold `tag` names."""
    return f"{name[: 66 - len(tag)]}{tag}-t{number:04d}{REFIT_SUFFIX}"


def trial_number(spec_name: str) -> int | None:
    """The trial a spec name made by `trial_name` belongs to; None for any other name."""
    stem, dash, number = spec_name.rpartition("-t")
    return int(number) if dash and stem and number.isdigit() and len(number) >= 4 else None
