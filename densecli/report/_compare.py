"""`densecli compare`: which runs, in which order, in which format, and a plot.

Runs of different tasks (classification, regression) are listed apart; without a sort key
each task's runs are ranked by its own score. compare.csv and compare.md always hold every
run; the terminal shows what fits. Reads files only: no TensorFlow.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from densecli import runs
from densecli.report._nested import nested_summaries, render_nested_summaries
from densecli.report._plots import write_comparison_plot
from densecli.report._tables import render_compare, render_unfinished
from densecli.report._terminal import Terminal
from densecli.runs import Mode, OutputFormat, RunRow, SortKey
from densecli.runs.files import RESULTS_MD
from densecli.tables import print_line

# A terminal table of a thousand runs takes longer to draw than to read them all, and nobody
# reads it; compare.csv and compare.md always hold every run.
TERMINAL_ROWS = 50


@dataclass(frozen=True)
class CompareRequest:
    """What `densecli compare` was asked for."""

    runs_dir: Path
    fmt: OutputFormat = "table"
    sort: SortKey | None = None  # None: each task's own score
    mode: Mode | None = None
    top: int | None = None
    plot: Path | None = None
    wide: bool = False  # every column, however wide the terminal


def compare_runs(request: CompareRequest, terminal: Terminal | None = None) -> None:
    """compare.csv and compare.md in the runs folder; the table (or csv, markdown, json on
    stdout, for tools); a plot when asked."""
    terminal = terminal or Terminal.open()
    runs_dir, sort, mode, top = request.runs_dir, request.sort, request.mode, request.top
    rows, warnings = runs.collect_runs(runs_dir)
    for warning in warnings:
        terminal.notice(f"warning: {warning}")
    groups = [runs.select_runs(group, sort, mode, top) for group in runs.by_task(rows)]
    groups = [group for group in groups if group]
    cells = [runs.table_rows(group) for group in groups]
    unfinished = runs.collect_unfinished(runs_dir)  # interrupted, failed, abandoned: never ranked
    written = runs.write_tables(runs_dir, cells, unfinished)
    titles = [_order_title(group, sort, mode, len(groups) > 1) for group in groups]
    if request.plot is not None:
        chosen = groups[0] if groups else []
        written.append(write_comparison_plot(chosen, request.plot, titles[0] if titles else ""))
    if request.fmt != "table":
        shown_rows = [row for group in groups for row in group]
        sys.stdout.write(runs.render_text(cells, shown_rows, request.fmt))  # clean for pipes
        terminal.notice("Written: " + ", ".join(map(str, written)))
        return
    console = Console(width=100_000) if request.wide else terminal.wide
    if not groups:
        render_compare(console, [], written)
    for group, group_cells, title in zip(groups, cells, titles, strict=True):
        shown = title + (f" (top {top})" if top else "")
        _render_group(console, group, group_cells, shown, request.wide)
    if groups:
        print_line(console, "Written: " + ", ".join(str(p) for p in written))
    render_unfinished(console, runs.unfinished_cells(unfinished))
    render_nested_summaries(console, nested_summaries(runs_dir))
    for sweep in runs.sweep_folders(runs_dir):
        print_line(
            console,
            f"Sweep {sweep.name}: its points are runs of their own; "
            f"see {sweep / RESULTS_MD} or densecli compare {sweep}",
        )


def _order_title(rows: list[RunRow], sort: str | None, mode: str | None, named: bool) -> str:
    view = rows[0].view
    return runs.describe_order(sort or view.score.key, mode, view.name if named else "")


def _render_group(
    console: Console, rows: list[RunRow], cells: list[dict[str, str]], title: str, wide: bool
) -> None:
    view = rows[0].view
    note = view.compare_note(view.shared_references([r.metrics for r in rows]))
    scores = list(view.compare_cells(rows[0].metrics, {}))[:3]  # what matters when narrow
    narrow = ("run", "mode", *[c for c in cells[0] if c in scores or c.startswith("vs ")][:3])
    render_compare(console, cells[:TERMINAL_ROWS], [], title, note, narrow, wide)
    if len(cells) > TERMINAL_ROWS:
        print_line(
            console,
            f"Showing the first {TERMINAL_ROWS} of {len(cells)} runs; all are in the "
            "compare files.",
        )
