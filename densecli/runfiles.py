"""Files a run holds besides the training records, and reading a finished run back.

`inputs.json` says what a row fed to the run's models looks like (feature names and order,
where the target column was, the class labels), so `predict` can read new rows without the
training data. The plots are drawn from the recorded files. No TensorFlow here: `show` and
`compare` read runs and must start instantly.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from rich.console import Console

from densecli.errors import RunsError
from densecli.spec import Spec, validate_spec

if TYPE_CHECKING:
    from densecli.data import Dataset
    from densecli.experiment import Experiment

INPUTS_FILE = "inputs.json"


def _target_index(data: Dataset) -> int | None:
    """The target's column in the training file, so a copied row with it can be recognised."""
    if data.is_pima:
        return len(data.feature_names)
    try:
        with data.path.open(newline="", encoding="utf-8") as handle:
            first = next(csv.reader(handle))
    except (OSError, StopIteration, UnicodeDecodeError, csv.Error):
        return None
    names = [cell.strip() for cell in first]
    if data.target_name in names:
        return names.index(data.target_name)
    # No header: the names are column_1.. and the target's number is in its name.
    number = data.target_name.removeprefix("column_")
    return int(number) - 1 if number.isdigit() else None


def describe_inputs(data: Dataset) -> dict[str, Any]:
    return {
        "features": list(data.feature_names),
        "target": data.target_name,
        "target_index": _target_index(data),
        "classes": [int(c) for c in data.classes],
    }


def write_run_extras(folder: Path, exp: Experiment) -> None:
    """Called while the run is still in its scratch folder, after metrics.json is written:
    inputs.json, the plots, and TensorBoard logs if the spec asks for them."""
    from densecli.plots import write_run_plots

    text = json.dumps(describe_inputs(exp.data), indent=2) + "\n"
    (folder / INPUTS_FILE).write_text(text, encoding="utf-8")
    # A bug in these extras must not throw away the trained models: it only warns.
    try:
        write_run_plots(folder)
    except Exception as err:
        _warn(f"plots not written ({type(err).__name__}: {err})")
    if exp.spec.train.tensorboard:
        from densecli.plots import read_history
        from densecli.tensorboard import write_tensorboard_logs

        try:
            write_tensorboard_logs(folder, read_history(folder / "history.csv"))
        except Exception as err:
            _warn(f"TensorBoard logs not written ({type(err).__name__}: {err})")


def _warn(message: str) -> None:
    Console(stderr=True).print(f"warning: {message}", markup=False, highlight=False)


@dataclass(frozen=True)
class SavedRun:
    folder: Path
    spec: Spec
    metrics: dict[str, Any]
    features: list[str]
    target: str
    target_index: int | None
    classes: list[int]

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def model_paths(self) -> list[Path]:
        """Every saved model: one model.keras, or models/*.keras (CV folds, or several seeds)."""
        return _model_paths(self.folder)


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def load_run(folder: Path) -> SavedRun:
    """A finished run folder, or a one-line error saying what is missing."""
    if not folder.is_dir():
        raise RunsError(f"{folder}: no such run folder; `densecli compare` lists the runs")
    try:
        metrics = _read_json(folder / "metrics.json")
        config = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
        inputs = _read_inputs(folder, metrics)
    except FileNotFoundError as err:
        raise RunsError(
            f"{folder}: not a finished run, {Path(str(err.filename)).name} is missing; "
            "pass a folder made by `densecli train` or `densecli cv`"
        ) from None
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as err:
        raise RunsError(f"{folder}: unreadable run record ({type(err).__name__}: {err})") from None
    return SavedRun(
        folder=folder,
        spec=validate_spec(config, source=str(folder / "config.yaml")),
        metrics=metrics,
        features=[str(f) for f in inputs["features"]],
        target=str(inputs["target"]),
        target_index=inputs["target_index"],
        classes=[int(c) for c in inputs["classes"]],
    )


def _read_inputs(folder: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    """inputs.json, or for runs made before it existed, the same facts from other records."""
    if (folder / INPUTS_FILE).is_file():
        return dict(_read_json(folder / INPUTS_FILE))
    n_features = _model_input_width(folder, metrics)
    with (folder / "predictions.csv").open(newline="", encoding="utf-8") as handle:
        labels = sorted({int(row["label"]) for row in csv.DictReader(handle)})
    return {
        "features": [f"column_{j + 1}" for j in range(n_features)],
        "target": "target",
        # Pima (recognised by its 500/768 baseline) has its target last; elsewhere unknown.
        "target_index": n_features if metrics.get("baseline_accuracy") == 500 / 768 else None,
        "classes": labels,
    }


def _model_input_width(folder: Path, metrics: dict[str, Any]) -> int:
    """The input width from the saved model's config.json (a .keras file is a zip archive)."""
    import zipfile

    paths = _model_paths(folder)
    if not paths:
        raise FileNotFoundError(2, "no saved model", str(folder / "model.keras"))
    with zipfile.ZipFile(paths[0]) as archive:
        config = json.loads(archive.read("config.json"))
    first = config["config"]["layers"][0]["config"]
    return int(first["batch_shape"][-1])


def _model_paths(folder: Path) -> list[Path]:
    several = sorted((folder / "models").glob("*.keras"))
    if several:
        return several
    single = folder / "model.keras"
    return [single] if single.is_file() else []
