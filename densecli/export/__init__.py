"""`densecli export`: a finished run as one model file for other tools.

The artifact takes raw feature rows (the columns `predict` takes: in the run's order for an
all-numeric run, one input per column for a run with text columns) and returns what
`predict` prints: the run's preprocessing is inside it, and a CV run's fold models are
averaged (or one is chosen with `--fold K`). `<artifact>.export.json`
beside it says what goes in and what comes out.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from densecli import __version__
from densecli.export._formats import (
    FORMATS,
    ExportError,
    Format,
    FormatName,
    check_output,
    get,
    input_names,
    write,
)
from densecli.export._graph import (
    INPUT_NAME,
    RawInput,
    build_export_model,
    choose_models,
    output_name,
    raw_inputs,
)
from densecli.runs import SavedRun, load_run
from densecli.runs.files import write_text
from densecli.tasks import target_encoding, view_for

__all__ = ["FORMATS", "ExportError", "FormatName", "description_path", "export_run"]


def description_path(output: Path) -> Path:
    """`pima.onnx` → `pima.onnx.export.json`: one description per artifact, never shared."""
    return output.with_name(output.name + ".export.json")


def _outputs(run: SavedRun) -> dict[str, Any]:
    """What the artifact returns: class probabilities, or a regression's value."""
    if view_for(run.metrics).name == "regression":
        return {
            "name": output_name(run),
            "dtype": "float32",
            "shape": [None, 1],
            "columns": ["predicted"],
            "target": run.target,
            "meaning": "the predicted value in the target's units, as in `densecli predict`",
        }
    classes = list(run.inputs["classes"])
    encoding = target_encoding(run.spec, len(classes))
    columns = [f"probability_{c}" for c in classes]
    rule: dict[str, Any] = {"decision": "the class with the highest probability"}
    if encoding.kind == "binary":
        rule = {
            "decision": f"{columns[1]} >= {encoding.threshold} means class {classes[1]}",
            "threshold": encoding.threshold,  # applied to the last column
        }
    return {
        "name": output_name(run),
        "dtype": "float32",
        "shape": [None, len(columns)],
        "columns": columns,
        "classes": classes,
        "target": run.target,
        "meaning": "the probability of each class, as in `densecli predict`",
        **rule,
    }


def _as_written(name: str, written: list[str]) -> str:
    """Our input's name as the artifact spells it (LiteRT: `serving_default_<name>:0`)."""
    for spelled in written:
        bare = spelled.split(":")[0].removeprefix("serving_default_")
        if name in (spelled, bare) or name.lower() == bare.lower():
            return spelled
    return name


_MISSING_NOTE = (
    "an empty cell is NaN in a number column and an empty string in a text column; it is "
    "filled as densecli predict fills it (a number cell only when empty_numeric_cells is "
    "filled: predict refuses it otherwise, and the artifact then returns NaN; other spellings "
    "such as NA or ? are the caller's to turn into these, and text is matched exactly, "
    "without trimming)"
)


def _inputs(run: SavedRun, raw: list[RawInput], written: list[str]) -> dict[str, Any]:
    if not raw:
        return {
            "input": {
                "name": _as_written(INPUT_NAME, written),
                "dtype": "float32",
                "shape": [None, run.n_features],
                "columns": run.features,
                "note": "raw values in this order, as in the training file; the run's "
                "preprocessing (missing-cell and zero-as-missing fills, standardization) is "
                "inside the model; " + _MISSING_NOTE,
            }
        }
    return {
        "inputs": [
            {
                "name": _as_written(r.name, written),
                "column": r.column,
                "dtype": r.dtype,
                "shape": [None, 1],
            }
            for r in raw
        ],
        "inputs_note": "one input per raw column, in this order, fed by name; the run's "
        "preprocessing (fills, standardization, one-hot categories) is inside the model; "
        + _MISSING_NOTE,
    }


def describe(run: SavedRun, fmt: Format, output: Path, paths: list[Path]) -> dict[str, Any]:
    models = [str(p.relative_to(run.folder)) for p in paths]
    return {
        "format": fmt.name,
        "artifact": output.name,
        "usage": fmt.usage,
        **_inputs(run, raw_inputs(run), input_names(fmt, output)),
        "empty_numeric_cells": "filled" if run.spec.preprocess.impute is not None else "refused",
        "output": _outputs(run),
        "models": models,
        "combined": f"mean of {len(models)} models" if len(models) > 1 else "one model",
        "source_run": str(run.folder.resolve()),
        "data_sha256": run.metrics.get("data_sha256"),
        "densecli_version": __version__,
        "created": datetime.now().astimezone().isoformat(),
    }


def export_run(run_dir: Path, format_name: str, output: Path, fold: int | None = None) -> str:
    """Write the artifact and its description; returns the line to show."""
    fmt = get(format_name)
    check_output(fmt, output)  # before loading anything: a bad path fails at once
    run = load_run(run_dir)
    paths = choose_models(run, fold)
    model = build_export_model(run, paths)
    write(model, fmt, output)
    description = description_path(output)
    text = json.dumps(describe(run, fmt, output, paths), indent=2) + "\n"
    write_text(description, text)
    how = f"the mean of {len(paths)} models" if len(paths) > 1 else "one model"
    takes = (
        f"one input per raw column ({len(run.features)})"
        if raw_inputs(run)
        else f"{run.n_features} raw feature columns"
    )
    return (
        f"Exported {how} as {fmt.name}, taking {takes}: {output} (described in {description.name})"
    )
