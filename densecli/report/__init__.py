"""What the user sees of runs: progress, tables, pictures, `show`, TensorBoard logs.

Everything here reads what a run recorded (or is told by the engine), never the data; the
task of each run (`densecli.tasks`) says which score and columns to show.
"""

from densecli.report._compare import CompareRequest, compare_runs
from densecli.report._nested import nested_markdown, read_nested, render_nested
from densecli.report._plots import write_comparison_plot, write_run_plots
from densecli.report._show import dense_parameters, render_run_folder, show_run
from densecli.report._tables import (
    EpochProgress,
    compact_table,
    natural_width,
    render_compare,
    render_run,
    render_unfinished,
    short_header,
)
from densecli.report._tensorboard import write_tensorboard_logs
from densecli.report._terminal import Terminal

__all__ = [
    "CompareRequest",
    "EpochProgress",
    "Terminal",
    "compact_table",
    "compare_runs",
    "dense_parameters",
    "natural_width",
    "nested_markdown",
    "read_nested",
    "render_compare",
    "render_nested",
    "render_run",
    "render_run_folder",
    "render_unfinished",
    "short_header",
    "show_run",
    "write_comparison_plot",
    "write_run_plots",
    "write_tensorboard_logs",
]
