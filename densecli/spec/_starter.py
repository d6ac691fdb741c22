"""`densecli init`: a commented starter spec — the tutorial's network — never over another file."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from densecli.errors import ConfigError
from densecli.spec._jsonschema import SCHEMA_COMMENT, SCHEMA_FILENAME

STARTER = """\
# A densecli experiment: the tutorial's network on the Pima Indians Diabetes data.
# Check it:  densecli validate {path}
# Run it:    densecli train {path}   (or: densecli cv {path})
# Every key is optional except model.layers; unknown keys are errors.
# name: letters, digits, . _ - ; used in run folder names
name: {name}
seed: 7                      # seeds weights, shuffling and the CV folds
data:
  path: null                 # a numeric CSV; null = the built-in Pima data
  target: -1                 # target column: index (-1 = last) or name
  header: auto               # true | false | auto (a first row with non-numbers is a header)
  train_rows: 700            # classic split: train on the first 700 rows, test on the rest
model:
  layers:                    # Dense layers in order; the last one is the output
    - units: 12
      input_dim: 8           # optional, first layer only; must equal the feature count
      activation: relu       # any Keras activation name
      kernel_initializer: glorot_uniform   # or the tutorial's `init: uniform`
    - {{units: 8, activation: relu}}
    - {{units: 1, activation: sigmoid}}  # one unit: two classes, labels 0/1
train:
  loss: binary_crossentropy  # any Keras loss name
  optimizer: adam            # a name, or {{name: adam, learning_rate: 0.001}}
  metrics: [accuracy]
  epochs: 1500               # the tutorial's; try `--set train.epochs=20` for a quick look
  batch_size: 64
cv:
  folds: 10                  # for `densecli cv`
"""


def schema_line(target: Path) -> str:
    """Point editors at ./densecli.schema.json, relative to where the spec is written."""
    schema = Path.cwd() / SCHEMA_FILENAME
    relative = os.path.relpath(schema, target.resolve().parent)
    return f"{SCHEMA_COMMENT}{Path(relative).as_posix()}\n"


def starter_name(target: Path) -> str:
    """The spec's name from its file name: letters, digits, . _ - (as `name` must be)."""
    name = "".join(c if c.isalnum() or c in "._-" else "-" for c in target.stem) or "experiment"
    if not name[0].isalnum():
        name = f"x{name}"
    return name[:80]


def starter_text(target: Path) -> str:
    path = shlex.quote(str(target))
    return schema_line(target) + STARTER.format(path=path, name=starter_name(target))


def write_starter(target: Path) -> Path:
    return write_new_file(target, starter_text(target))


def write_new_file(target: Path, text: str) -> Path:
    """A new spec file, never over an existing one."""
    if target.exists():
        raise ConfigError(
            f"{target}: already exists; densecli init never overwrites a file, "
            "so pick another path or remove it first"
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("x", encoding="utf-8") as handle:  # "x": refuse a file made meanwhile
            handle.write(text)
    except FileExistsError:
        raise ConfigError(f"{target}: already exists; pick another path") from None
    except OSError as err:
        raise ConfigError(f"{target}: cannot write the spec here ({err.strerror})") from None
    return target
