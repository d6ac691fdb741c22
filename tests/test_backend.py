"""TensorFlow set-up: the thread choice must reach TensorFlow."""

import os
import subprocess
import sys

import pytest

from conftest import ROOT

CHECK = """
from densecli.backend import import_keras, prefer_threads_for
prefer_threads_for(1_000)
import_keras()
import tensorflow as tf
threading = tf.config.threading
print(threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads())
"""


@pytest.mark.parametrize(("env", "threads"), [(None, "1 1"), ("0", "0 0"), ("2", "2 0")])
def test_small_networks_run_on_the_chosen_threads(env: str | None, threads: str) -> None:
    environ = {k: v for k, v in os.environ.items() if k != "DENSECLI_INTRA_OP_THREADS"}
    if env is not None:
        environ["DENSECLI_INTRA_OP_THREADS"] = env
    done = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=ROOT, env=environ, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == threads
