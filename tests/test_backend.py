"""TensorFlow set-up: the thread choice must reach TensorFlow."""

import os
import subprocess
import sys

import pytest

from conftest import ROOT

CHECK = """
import sys
from densecli.backend import import_keras, prefer_threads_for
warm = sys.argv[1] == "warm"  # a sweep worker imports TensorFlow before it knows its work
if warm:
    import_keras()
prefer_threads_for(1_000)
import_keras()
import tensorflow as tf
tf.constant(1.0) + 1.0  # the first op: the threads are fixed from here on
threading = tf.config.threading
print(threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads())
"""


@pytest.mark.parametrize(
    ("env", "threads", "order"),
    [(None, "1 1", "cold"), ("0", "0 0", "cold"), ("2", "2 0", "cold"), (None, "1 1", "warm")],
)
def test_small_networks_run_on_the_chosen_threads(
    env: str | None, threads: str, order: str
) -> None:
    environ = {k: v for k, v in os.environ.items() if k != "DENSECLI_INTRA_OP_THREADS"}
    if env is not None:
        environ["DENSECLI_INTRA_OP_THREADS"] = env
    done = subprocess.run(
        [sys.executable, "-c", CHECK, order], cwd=ROOT, env=environ, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == threads


def test_an_import_error_caused_by_a_stop_is_the_stop_and_replays_nothing(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A library that wraps Ctrl-C / SIGTERM in its own error mid-import: the stop wins and
    the captured start-up lines stay hidden (they are shown for a real failure)."""
    import os

    from densecli.backend import native_stderr_captured
    from densecli.signals import Interrupted

    def wrapped_stop() -> None:
        os.write(2, b"oneDNN custom operations are on\n")
        try:
            raise Interrupted(15)
        except BaseException as stop:
            raise ImportError("import failed") from stop

    with pytest.raises(Interrupted), native_stderr_captured():
        wrapped_stop()
    assert "oneDNN" not in capfd.readouterr().err
    with pytest.raises(ImportError), native_stderr_captured():
        os.write(2, b"a real failure's lines\n")
        raise ImportError("broken")
    assert "a real failure's lines" in capfd.readouterr().err
