"""The Pima file the benchmarks train on: --data, or $DENSECLI_DATA_DIR's copy."""

from __future__ import annotations

import os
from pathlib import Path


def pima_path(given: str | None) -> Path:
    if given:
        return Path(given)
    folder = os.environ.get("DENSECLI_DATA_DIR")
    if not folder:
        raise SystemExit("give --data PATH or set DENSECLI_DATA_DIR to the Pima CSV's folder")
    return Path(folder) / "pima-indians-diabetes.csv"
