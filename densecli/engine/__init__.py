"""Training: Keras models from the spec, and the engines that train many of them at once.

`train_parts` trains jobs (one model each: training rows, evaluation rows, a seed) with the
`compiled` engine (every job of a bundle inside one TensorFlow graph) or the `fit` engine
(`model.fit` per job, the reference). TensorFlow is imported only when training starts.
"""

from densecli.engine._jobs import Job, JobData, job_data
from densecli.engine._memory import (
    RUNTIME_BYTES,
    MemoryEstimate,
    available_bytes,
    check_fits,
    describe_bytes,
    estimate,
)
from densecli.engine._model import (
    build_model,
    check_input_dim,
    compile_model,
    load_saved_model,
    register_custom_layers,
)
from densecli.engine._monitor import Divergence, Journal, Progress, Silent, Watch
from densecli.engine._perjob import PER_JOB_OPTIMIZER_KEYS, bundle_key
from densecli.engine._train import (
    ENGINES,
    EngineName,
    JobResult,
    Judge,
    Part,
    train_parts,
)

__all__ = [
    "ENGINES",
    "PER_JOB_OPTIMIZER_KEYS",
    "RUNTIME_BYTES",
    "Divergence",
    "EngineName",
    "Job",
    "JobData",
    "JobResult",
    "Journal",
    "Judge",
    "MemoryEstimate",
    "Part",
    "Progress",
    "Silent",
    "Watch",
    "available_bytes",
    "build_model",
    "bundle_key",
    "check_fits",
    "check_input_dim",
    "compile_model",
    "describe_bytes",
    "estimate",
    "job_data",
    "load_saved_model",
    "register_custom_layers",
    "train_parts",
]
