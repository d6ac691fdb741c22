"""Experiments: a validated spec on its data, trained on the classic split or by k-fold CV
into a finished run folder."""

from densecli.experiment._checks import (
    Candidate,
    KerasCheck,
    Scope,
    check_before_training,
    check_with_keras,
    keras_problems,
    memory_needed,
)
from densecli.experiment._prepare import (
    DEFAULT_PLAN,
    Experiment,
    Output,
    Plan,
    announce_inferences,
    load_data,
    prepare,
    prepare_file,
    spec_for,
)
from densecli.experiment._record import (
    Outcome,
    run_cv,
    run_cv_together,
    run_holdout,
    run_split,
    step_macs,
    train_and_record,
)
from densecli.experiment._resampling import (
    Resampling,
    cv_folds,
    cv_jobs,
    cv_resampling,
    job_seed,
    split_resampling,
)
from densecli.experiment._run import DEFAULT_CONFIG, RunRequest, announce, run_experiment
from densecli.experiment._starter import INIT_PATH, INIT_TARGET, write_fitted_spec, write_spec
from densecli.experiment._validate import validate_file

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_PLAN",
    "INIT_PATH",
    "INIT_TARGET",
    "Candidate",
    "Experiment",
    "KerasCheck",
    "Outcome",
    "Output",
    "Plan",
    "Resampling",
    "RunRequest",
    "Scope",
    "announce",
    "announce_inferences",
    "check_before_training",
    "check_with_keras",
    "cv_folds",
    "cv_jobs",
    "cv_resampling",
    "job_seed",
    "keras_problems",
    "load_data",
    "memory_needed",
    "prepare",
    "prepare_file",
    "run_cv",
    "run_cv_together",
    "run_experiment",
    "run_holdout",
    "run_split",
    "spec_for",
    "split_resampling",
    "step_macs",
    "train_and_record",
    "validate_file",
    "write_fitted_spec",
    "write_spec",
]
