"""The run folder's format: the one module that names its files, writes them and reads them.

A run folder holds:

    config.yaml      the fully resolved spec, written before training starts
    env.json         versions, platform, seed, command line, git commit
    folds.json       each model's evaluation rows and seed
    inputs.json      what a row fed to the models looks like (features, target), for predict
    metrics.json     the scores (which task made them: "task"; default classification)
    history.csv      per epoch and model: loss and the task's metric, training and evaluation
    predictions.csv  per evaluation row: target, prediction, outputs
    model.keras | models/<job>.keras            the trained model(s)
    <model>.preprocess.json                     preprocessing fitted on that model's rows
    learning_curves.png, folds.png, predicted.png (regression), tensorboard/
                     pictures and logs drawn from the above
    status.json      only in runs that stopped early (`<run>.interrupted`, `<run>.failed`)

A sweep folder holds sweep.json, results.csv and results.md beside its points' run folders;
a runs folder gets compare.csv and compare.md. Every file is written through
`written_atomically`: readers see the old file or the new one, never half of one. Reading a
run back gives one `SavedRun`, which compare, show, predict and sweep --resume share.
No TensorFlow here.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml

from densecli.errors import RunsError
from densecli.spec import Spec, validate_spec

CONFIG = "config.yaml"
ENVIRONMENT = "env.json"
FOLDS = "folds.json"
INPUTS = "inputs.json"
METRICS = "metrics.json"
HISTORY = "history.csv"
PREDICTIONS = "predictions.csv"
STATUS = "status.json"
LEARNING_CURVES = "learning_curves.png"
FOLDS_CHART = "folds.png"
PREDICTED_CHART = "predicted.png"
TENSORBOARD = "tensorboard"
SINGLE_MODEL_STEM = "model"
MODELS_FOLDER = "models"
MODEL_SUFFIX = ".keras"
PREPROCESS_SUFFIX = ".preprocess.json"
INTERRUPTED_SUFFIX = ".interrupted"
FAILED_SUFFIX = ".failed"
PRUNED_SUFFIX = ".pruned"  # a tune trial its pruner stopped
UNFINISHED_SUFFIXES = (INTERRUPTED_SUFFIX, FAILED_SUFFIX, PRUNED_SUFFIX)
# A sweep folder, and the tables compare leaves in a runs folder.
SWEEP = "sweep.json"
# A tune folder: its record, the Optuna study, the best trial's spec, the confirmation,
# parameter importances and the two search plots.
TUNE = "tune.json"
STUDY_DB = "study.db"
BEST_SPEC = "best.yaml"
CONFIRM_FOLDER = "confirm"
CONFIRMATION_JSON = "confirmation.json"  # inside confirm/: the search-vs-confirmation record
IMPORTANCES_CSV = "importances.csv"
TUNE_HISTORY_PLOT = "history.png"
TUNE_PARALLEL_PLOT = "parallel.png"
TUNE_LOCK = ".lock"
# A nested tune (`tune --nested K`): its estimate, and a folder per outer fold holding that
# fold's study's trials (its record, its results) and the refit of its winner.
NESTED = "nested.json"
OUTER_RECORD = "outer.json"
RESULTS_CSV = "results.csv"
RESULTS_MD = "results.md"
COMPARE_CSV = "compare.csv"
COMPARE_MD = "compare.md"
# Where a run's models are, as messages name them.
MODEL_FILES = f"{SINGLE_MODEL_STEM}{MODEL_SUFFIX} or {MODELS_FOLDER}/*{MODEL_SUFFIX}"
# Files that make a stopped run look like a result; never left in one.
RESULT_FILES = (METRICS, PREDICTIONS, SINGLE_MODEL_STEM + MODEL_SUFFIX, MODELS_FOLDER)

# A C parser when PyYAML has one: a thousand config.yaml files parse in a tenth of the time.
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# --- writing ---------------------------------------------------------------------------------


@contextlib.contextmanager
def written_atomically(path: Path) -> Iterator[Path]:
    """A scratch path beside `path` to write to; it replaces `path` only when the block ends."""
    scratch = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield scratch
        os.replace(scratch, path)
    finally:
        scratch.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    with written_atomically(path) as scratch:
        scratch.write_text(text, encoding="utf-8")


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def write_yaml(path: Path, data: Any) -> None:
    write_text(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def csv_text(
    rows: list[dict[str, Any]], fieldnames: list[str] | None = None, lineterminator: str = "\r\n"
) -> str:
    buffer = io.StringIO()
    names = fieldnames or list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator=lineterminator)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_csv(
    path: Path,
    rows: list[dict[str, Any]],
    fieldnames: list[str] | None = None,
    lineterminator: str = "\r\n",
) -> None:
    write_text(path, csv_text(rows, fieldnames, lineterminator))


def write_csv_rows(
    path: Path, fieldnames: list[str], rows: Iterable[dict[str, Any]], lineterminator: str = "\r\n"
) -> None:
    """A CSV written as its rows come (a large run's predictions are never all in memory),
    replacing `path` only when complete."""
    with (
        written_atomically(path) as scratch,
        scratch.open("w", newline="", encoding="utf-8") as out,
    ):
        writer = csv.DictWriter(out, fieldnames=fieldnames, lineterminator=lineterminator)
        writer.writeheader()
        writer.writerows(rows)


def write_history(folder: Path, rows: list[dict[str, Any]]) -> None:
    """history.csv: one row per model and epoch (`job`, `epoch`, then the recorded values)."""
    write_csv(folder / HISTORY, rows)


class HistoryJournal:
    """history.csv appended epoch by epoch while a run trains, so even a run killed with -9
    leaves its history in the scratch folder; the finished run's history.csv replaces it."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / HISTORY
        self._keys: list[str] | None = None

    def __call__(self, rows: list[dict[str, Any]]) -> None:
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            if self._keys is None:
                self._keys = list(rows[0])
                handle.write(",".join(self._keys) + "\r\n")
            for row in rows:
                handle.write(",".join(str(row.get(k, "")) for k in self._keys) + "\r\n")


def model_stem(job: str, models: int) -> str:
    """`model` for a run of one model, `models/<job>` for several."""
    return SINGLE_MODEL_STEM if models == 1 else f"{MODELS_FOLDER}/{job}"


def model_file(folder: Path, stem: str) -> Path:
    return folder / f"{stem}{MODEL_SUFFIX}"


def preprocess_file(model_path: Path) -> Path:
    """Where a model's fitted preprocessing is saved: next to it, `<stem>.preprocess.json`."""
    return model_path.with_name(model_path.name.removesuffix(MODEL_SUFFIX) + PREPROCESS_SUFFIX)


def model_paths(folder: Path) -> list[Path]:
    """Every saved model: one model.keras, or models/*.keras (CV folds, or several seeds)."""
    several = sorted((folder / MODELS_FOLDER).glob(f"*{MODEL_SUFFIX}"))
    if several:
        return several
    single = model_file(folder, SINGLE_MODEL_STEM)
    return [single] if single.is_file() else []


def is_unfinished(folder: Path) -> bool:
    """Marked by its name, or by a status.json (a finished run has none)."""
    return folder.name.endswith(UNFINISHED_SUFFIXES) or (folder / STATUS).is_file()


def outer_folder(fold: int) -> str:
    """A nested tune's folder of outer fold `fold` (1-based), inside the tune folder."""
    return f"outer-{fold}"


SearchKind = Literal["sweep", "tune"]  # a sweep draws its own points; a tune's sampler does
SEARCH_RECORDS: dict[SearchKind, str] = {"sweep": SWEEP, "tune": TUNE}  # each kind's record


def search_kind(folder: Path) -> SearchKind | None:
    """Which search FOLDER is, by its record file (None: not a search folder)."""
    return next((kind for kind, name in SEARCH_RECORDS.items() if (folder / name).is_file()), None)


def is_sweep(folder: Path) -> bool:
    """A sweep (or tune, or a nested tune's outer fold) folder holds runs rather than being
    one; compare it on its own."""
    return search_kind(folder) is not None or (folder / OUTER_RECORD).is_file()


# --- reading ---------------------------------------------------------------------------------


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def read_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), _YAML_LOADER)


def read_history(folder: Path) -> list[dict[str, Any]]:
    with (folder / HISTORY).open(newline="", encoding="utf-8") as handle:
        return [
            {k: (v if k == "job" else float(v)) for k, v in row.items()}
            for row in csv.DictReader(handle)
        ]


def read_importances(folder: Path) -> dict[str, float]:
    """A tune's importances.csv (key → importance); empty when it is missing or damaged."""
    try:
        with (folder / IMPORTANCES_CSV).open(newline="", encoding="utf-8") as handle:
            return {row["key"]: float(row["importance"]) for row in csv.DictReader(handle)}
    except (OSError, KeyError, TypeError, ValueError):
        return {}


def read_predictions(folder: Path) -> list[dict[str, str]]:
    with (folder / PREDICTIONS).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def spec_name(folder: Path) -> str | None:
    """The spec name in a run's config.yaml (finished or not), or None if unreadable."""
    try:
        return str(read_yaml(folder / CONFIG)["name"])
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError):
        return None


@dataclass(frozen=True)
class SavedRun:
    """A finished run as its files record it. The spec and inputs are read when asked for."""

    folder: Path
    metrics: dict[str, Any]
    config: dict[str, Any]  # config.yaml as plain data

    @property
    def name(self) -> str:
        return str(self.config["name"])

    @cached_property
    def spec(self) -> Spec:
        return validate_spec(self.config, source=str(self.folder / CONFIG))

    @cached_property
    def inputs(self) -> dict[str, Any]:
        """inputs.json, or for runs made before it existed, the same facts from other records."""
        if (self.folder / INPUTS).is_file():
            return dict(read_json(self.folder / INPUTS))
        n_features = _model_input_width(self.folder)
        with (self.folder / PREDICTIONS).open(newline="", encoding="utf-8") as handle:
            labels = sorted({int(row["label"]) for row in csv.DictReader(handle)})
        return {
            "features": [f"column_{j + 1}" for j in range(n_features)],
            "target": "target",
            "target_index": self._known_target_index(n_features),
            "classes": labels,
        }

    def _known_target_index(self, n_features: int) -> int | None:
        """A published data set (recognised by the checksum the run recorded) has its target
        in its last column; for any other file the run did not record where it was."""
        from densecli.data import KNOWN_DATA

        known = KNOWN_DATA.get(str(self.metrics.get("data_sha256")))
        return n_features if known is not None and len(known.columns) == n_features + 1 else None

    @property
    def features(self) -> list[str]:
        return [str(f) for f in self.inputs["features"]]

    @property
    def target(self) -> str:
        return str(self.inputs["target"])

    @property
    def target_index(self) -> int | None:
        index = self.inputs["target_index"]
        return None if index is None else int(index)

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def model_paths(self) -> list[Path]:
        return model_paths(self.folder)

    def environment(self) -> dict[str, Any]:
        """env.json, or nothing when it cannot be read."""
        try:
            return dict(read_json(self.folder / ENVIRONMENT))
        except (OSError, ValueError, TypeError):
            return {}


def read_run(folder: Path) -> SavedRun:
    """A finished run's records; raises what reading them raised (compare warns and skips)."""
    metrics = read_json(folder / METRICS)
    config = read_yaml(folder / CONFIG)
    if not isinstance(metrics, dict) or not isinstance(config, dict):
        raise ValueError(f"{METRICS} and {CONFIG} must hold mappings")
    return SavedRun(folder, metrics, config)


def load_run(folder: Path) -> SavedRun:
    """A finished run folder with everything predict and show need, or a one-line error."""
    if not folder.is_dir():
        raise RunsError(f"{folder}: no such run folder; `densecli compare` lists the runs")
    try:
        run = read_run(folder)
        run.inputs  # noqa: B018  (read now: a broken record fails here, not halfway)
        run.spec  # noqa: B018
    except FileNotFoundError as err:
        raise RunsError(
            f"{folder}: not a finished run, {Path(str(err.filename)).name} is missing; "
            "pass a folder made by `densecli train` or `densecli cv`"
        ) from None
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as err:
        raise RunsError(f"{folder}: unreadable run record ({type(err).__name__}: {err})") from None
    return run


def _model_input_width(folder: Path) -> int:
    """The input width from the saved model's config.json (a .keras file is a zip archive)."""
    paths = model_paths(folder)
    if not paths:
        raise FileNotFoundError(2, "no saved model", str(model_file(folder, SINGLE_MODEL_STEM)))
    with zipfile.ZipFile(paths[0]) as archive:
        config = json.loads(archive.read("config.json"))
    first = config["config"]["layers"][0]["config"]
    return int(first["batch_shape"][-1])
