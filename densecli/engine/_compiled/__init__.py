"""The compiled engine: a bundle of independent jobs trained inside one TensorFlow graph.

Every job starts from the weights a Keras model built from the spec with its own seed has
(`_job_models.py`), exactly those the reference engine (`model.fit`) would start from.
For training, the bundle's rows are padded to one length and masked (`_bundle.py`), its
weights are stacked along a leading job axis, and one `tf.function` runs a chunk of epochs
(`_trainer.py`): per epoch each job's rows are reshuffled (`_epochs.py`), every minibatch
runs the bundle's forward pass (`_forward.py`, as planned by `_plans.py`) and one optimizer
with per-job hyperparameters updates the stacked weights (`_optimizer.py`); early stopping
keeps each job's best weights (`_stopping.py`). Per-step Python and framework overhead, which
dominates `model.fit` on a network this small, is paid once per chunk instead of once per
step. What the engine cannot run (`_support.py`) goes to the reference engine.

What a step costs here is the number of graph ops, not arithmetic: the loops are explicit
`tf.while_loop`s traced without autograph, the training columns are shuffled with one
gather, and small networks run on one intra- and one inter-op thread (`densecli.backend`).
XLA was measured and left out: ~30 % faster steps, but ~1.2 s more compile time.

Known difference from `model.fit`: when jobs have different numbers of training rows and one
of them needs one step fewer per epoch, it still takes that step with a zero gradient (the
optimizer's momentum moves it slightly). Stratified folds differ by at most one row, so this
happens only when a fold size is an exact multiple of the batch size.
"""

from densecli.engine._compiled._bundle import Bundle, make_bundle
from densecli.engine._compiled._job_models import JobModel, build_models
from densecli.engine._compiled._support import Unsupported, check_supported
from densecli.engine._compiled._trainer import CompiledTrainer, train_bundle

__all__ = [
    "Bundle",
    "CompiledTrainer",
    "JobModel",
    "Unsupported",
    "build_models",
    "check_supported",
    "make_bundle",
    "train_bundle",
]
