"""Importing Keras on TensorFlow quietly and deterministically.

TensorFlow's native code writes start-up lines (oneDNN, CUDA, CPU features) straight to
file descriptor 2 before any Python-side setting applies, so TF_CPP_MIN_LOG_LEVEL alone does
not hide them: the import runs with fd 2 pointed at a scratch file, whose text is shown only
if the import fails.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from densecli.signals import as_stop

_keras: ModuleType | None = None
_import_seconds: float | None = None
_threads: tuple[int, int] | None = None  # (intra-op, inter-op); 0 = TensorFlow's default
INTRA_OP_ENV = "DENSECLI_INTRA_OP_THREADS"
# Below this many multiply-adds per training step, splitting one op across cores costs more
# in hand-offs than it saves (measured: 10 Pima models train 2x faster on one intra-op thread),
# and so does handing the graph's next op to another thread: one inter-op thread runs the
# compiled engine's steps ~30 % faster.
SMALL_STEP_MACS = 5_000_000


def prefer_threads_for(step_macs: int) -> None:
    """Choose TensorFlow's threads for the work ahead; effective until its first op runs
    (a warm sweep worker has imported it but not run one).

    $DENSECLI_INTRA_OP_THREADS wins (0 = TensorFlow's default) and leaves inter-op threads
    at TensorFlow's default.
    """
    global _threads
    if INTRA_OP_ENV in os.environ:
        _threads = (int(os.environ[INTRA_OP_ENV]), 0)
    else:
        _threads = (1, 1) if step_macs < SMALL_STEP_MACS else (0, 0)
    if _keras is not None:
        import tensorflow as tf

        _apply_threads(tf)


@contextlib.contextmanager
def native_stderr_captured() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as scratch:
        os.dup2(scratch.fileno(), 2)
        try:
            yield
        except Exception as error:  # not on Ctrl-C / SIGTERM: an interrupted import is no failure
            stop = as_stop(error)
            if stop is not None:  # an import that wrapped the stop in its own error
                raise stop from None
            os.dup2(saved, 2)
            scratch.seek(0)
            sys.stderr.write(scratch.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_keras() -> Any:
    """Keras 3 on the TensorFlow backend, logs silenced, op determinism on."""
    global _keras, _import_seconds
    if _keras is not None:
        return _keras
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    started = time.perf_counter()
    with native_stderr_captured():
        import keras
        import tensorflow as tf

        tf.config.list_physical_devices()  # CUDA probing logs here, not at import
    _import_seconds = time.perf_counter() - started
    _apply_threads(tf)
    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    tf.config.experimental.enable_op_determinism()
    _keras = keras
    return keras


def _apply_threads(tf: Any) -> None:
    """prefer_threads_for's choice; TensorFlow takes it only before its first op runs."""
    if _threads is None:
        return
    # RuntimeError: TensorFlow already ran ops in this process, so it keeps its threads.
    with contextlib.suppress(RuntimeError):
        tf.config.threading.set_intra_op_parallelism_threads(_threads[0])
        tf.config.threading.set_inter_op_parallelism_threads(_threads[1])


def seed_everything(seed: int) -> None:
    """Python, NumPy and TensorFlow generators, through Keras."""
    import_keras().utils.set_random_seed(seed)


def versions() -> dict[str, str]:
    keras = import_keras()  # first, so that TensorFlow's import stays quiet
    import numpy
    import sklearn
    import tensorflow as tf

    threads = tf.config.threading
    return {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
        # intra-op/inter-op threads as set (0: TensorFlow's default); see prefer_threads_for
        "tensorflow_threads": (
            f"{threads.get_intra_op_parallelism_threads()}/"
            f"{threads.get_inter_op_parallelism_threads()}"
        ),
    }


def import_seconds() -> float:
    """What importing TensorFlow and Keras cost this process (0 before the import): every
    command that trains pays it once; env.json records it."""
    return round(_import_seconds or 0.0, 3)
