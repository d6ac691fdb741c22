"""`densecli init --data FILE`: a starter spec fitted to a user's table, each choice explained.

The table is read with the same reader as training (delimiter, header, missing cells), then
each column is looked at once: columns that cannot be features (empty, ids, row numbers,
free text with more distinct values than a category may have) are dropped; text columns
will be one-hot encoded; empty cells ask for imputation. The task follows from the target,
and the output layer, loss and starting network from the task and the table's size. The
written spec is validated against the data before `init` says it is done.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from densecli.data import (
    DELIMITER_NAMES,
    MAX_CATEGORIES,
    column_index,
    column_names,
    read_numbers,
    read_table,
    sha256_of,
    split_header,
)
from densecli.errors import ConfigError
from densecli.spec import DataSpec, load_spec, schema_line, starter_name, write_new_file

# `densecli init`'s defaults: where the spec goes, and the target column (the spec's own).
INIT_PATH = Path("experiment.yaml")
INIT_TARGET = str(DataSpec.model_fields["target"].default)
# A numeric target with at most this many whole-number values is read as classes.
MAX_CLASS_VALUES = 10
# Names that say a column identifies a row rather than describes it ("Sample Number",
# "customer_id", "Ticket No", "Unnamed: 0" as pandas writes an index).
_ID_NAME = re.compile(
    r"(^|[^a-z])(id|index|key|uuid)([^a-z]|$)|(^|[^a-z])(number|no|#)$|^unnamed", re.IGNORECASE
)
_STEPS = 6000  # optimizer steps a starter aims at: seconds on this engine, enough to learn


@dataclass(frozen=True)
class Column:
    """What one column of the table holds."""

    name: str
    position: int
    text: bool  # some cell is not a number
    distinct: int
    missing: int
    whole: bool  # every number is a whole number
    sequential: bool  # whole numbers counting up by one: a row number
    smallest_class: int  # rows of its least frequent value


@dataclass(frozen=True)
class Table:
    path: Path
    columns: list[Column]
    rows: int
    target: Column
    delimiter: str
    header: bool


def _column(table: Any, position: int, name: str) -> Column:
    import pyarrow as pa
    import pyarrow.compute as pc

    cells = table.columns[position]
    numbers = read_numbers(cells)
    present = pc.filter(cells, pa.array(~numbers.missing))
    values = numbers.values[numbers.number]
    text = bool(numbers.text.any())
    whole = bool(values.size) and bool(np.all(values == np.round(values)))
    steps = np.diff(values) if values.size == table.n_rows else np.zeros(0)
    counts = pc.value_counts(present).field("counts").to_numpy(zero_copy_only=False)
    return Column(
        name=name,
        position=position,
        text=text,
        distinct=int(pc.count_distinct(present).as_py()),
        missing=int(numbers.missing.sum()),
        whole=whole,
        sequential=whole and not text and steps.size > 1 and bool(np.all(steps == 1)),
        smallest_class=int(counts.min()) if counts.size else 0,
    )


def _target(given: str, names: list[str]) -> int | str:
    """--target names a column, or numbers it (0-based, negative from the end)."""
    if given not in names and given.lstrip("-").isdigit():
        return int(given)
    return given


def read_table_summary(path: Path, target: str) -> Table:
    table = read_table(path, None, "data file; check --data", "rows of comma-separated values")
    header, body = split_header(table, "auto")
    names = column_names(path, header, body.width, sha256_of(path))
    position = column_index("--target", _target(target, names), names, str(path))
    columns = [_column(body, j, name) for j, name in enumerate(names)]
    return Table(path, columns, body.n_rows, columns[position], body.delimiter, header is not None)


def drop_reason(column: Column, rows: int) -> str | None:
    """Why a column cannot be a feature, or None."""
    if column.missing == rows:
        return "empty in every row"
    if column.distinct == 1:
        return "the same value in every row"
    if column.text and column.distinct > min(MAX_CATEGORIES, rows // 2):
        return f"text with {column.distinct} distinct values in {rows} rows: an id or free text"
    if column.text or not column.whole:
        return None
    if column.sequential:
        return "whole numbers counting up by one: a row number"
    if _ID_NAME.search(column.name):
        return "whole numbers in a column named like an id"
    return None


@dataclass(frozen=True)
class Task:
    name: str  # classification or regression
    why: str
    classes: int  # 0 for regression


def task_of(target: Column, rows: int) -> Task:
    present = rows - target.missing
    if target.text:
        return Task("classification", "the target holds text labels", target.distinct)
    if target.distinct == 2:
        return Task("classification", "the target has exactly two values", 2)
    if target.whole and target.distinct <= MAX_CLASS_VALUES and target.distinct < present:
        why = f"the target holds {target.distinct} whole-number values"
        return Task("classification", why, target.distinct)
    return Task("regression", f"the target holds {target.distinct} distinct numbers", 0)


def _flow(value: Any) -> str:
    """A value as one line of YAML (quoted when it must be)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000)
    return text.removesuffix("\n").removesuffix("\n...")


@dataclass(frozen=True)
class Choices:
    drop: list[tuple[str, str]]  # column and why
    text: list[str]
    impute: bool
    task: Task
    batch: int
    epochs: int
    steps: int  # optimizer steps of one model
    folds: int


def _folds(table: Table, task: Task) -> int:
    """10, or as many as the smallest class (a quantity: the rows) can fill."""
    if task.name == "regression":
        return max(2, min(10, table.rows - table.target.missing))
    return max(2, min(10, table.target.smallest_class))


def choose(table: Table) -> Choices:
    rows = table.rows - table.target.missing
    features = [c for c in table.columns if c is not table.target]
    drop = [(c.name, why) for c in features if (why := drop_reason(c, table.rows))]
    kept = [c for c in features if c.name not in {name for name, _ in drop}]
    if not kept:
        raise ConfigError(
            f"{table.path}: no column can be a feature ({'; '.join(w for _, w in drop)}); "
            "check --target and the file"
        )
    batch = 32 if rows <= 2000 else 128 if rows <= 20000 else 256
    batches = max(1, -(-int(rows * 0.9) // batch))
    epochs = int(np.clip(round(_STEPS / batches, -1), 10, 300))
    task = task_of(table.target, table.rows)
    return Choices(
        drop=drop,
        text=[c.name for c in kept if c.text],
        impute=any(c.missing for c in kept if not c.text),
        task=task,
        batch=batch,
        epochs=epochs,
        steps=epochs * batches,
        folds=_folds(table, task),
    )


_COMMENT_AT = 40  # the column where a line's comment starts


def _line(text: str, comment: str = "") -> str:
    """A YAML line with its comment aligned with the others'."""
    return f"{text:<{_COMMENT_AT - 1}} # {comment}" if comment else text


def _output_layer(task: Task) -> str:
    if task.name == "regression":
        return _line("    - {units: 1, activation: linear}", "one linear unit: a quantity")
    if task.classes == 2:
        return _line("    - {units: 1, activation: sigmoid}", "one unit: two classes")
    return _line(f"    - {{units: {task.classes}, activation: softmax}}", "one unit per class")


def _loss(task: Task) -> str:
    if task.name == "regression":
        return _line("  loss: mean_squared_error", "RMSE ranks runs, beside a ridge regression")
    if task.classes == 2:
        return _line("  loss: binary_crossentropy", "two classes, one sigmoid unit")
    return _line("  loss: categorical_crossentropy", "one-hot classes, softmax units")


def _shown_path(data: Path) -> str:
    """The data file as the spec names it: relative to this folder when it is below it (a
    spec's data.path is read from the folder densecli runs in)."""
    where = Path(data).resolve()
    with contextlib.suppress(ValueError):
        return str(where.relative_to(Path.cwd()))
    return str(where)


def _data_lines(table: Table, choices: Choices, data: Path) -> list[str]:
    task = choices.task
    lines = [
        "data:",
        _line(f"  path: {_flow(_shown_path(data))}"),
        _line(f"  target: {_flow(table.target.name)}", f"{task.name}: {task.why}"),
    ]
    if table.delimiter != ",":
        name = DELIMITER_NAMES[table.delimiter]
        lines.append(_line(f"  delimiter: {_flow(table.delimiter)}", f"{name}-separated"))
    if choices.drop:
        lines.append(_line("  drop:", "columns that cannot be features"))
        lines += [_line(f"    - {_flow(name)}", why) for name, why in choices.drop]
    missing = table.target.missing
    note = f"{missing} rows without a target: left out" if missing else "rows without a target"
    lines.append(_line("  missing_target: drop", note))
    return lines


def _header_lines(table: Table, choices: Choices, spec_path: Path) -> list[str]:
    text = (
        "Text columns, one-hot encoded (an input per category): " + ", ".join(choices.text)
        if choices.text
        else "Every feature column holds numbers."
    )
    return [
        schema_line(spec_path).rstrip("\n"),
        f"# Fitted to {table.path.name} by `densecli init --data`: {table.rows} rows, "
        f"target {table.target.name!r}.",
        f"# {text}",
        f"# Check it: densecli validate {spec_path}",
        f"# Run it:   densecli cv {spec_path}   (10-fold CV, beside a linear reference)",
    ]


def _folds_note(folds: int) -> str:
    return "for densecli cv" if folds == 10 else "as many as the smallest class can fill"


def fitted_text(table: Table, data: Path, spec_path: Path) -> str:
    choices = choose(table)
    lines = [
        *_header_lines(table, choices, spec_path),
        f"name: {starter_name(spec_path)}",
        "seed: 7",
        _line(f"task: {choices.task.name}", "said here, so it is never guessed"),
        *_data_lines(table, choices, data),
        "preprocess:",
        _line("  standardize: true", "scaled on each model's training rows"),
    ]
    if choices.impute:
        lines.append(_line("  impute: median", "empty number cells: training median"))
    lines += [
        "model:",
        _line("  layers:", "a start: one hidden layer, L2 near linear"),
        "    - {units: 16, activation: relu, kernel_regularizer: {l2: 0.01}}",
        _output_layer(choices.task),
        "train:",
        _loss(choices.task),
        "  optimizer: {name: adam, learning_rate: 0.001}",
        _line(f"  epochs: {choices.epochs}", f"{choices.steps} steps of a batch per model"),
        _line(f"  batch_size: {choices.batch}"),
        "cv:",
        _line(f"  folds: {choices.folds}", _folds_note(choices.folds)),
    ]
    return "\n".join(lines) + "\n"


def write_spec(path: Path, data: Path | None, target: str) -> str:
    """`densecli init`: the tutorial's spec, or one fitted to `data`; the line to show."""
    if data is None:
        from densecli.spec import write_starter

        written = write_starter(path)
        return f"Wrote {written}: the tutorial's 12-8-1 network. Next: densecli validate {written}"
    written, fitted = write_fitted_spec(path, data, target)
    return f"Wrote {written}: {fitted}. Next: densecli cv {written}"


def write_fitted_spec(path: Path, data: Path, target: str) -> tuple[Path, str]:
    """Write the spec, validate it against the data; returns the path and what was fitted."""
    from densecli.experiment._prepare import prepare

    table = read_table_summary(data, target)
    text = fitted_text(table, data, path)
    write_new_file(path, text)
    try:
        prepare(load_spec(path))
    except Exception:
        path.unlink(missing_ok=True)  # never leave a spec that does not validate
        raise
    choices = choose(table)
    task = choices.task
    what = f"{task.classes} classes" if task.classes else "a quantity"
    dropped = f", dropped {', '.join(n for n, _ in choices.drop)}" if choices.drop else ""
    text_columns = f", one-hot {', '.join(choices.text)}" if choices.text else ""
    return path, f"{task.name} of {table.target.name!r} ({what}){dropped}{text_columns}"
