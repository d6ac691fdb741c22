"""Writing the export model in each format, into a scratch path renamed into place.

keras is Keras' own `.keras` file; saved_model and litert go through Keras 3's
`model.export`; onnx converts that SavedModel with tf2onnx's SavedModel loader at opset 18,
in this process, the route that turns a text column's lookup into ONNX's CategoryMapper
(Keras' own ONNX export cannot convert string lookups). ONNX conversion needs tf2onnx and
onnx (`densecli[export]`); SavedModel and LiteRT need only TensorFlow.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from densecli.errors import DensecliError
from densecli.runs.files import MODEL_SUFFIX  # Keras' own file format

INSTALL_HINT = "pip install 'densecli[export]'"
# The formats `densecli export --format` writes (FORMATS below describes each).
FormatName = Literal["keras", "saved_model", "onnx", "litert"]
ONNX_OPSET = 18  # CategoryMapper for text columns; onnxruntime runs it


class ExportError(DensecliError):
    """The artifact cannot be written: bad path, missing converter, conversion failed."""


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str  # "" for a folder
    keras_format: str | None  # model.export's name; None: model.save
    needs: tuple[str, ...] = ()
    usage: str = ""


FORMATS: dict[str, Format] = {
    "keras": Format(
        "keras", MODEL_SUFFIX, None, usage="keras.saving.load_model(path).predict(rows)"
    ),
    "saved_model": Format(
        "saved_model",
        "",
        "tf_saved_model",
        usage="model = tf.saved_model.load(path); model.serve(rows)",
    ),
    "onnx": Format(
        "onnx",
        ".onnx",
        "onnx",
        needs=("tf2onnx", "onnx"),
        usage="onnxruntime.InferenceSession(path).run(None, {input name: rows})[0]",
    ),
    "litert": Format(
        "litert",
        ".tflite",
        "litert",
        usage="ai_edge_litert.interpreter.Interpreter(model_path=path) (or tf.lite.Interpreter): "
        "set_tensor, invoke, get_tensor",
    ),
}


assert tuple(FORMATS) == get_args(FormatName)


def get(name: str) -> Format:
    if name not in FORMATS:
        raise ExportError(f"--format: {name!r} is not a format; use {', '.join(FORMATS)}")
    return FORMATS[name]


def check_output(fmt: Format, output: Path) -> None:
    """Before any model is loaded: a path of the right kind that holds nothing yet."""
    if fmt.suffix and output.suffix != fmt.suffix:
        raise ExportError(
            f"--output {output}: a {fmt.name} artifact is a {fmt.suffix} file; "
            f"use e.g. -o {output.with_suffix(fmt.suffix).name}"
        )
    if output.exists():
        raise ExportError(
            f"--output {output}: already exists; export never replaces a file, pick a new path"
        )
    if not output.parent.is_dir():
        raise ExportError(
            f"--output {output}: no folder {output.parent}; create it first or pick another path"
        )
    _check_writable(output)
    missing = [m for m in fmt.needs if importlib.util.find_spec(m) is None]
    if missing:
        raise ExportError(
            f"--format {fmt.name}: needs {' and '.join(missing)}, not installed here; "
            f"install them with {INSTALL_HINT}"
        )


def _check_writable(output: Path) -> None:
    """Before minutes of converting: can a file be made in the output's folder?"""
    try:
        with tempfile.NamedTemporaryFile(dir=output.parent, prefix=f".{output.name}.probe-"):
            pass
    except OSError as err:
        raise ExportError(
            f"--output {output}: cannot write into {output.parent} ({err.strerror}); "
            "pick a folder you may write to"
        ) from None


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _name_onnx_output(path: Path, name: str) -> None:
    """tf2onnx calls the output `Identity:0`; give it the model's own name, as the other
    formats do, so export.json names it right for every format."""
    import onnx

    graph = onnx.load(str(path))
    old = graph.graph.output[0].name
    for node in graph.graph.node:
        node.output[:] = [name if out == old else out for out in node.output]
        node.input[:] = [name if inp == old else inp for inp in node.input]
    graph.graph.output[0].name = name
    onnx.checker.check_model(graph)
    onnx.save(graph, str(path))


def _convert_to_onnx(model: Any, scratch: Path) -> None:
    """The model's SavedModel, converted by tf2onnx in this process with the loader of its
    command line (`from_saved_model`, which keeps the lookup tables a text column needs;
    Keras' own ONNX export loses them). In-process, not `python -m tf2onnx.convert`: that
    imported TensorFlow again, 5 s of every conversion."""
    import tensorflow as tf
    from tf2onnx import tf_loader
    from tf2onnx.convert import _convert_common

    logging.getLogger("tf2onnx").setLevel(logging.ERROR)  # pages of progress otherwise
    saved = Path(tempfile.mkdtemp(prefix=f".{scratch.name}.saved-", dir=scratch.parent))
    try:
        model.export(str(saved), format="tf_saved_model", verbose=False)
        graph_def, inputs, outputs, tables, renamed = tf_loader.from_saved_model(
            str(saved), None, None, None, ["serving_default"], None, False,
            return_initialized_tables=True, return_tensors_to_rename=True,
        )  # fmt: skip
        with tf.device("/cpu:0"):
            _convert_common(
                graph_def, name=str(saved), opset=ONNX_OPSET, input_names=inputs,
                output_names=outputs, initialized_tables=tables, tensors_to_rename=renamed,
                output_path=str(scratch),
            )  # fmt: skip
    finally:
        shutil.rmtree(saved, ignore_errors=True)
    if not scratch.is_file():
        raise RuntimeError("tf2onnx wrote no model")
    _name_onnx_output(scratch, model.output_names[0])


def write(model: Any, fmt: Format, output: Path) -> None:
    """The artifact at `output`, complete or not at all."""
    scratch = output.with_name(f".{output.name}.tmp-{os.getpid()}{fmt.suffix}")
    _remove(scratch)
    try:
        # The converters print pages of progress and TensorFlow notices; keep the terminal
        # for densecli's own one-line result.
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # tf2onnx's np.object probe
            if fmt.keras_format is None:
                model.save(scratch)
            elif fmt.name == "onnx":
                _convert_to_onnx(model, scratch)
            else:
                model.export(str(scratch), format=fmt.keras_format, verbose=False)
        os.replace(scratch, output)
    except Exception as err:
        _remove(scratch)
        text = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
        raise ExportError(
            f"--format {fmt.name}: cannot be produced on this stack "
            f"({type(err).__name__}{': ' + text if text else ''})"
        ) from None


def input_names(fmt: Format, output: Path) -> list[str]:
    """The inputs' names as the written artifact spells them (a converter may change them)."""
    if fmt.name == "onnx":
        import onnx

        graph = onnx.load(str(output)).graph
        initializers = {i.name for i in graph.initializer}
        return [i.name for i in graph.input if i.name not in initializers]
    if fmt.name == "litert":
        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "use ai_edge_litert": the same interpreter
            interpreter = tf.lite.Interpreter(model_path=str(output))
        return [str(d["name"]) for d in interpreter.get_input_details()]
    if fmt.name == "saved_model":
        import tensorflow as tf

        signature = tf.saved_model.load(str(output)).signatures["serving_default"]
        return list(signature.structured_input_signature[1])
    return []  # a .keras file keeps the Keras model's own names
