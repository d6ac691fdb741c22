"""Small pieces every table shares: a title that never wraps, numbers and percentages."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def titled_table(title: str) -> Table:
    """A table whose title never wraps onto two lines when the columns are narrow."""
    return Table(title=title, title_justify="left", min_width=len(title) + 2)


def right_aligned_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> Table:
    """A titled table of numbers (every column right-aligned), one row per item."""
    table = titled_table(title)
    for column in columns:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*row)
    return table


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def points(value: float, reference: float | None) -> str:
    return "—" if reference is None else f"{100 * (value - reference):+.1f} pts"


def to_markdown(cells: list[dict[str, str]]) -> str:
    if not cells:
        return "_no runs_\n"
    header = list(cells[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row[h] for h in header) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def print_line(console: Console, text: str) -> None:
    """Plain text, never read as markup, wrapped only by the terminal."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def render_footer(console: Console, metrics: dict[str, Any], run_dir: Path) -> None:
    console.print(
        f"Training took {metrics['train_seconds']:.1f} s ({metrics['engine']} engine, "
        f"{metrics['models']} model{'s' if metrics['models'] > 1 else ''}). "
        f"Run saved to {run_dir}",
        highlight=False,
        soft_wrap=True,
    )
