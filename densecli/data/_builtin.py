"""Built-in data sets besides Pima: scikit-learn's bundled copies, nothing downloaded.

`data.name: iris | wine | breast_cancer | diabetes` writes the bundled data once as an
ordinary CSV with a header (class names as text) into the data cache, so it is read,
checksummed, recorded and shipped to sweep workers exactly like a user's file.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from pathlib import Path

from densecli.data._pima import cache_dir
from densecli.errors import DataError

# name → (scikit-learn loader, the target column's name)
BUILTIN_DATA = {
    "iris": ("load_iris", "species"),
    "wine": ("load_wine", "cultivar"),
    "breast_cancer": ("load_breast_cancer", "diagnosis"),
    "diabetes": ("load_diabetes", "progression"),
}


def _column_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _table_text(name: str) -> str:
    import sklearn.datasets

    loader, target_name = BUILTIN_DATA[name]
    options = {"scaled": False} if name == "diabetes" else {}
    bunch = getattr(sklearn.datasets, loader)(**options)
    names = getattr(bunch, "target_names", None)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*(_column_name(n) for n in bunch.feature_names), target_name])
    for row, target in zip(bunch.data, bunch.target, strict=True):
        label = str(names[int(target)]) if names is not None else repr(float(target))
        writer.writerow([*(repr(float(v)) for v in row), label])
    return buffer.getvalue()


def builtin_csv(name: str) -> tuple[Path, str]:
    """The data set as a CSV in the cache (written if missing or different), and its origin."""
    if name not in BUILTIN_DATA:
        raise DataError(
            f"data.name: unknown data set {name!r}; use pima, {', '.join(BUILTIN_DATA)}"
        )
    text = _table_text(name)
    path = cache_dir() / f"sklearn-{name}.csv"
    description = f"scikit-learn's bundled {name} (sklearn.datasets.{BUILTIN_DATA[name][0]})"
    try:
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, scratch = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(scratch, path)
    except OSError as err:
        raise DataError(f"{path}: cannot write the {name} data ({err.strerror})") from None
    return path, description
