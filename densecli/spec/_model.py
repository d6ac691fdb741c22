"""The experiment spec: a YAML file plus --set overrides, validated by pydantic.

No TensorFlow here: this module must stay importable in well under a second, because
`validate`, `compare` and `--help` go through it. Names of Keras objects (activations,
initializers, losses, optimizers) are resolved later by Keras itself (see `densecli.model`).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from densecli.errors import ConfigError
from densecli.spec._overrides import DuplicateKeyError, apply_overrides, load_yaml


def _check_identifier(value: Any) -> str | dict[str, Any]:
    """A Keras object named by a string, or a mapping with `name` and its parameters."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return value
    raise ValueError("expected a name such as 'relu', or a mapping with a 'name' key")


Identifier = Annotated[
    str | dict[str, Any],
    PlainValidator(_check_identifier),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string"},
                {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}},
                },
            ]
        }
    ),
]


def _check_target(value: Any) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("expected a column name or a column index such as -1 (the last column)")
    return value


def _check_header(value: Any) -> bool | Literal["auto"]:
    if isinstance(value, bool) or value == "auto":
        return value  # type: ignore[no-any-return]
    raise ValueError("expected true, false or auto")


def _check_class_weight(value: Any) -> Literal["balanced"] | dict[int, float] | None:
    if value is None or value == "balanced":
        return value  # type: ignore[no-any-return]
    if isinstance(value, dict) and all(
        isinstance(k, int) and isinstance(v, int | float) and v > 0 for k, v in value.items()
    ):
        return {k: float(v) for k, v in value.items()}
    raise ValueError("expected balanced, or a mapping of class label to a positive weight")


# A one-unit classifier's outputs at or above this mean the second class (train.threshold).
DEFAULT_THRESHOLD = 0.5
# The delimiters a CSV may use (data.delimiter); without one the reader sniffs them.
Delimiter = Literal[",", ";", "\t"]
# What a row whose target cell is empty does (data.missing_target).
MissingTarget = Literal["error", "drop"]
# The references a CV run scores on its own folds (cv.references): the majority rule (the
# mean of the training targets for a regression), a linear model (logistic regression or
# ridge) and gradient-boosted trees (scikit-learn's HistGradientBoosting).
ReferenceName = Literal["majority", "linear", "boosting"]
REFERENCE_NAMES: tuple[ReferenceName, ...] = get_args(ReferenceName)
# Without cv.references, boosting is scored for tables up to this many cells (rows × columns).
BOOSTING_MAX_CELLS = 2_000_000


class _Strict(BaseModel):
    # A typo is an error, never a silently ignored key; `units: true` is not 1.
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class DataSpec(_Strict):
    path: str | None = Field(
        None, description="CSV file to read; empty means the built-in Pima data."
    )
    target: Annotated[
        int | str,
        PlainValidator(_check_target),
        WithJsonSchema({"type": ["integer", "string"]}),
    ] = Field(-1, description="Target column: a name or an index (default: the last column).")
    header: Annotated[
        bool | Literal["auto"],
        PlainValidator(_check_header),
        WithJsonSchema({"enum": [True, False, "auto"]}),
    ] = Field("auto", description="Whether the CSV's first row names the columns.")
    name: Literal["pima", "iris", "wine", "breast_cancer", "diabetes"] | None = Field(
        None,
        description="A built-in data set (scikit-learn's bundled copies; pima is the "
        "default) when path is empty.",
    )
    train_rows: int | None = Field(
        None, ge=1, description="Classic split: train on the first N rows (Pima: 700)."
    )
    features: list[int | str] | None = Field(
        None,
        description="Only these columns are features: names, or 0-based indices over all "
        "the file's columns (the target included, negative from the end). Not with drop.",
    )
    drop: list[int | str] = Field(
        default_factory=list,
        description="Columns that are not features (ids, free text): names or indices, "
        "counted as for features. Not with features.",
    )
    missing_target: MissingTarget = Field(
        "drop",
        description="Rows whose target cell is empty: left out (drop: said in one line and "
        "recorded with the run) or an error.",
    )
    delimiter: Delimiter | None = Field(
        None,
        description="The CSV's delimiter; empty means sniffed from the first lines "
        "(comma, semicolon or tab) and recorded with the run.",
    )

    @model_validator(mode="after")
    def _features_or_drop(self) -> DataSpec:
        if self.features is not None and self.drop:
            raise ValueError(
                "features and drop are both set; keep one (features lists the columns to "
                "use, drop the ones to leave out)"
            )
        return self


class RegularizerSpec(_Strict):
    l1: float = Field(0.0, ge=0)
    l2: float = Field(0.0, ge=0)


class LayerSpec(_Strict):
    units: int = Field(ge=1, le=100_000)
    activation: Identifier = Field(
        "linear",
        description="A Keras activation name, or {name: leaky_relu, negative_slope: 0.1} "
        "(also elu with alpha, relu with max_value / negative_slope / threshold).",
    )
    kernel_initializer: Identifier = Field(
        "glorot_uniform",
        validation_alias=AliasChoices("kernel_initializer", "init"),
        description="Keras initializer; the tutorial's `init` is accepted as an alias.",
    )
    bias_initializer: Identifier = "zeros"
    use_bias: bool = True
    input_dim: int | None = Field(None, ge=1, description="Only on the first layer.")
    kernel_regularizer: RegularizerSpec | None = Field(
        None, description="L1/L2 penalty on this layer's weights, e.g. {l2: 0.001}."
    )
    batch_norm: bool = Field(False, description="Batch normalization before the activation.")
    maxout: int | None = Field(
        None, ge=2, le=64, description="Maxout with this many pieces: max(w1·x+b1, w2·x+b2, …)."
    )
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout rate after the activation.")

    @model_validator(mode="after")
    def _maxout_is_the_activation(self) -> LayerSpec:
        if self.maxout is not None and self.activation != "linear":
            raise ValueError(
                "maxout is itself the activation; set activation: linear or remove maxout"
            )
        return self


class ModelSpec(_Strict):
    layers: list[LayerSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _input_dim_only_first(self) -> ModelSpec:
        for index, layer in enumerate(self.layers[1:], start=1):
            if layer.input_dim is not None:
                raise ValueError(
                    f"layers.{index}.input_dim: only the first layer takes input_dim; "
                    "later layers infer their input size, so remove it"
                )
        return self


class EarlyStoppingSpec(_Strict):
    patience: int = Field(ge=1, description="Epochs without a better validation loss.")
    validation_fraction: float = Field(
        0.1, gt=0.0, lt=0.5, description="Stratified share of the training rows held out."
    )
    min_delta: float = Field(0.0, ge=0.0)


class ScheduleSpec(_Strict):
    name: Literal["cosine", "reduce_on_plateau"]
    alpha: float = Field(0.0, ge=0.0, le=1.0, description="cosine: final fraction of the rate.")
    factor: float = Field(0.5, gt=0.0, lt=1.0, description="reduce_on_plateau: rate × factor.")
    patience: int = Field(20, ge=1, description="reduce_on_plateau: epochs without progress.")
    min_learning_rate: float = Field(1e-6, ge=0.0)


class PreprocessSpec(_Strict):
    zero_as_missing: list[int | str] = Field(
        default_factory=list,
        description="Feature columns (names or indices) in which 0 means 'not measured'.",
    )
    impute: Literal["median", "mean"] | None = Field(
        None,
        description="Fill missing cells of numeric columns (and zero_as_missing zeros) with the "
        "training rows' median or mean; without it missing cells are an error and "
        "zero_as_missing uses the median.",
    )
    categorical: list[int | str] = Field(
        default_factory=list,
        description="Feature columns (names or indices) to one-hot encode although they hold "
        "numbers; columns holding text are categorical anyway.",
    )
    standardize: bool = Field(False, description="Scale features to mean 0, std 1.")
    scale_target: bool | None = Field(
        None,
        description="Regression: train on the target scaled to mean 0, std 1 (fitted on each "
        "model's training rows; metrics stay in the target's units). Default: on.",
    )


class TrainSpec(_Strict):
    loss: str = "binary_crossentropy"
    optimizer: Identifier = "adam"
    metrics: list[str] | None = Field(
        None,
        description="Keras metrics the fit engine records; default the task's own: accuracy "
        "for classification, none for regression (its history records RMSE anyway).",
    )
    tensorboard: bool = Field(
        False, description="Also write TensorBoard logs of the history into the run folder."
    )
    epochs: int = Field(1500, ge=1, le=1_000_000)
    batch_size: int = Field(64, ge=1)
    early_stopping: EarlyStoppingSpec | None = None
    schedule: ScheduleSpec | None = None
    class_weight: Annotated[
        Literal["balanced"] | dict[int, float] | None,
        PlainValidator(_check_class_weight),
        WithJsonSchema({"anyOf": [{"const": "balanced"}, {"type": "object"}, {"type": "null"}]}),
    ] = None
    threshold: float | None = Field(
        None,
        gt=0.0,
        lt=1.0,
        description=f"Decision threshold of a one-unit classifier (default {DEFAULT_THRESHOLD}).",
    )


class CVSpec(_Strict):
    folds: int = Field(10, ge=2, le=1000)
    references: list[ReferenceName] | None = Field(
        None,
        description="References scored on the same folds, the network compared with the "
        "strongest: majority, linear (logistic regression or ridge), boosting (scikit-learn's "
        "HistGradientBoosting). Default: all three, boosting only for tables up to "
        f"{BOOSTING_MAX_CELLS:,} cells (rows × columns).",
    )

    @model_validator(mode="after")
    def _each_once(self) -> CVSpec:
        listed = self.references or []
        twice = sorted({name for name in listed if listed.count(name) > 1})
        if twice:
            raise ValueError(
                f"references: {', '.join(twice)} is listed twice; name each reference once"
            )
        return self


class Spec(_Strict):
    name: str = Field("experiment", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
    seed: int = Field(0, ge=0, lt=2**31)
    task: Literal["classification", "regression"] | None = Field(
        None,
        description="What the target is; inferred from the target and the output layer "
        "when left out (the inference is printed).",
    )
    data: DataSpec = Field(default_factory=lambda: DataSpec())
    preprocess: PreprocessSpec = Field(default_factory=lambda: PreprocessSpec())
    model: ModelSpec
    train: TrainSpec = Field(default_factory=lambda: TrainSpec())
    cv: CVSpec = Field(default_factory=lambda: CVSpec())

    def resolved(self) -> dict[str, Any]:
        """The spec with every default filled in, as plain YAML-ready data."""
        return self.model_dump(mode="json")


# Where each section's keys live, for "unknown key" messages (list indices become "*").
_SECTIONS: dict[tuple[str, ...], type[BaseModel]] = {
    (): Spec,
    ("data",): DataSpec,
    ("preprocess",): PreprocessSpec,
    ("model", "layers", "*", "kernel_regularizer"): RegularizerSpec,
    ("train", "early_stopping"): EarlyStoppingSpec,
    ("train", "schedule"): ScheduleSpec,
    ("model",): ModelSpec,
    ("model", "layers", "*"): LayerSpec,
    ("train",): TrainSpec,
    ("cv",): CVSpec,
}


def _allowed_keys(model: type[BaseModel]) -> list[str]:
    keys = list(model.model_fields)
    if model is LayerSpec:
        keys.append("init")
    return keys


def _describe(error: Any) -> str:
    loc = tuple(str(part) for part in error["loc"])
    where = ".".join(loc) or "spec"
    if error["type"] == "extra_forbidden":
        section = tuple("*" if part.isdigit() else part for part in loc[:-1])
        allowed = _allowed_keys(_SECTIONS.get(section, Spec))
        hint = difflib.get_close_matches(loc[-1], allowed, n=1)
        fix = f"did you mean '{hint[0]}'?" if hint else f"allowed keys: {', '.join(allowed)}"
        return f"{where}: unknown key; {fix}"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        return f"{where}: required key is missing; add it to the spec"
    if message.startswith(tuple(f"layers.{n}" for n in range(10))):
        return f"model.{message}"
    got = error.get("input")
    text = f"{where}: {message[0].lower()}{message[1:]}"
    if isinstance(got, dict) and error["type"] == "value_error":
        return text  # a check across keys of a section: its message names them
    shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
    return f"{text} (got {shown})"


def _require_mapping(raw: Any, source: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: expected a mapping of keys (name, seed, data, model, train, cv), "
            f"got {type(raw).__name__}"
        )
    return raw


def validate_spec(raw: Any, source: str = "spec") -> Spec:
    """Validate loaded YAML data; every problem becomes one line `dotted.key: message`."""
    raw = _require_mapping(raw, source)
    try:
        spec = Spec.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(*(_describe(e) for e in err.errors())) from None
    _check_learning_rate(spec.train.optimizer)
    return spec


def _check_learning_rate(optimizer: str | dict[str, Any]) -> None:
    """Keras takes any number: a negative rate climbs the loss, zero never moves."""
    rate = optimizer.get("learning_rate") if isinstance(optimizer, dict) else None
    if isinstance(rate, bool) or not isinstance(rate, int | float):
        return  # absent (Keras' default), or not a number: Keras names that problem
    if not (math.isfinite(rate) and rate > 0):
        raise ConfigError(
            f"train.optimizer.learning_rate: must be a number greater than 0, such as 0.001 "
            f"(got {rate})"
        )


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such spec file; check the path") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read the spec ({err})") from None
    try:
        raw = load_yaml(text)
    except DuplicateKeyError as err:
        raise ConfigError(f"{path}: {err.problem}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: YAML syntax error{where}: {problem}") from None
    if raw is None:
        raise ConfigError(f"{path}: the spec is empty; it needs at least model.layers")
    return raw


def load_spec(path: Path, overrides: Sequence[str] = ()) -> Spec:
    """Read a YAML spec, apply `--set key=value` overrides, then validate."""
    raw = _require_mapping(read_yaml(path), str(path))
    return validate_spec(apply_overrides(raw, overrides), source=str(path))
