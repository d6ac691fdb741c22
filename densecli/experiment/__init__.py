"""Experiments: a validated spec on its data, trained on the classic split or by k-fold CV
into a finished run folder."""

from densecli.experiment._prepare import (
    Experiment,
    Output,
    Plan,
    announce_inferences,
    load_data,
    prepare,
)
from densecli.experiment._record import (
    Outcome,
    run_cv,
    run_cv_together,
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
from densecli.experiment._starter import write_fitted_spec

__all__ = [
    "Experiment",
    "Outcome",
    "Output",
    "Plan",
    "Resampling",
    "announce_inferences",
    "cv_folds",
    "cv_jobs",
    "cv_resampling",
    "job_seed",
    "load_data",
    "prepare",
    "run_cv",
    "run_cv_together",
    "run_split",
    "split_resampling",
    "step_macs",
    "train_and_record",
    "write_fitted_spec",
]
