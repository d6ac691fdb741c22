"""Run folders: their format (one owner, `_files`), writing them safely, reading them back,
comparing finished runs and listing the ones that stopped early. No TensorFlow here."""

from pathlib import Path

from densecli.runs import files
from densecli.runs._compare import (
    FORMATS,
    Mode,
    OutputFormat,
    RunRow,
    SortKey,
    by_task,
    collect_runs,
    describe_order,
    render_text,
    select_runs,
    sort_keys,
    sweep_folders,
    table_rows,
    write_tables,
)
from densecli.runs._environment import environment, this_command
from densecli.runs._folder import RunFolder, StoppedRun
from densecli.runs._naming import (
    REFIT_SUFFIX,
    STAMP_FORMAT,
    folder_stem,
    now,
    refit_name,
    reserve_folder,
    trial_name,
    trial_number,
)
from densecli.runs._space import estimate_bytes, preflight
from densecli.runs._unfinished import UnfinishedRun, collect_unfinished, unfinished_cells
from densecli.runs.files import SavedRun, load_run, read_run

# Where runs go unless --runs-dir says otherwise.
DEFAULT_RUNS_DIR = Path("runs")

__all__ = [
    "DEFAULT_RUNS_DIR",
    "FORMATS",
    "REFIT_SUFFIX",
    "STAMP_FORMAT",
    "Mode",
    "OutputFormat",
    "RunFolder",
    "RunRow",
    "SavedRun",
    "SortKey",
    "StoppedRun",
    "UnfinishedRun",
    "by_task",
    "collect_runs",
    "collect_unfinished",
    "describe_order",
    "environment",
    "estimate_bytes",
    "files",
    "folder_stem",
    "load_run",
    "now",
    "preflight",
    "read_run",
    "refit_name",
    "render_text",
    "reserve_folder",
    "select_runs",
    "sort_keys",
    "sweep_folders",
    "table_rows",
    "this_command",
    "trial_name",
    "trial_number",
    "unfinished_cells",
    "write_tables",
]
