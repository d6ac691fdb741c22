"""Where a command's output goes: results on stdout, progress and notices on stderr.

A terminal sizes itself, and $COLUMNS sizes piped output; piped output without it gets room
for compare's twelve columns and an uncut progress bar.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from rich.console import Console

from densecli.tables import print_line

PIPED_WIDTH = 200  # columns of piped output when $COLUMNS does not say


def _sized(console: Console, stderr: bool = False) -> Console:
    if console.is_terminal or os.environ.get("COLUMNS", "").isdigit():
        return console
    return Console(stderr=stderr, width=max(console.width, PIPED_WIDTH))


@dataclass(frozen=True)
class Terminal:
    """The streams a command writes to, made when the command starts (a test's runner
    replaces sys.stdout before that): `out` for a run's tables, `wide` for tables of many
    columns (compare, sweeps, tunes), `err` for progress and notices."""

    out: Console
    wide: Console
    err: Console

    @classmethod
    def open(cls) -> Terminal:
        return cls(Console(), _sized(Console()), _sized(Console(stderr=True), stderr=True))

    def notice(self, message: str) -> None:
        """One line on stderr, never read as markup: stdout stays clean for pipes."""
        print_line(self.err, message)
