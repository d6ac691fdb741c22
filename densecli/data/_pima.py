"""The Pima Indians Diabetes data: what is known about it, and finding the file.

densecli looks for the file in `$DENSECLI_DATA_DIR`, then in its cache (`$DENSECLI_CACHE_DIR`,
else the per-user cache folder), and otherwise
downloads it with Keras' `get_file` into a scratch folder, moving it into the cache only when
its sha256 matches. No TensorFlow here unless a download is needed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from densecli.errors import DataError


@dataclass(frozen=True)
class KnownData:
    """Facts about a published data set, recognised by its checksum wherever it comes from."""

    name: str
    sha256: str
    columns: tuple[str, ...]
    train_rows: int  # the classic split's training rows
    # Best scores reported for this data set, by metric (Pima: 77.7 % 10-fold accuracy).
    reported_best: dict[str, float] = field(default_factory=dict)


PIMA = KnownData(
    name="pima",
    sha256="6bfe5d0f379d17a0e0819b996407e3c09bf80febd4287f2ed212190dfff154af",
    columns=(
        "pregnancies",
        "glucose",
        "blood_pressure",
        "skin_thickness",
        "insulin",
        "bmi",
        "pedigree",
        "age",
        "outcome",
    ),
    train_rows=700,
    reported_best={"accuracy": 0.777},
)
KNOWN_DATA = {known.sha256: known for known in (PIMA,)}

PIMA_FILENAME = "pima-indians-diabetes.csv"
PIMA_URL = (
    "https://raw.githubusercontent.com/jbrownlee/Datasets/master/pima-indians-diabetes.data.csv"
)
DATA_DIR_ENV = "DENSECLI_DATA_DIR"
CACHE_DIR_ENV = "DENSECLI_CACHE_DIR"
PIMA_URL_ENV = "DENSECLI_PIMA_URL"


def sha256_of(path: Path) -> str:
    try:
        with path.open("rb") as handle:  # in pieces: a large table is not held twice
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as err:
        raise DataError(
            f"{path}: cannot read the data file ({err.strerror or err}); check that it exists "
            "and that you may read it"
        ) from None


def cache_dir() -> Path:
    """$DENSECLI_CACHE_DIR, else the per-user cache folder (as Keras and scikit-learn keep
    theirs outside the project): ~/.cache/densecli on Linux, ~/Library/Caches/densecli on
    macOS, %LOCALAPPDATA%\\densecli\\Cache on Windows."""
    given = os.environ.get(CACHE_DIR_ENV)
    if given:
        return Path(given)
    import platformdirs

    return Path(platformdirs.user_cache_dir("densecli", appauthor=False))


def locate_pima() -> Path:
    """$DENSECLI_DATA_DIR, else the cache, else a verified download into the cache."""
    data_dir = os.environ.get(DATA_DIR_ENV)
    if data_dir:
        path = Path(data_dir) / PIMA_FILENAME
        if not path.is_file():
            raise DataError(
                f"{path}: not found ({DATA_DIR_ENV}={data_dir}); put {PIMA_FILENAME} there "
                f"or unset {DATA_DIR_ENV} to use the cache or download"
            )
        _require_pima_checksum(path)
        return path
    cached = cache_dir() / PIMA_FILENAME
    if cached.is_file() and sha256_of(cached) == PIMA.sha256:
        return cached
    return download_pima(cached.parent, os.environ.get(PIMA_URL_ENV, PIMA_URL))


def _require_pima_checksum(path: Path) -> None:
    digest = sha256_of(path)
    if digest != PIMA.sha256:
        raise DataError(
            f"{path}: sha256 is {digest[:12]}…, expected {PIMA.sha256[:12]}… (the Pima file); "
            "replace it with the original file or pass your own CSV with data.path"
        )


def download_pima(directory: Path, origin: str) -> Path:
    """Fetch with Keras' get_file into a temporary folder; only a verified file reaches the cache.

    get_file checks the hash but leaves a mismatching file where it downloaded it, so it
    downloads into a scratch folder that is removed whatever happens.
    """
    from densecli.backend import import_keras

    try:
        directory.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".download-", dir=directory))
    except OSError as err:
        raise DataError(f"{directory}: cannot create the data cache ({err.strerror})") from None
    try:
        keras = import_keras()
        try:
            fetched = keras.utils.get_file(
                PIMA_FILENAME,
                origin,
                file_hash=PIMA.sha256,
                hash_algorithm="sha256",
                cache_dir=str(scratch),
                cache_subdir=".",
            )
        except Exception as err:
            raise DataError(
                f"{origin}: download of the Pima data failed ({err}); pass the file with "
                f"--data PATH or set {DATA_DIR_ENV} to the folder that holds {PIMA_FILENAME}"
            ) from None
        _require_pima_checksum(Path(fetched))
        target = directory / PIMA_FILENAME
        os.replace(fetched, target)
        return target
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
