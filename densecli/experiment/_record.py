"""Training an experiment into its run folder, from the first record to the finished run.

Everything needed to repeat the run (config.yaml, env.json, folds.json) is written before
training starts; history is journaled as epochs end; metrics, predictions, models and
pictures are written when training ends; only then does the run move into place. Several
experiments that build the same network train together as one bundle, each into its own
run folder (a sweep's group of points).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from densecli.backend import import_seconds, prefer_threads_for, versions
from densecli.data import target_position
from densecli.engine import JobResult, Judge, Part, Watch, train_parts
from densecli.errors import DensecliError, RunPruned, TrainingDiverged
from densecli.experiment._prepare import Experiment, Output, Plan
from densecli.experiment._resampling import (
    Resampling,
    cv_resampling,
    holdout_resampling,
    split_resampling,
)
from densecli.report import write_run_plots, write_tensorboard_logs
from densecli.runs import RunFolder, StoppedRun, environment
from densecli.runs.files import (
    CONFIG,
    ENVIRONMENT,
    FOLDS,
    INPUTS,
    METRICS,
    PREDICTIONS,
    model_file,
    model_stem,
    preprocess_file,
    read_history,
    write_csv_rows,
    write_history,
    write_json,
    write_yaml,
    written_atomically,
)
from densecli.spec import Spec


@dataclass(frozen=True)
class Outcome:
    run_dir: Path
    metrics: dict[str, Any]


@dataclass(frozen=True)
class _Recording:
    """One experiment's run folder while its jobs train: inputs written, history watched."""

    exp: Experiment
    folder: RunFolder
    watch: Watch
    resampling: Resampling


def step_macs(spec: Spec, n_features: int, jobs: int) -> int:
    widths = [n_features] + [layer.units for layer in spec.model.layers]
    return jobs * spec.train.batch_size * sum(a * b for a, b in itertools.pairwise(widths))


def _describe_spec(spec: Spec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "seed": spec.seed,
        "epochs": spec.train.epochs,
        "batch_size": spec.train.batch_size,
        "layers": [layer.units for layer in spec.model.layers],
    }


def _write_run_inputs(
    recording: _Recording, library_versions: dict[str, str], output: Output
) -> None:
    """Everything needed to repeat the run, written before training starts."""
    exp, path, resampling = recording.exp, recording.folder.path, recording.resampling
    write_yaml(path / CONFIG, exp.spec.resolved())
    environment_record = environment(exp.spec.seed, library_versions, output.command)
    environment_record["tensorflow_import_seconds"] = import_seconds()
    write_json(path / ENVIRONMENT, environment_record)
    folds: dict[str, Any] = {
        "method": resampling.method,
        "rows": "0-based indices of data rows in file order",
        "jobs": [
            {"name": j.name, "seed": j.seed, "test_rows": j.eval_rows.tolist()}
            for j in resampling.jobs
        ],
    }
    if exp.rows is not None:  # a nested tune's trial: the outer training rows its CV used
        folds["within"] = exp.rows.tolist()
    write_json(path / FOLDS, folds)


def _open_recording(
    exp: Experiment,
    resampling: Resampling,
    library_versions: dict[str, str],
    output: Output,
    runs_dir: Path,
) -> _Recording:
    folder = RunFolder(runs_dir, exp.spec.name, resampling.mode)
    watch = Watch(
        [job.name for job in resampling.jobs],
        exp.spec.train.epochs,
        exp.task.history_keys[:4],
        folder.journal,
        validation=exp.spec.train.early_stopping is not None,
    )
    recording = _Recording(exp, folder, watch, resampling)
    try:
        _write_run_inputs(recording, library_versions, output)
    except BaseException as error:
        folder.keep_unfinished(_stopped(watch), error)
        raise
    return recording


def _stopped(watch: Watch) -> StoppedRun:
    return StoppedRun(
        history=watch.history_rows(),
        epochs_planned=watch.epochs,
        epochs_done=watch.epochs_done(),
        models=len(watch.jobs),
        diverged=[
            {"job": d.job, "epoch": d.epoch, "loss": str(d.loss)} for d in watch.diverged.values()
        ],
    )


def _run_metrics(recording: _Recording, results: list[JobResult]) -> dict[str, Any]:
    exp = recording.exp
    return {
        "mode": recording.resampling.mode,
        "task": exp.task.name,
        **({"task_reason": exp.task.reason} if exp.task.reason else {}),
        **recording.resampling.summarize(results),
        **exp.task.data_references(),
        "data_file": str(exp.data.path),
        "data_sha256": exp.data.sha256,
        **_describe_spec(exp.spec),
        "engine": results[0].engine,
        "models": len(results),
        "created": recording.folder.created.isoformat(),
    }


def _write_results(recording: _Recording, results: list[JobResult]) -> None:
    """History, predictions and every model with the preprocessing fitted on its rows."""
    path, task = recording.folder.path, recording.exp.task
    history = [
        {"job": r.job.name, "epoch": epoch + 1, **{k: v[epoch] for k, v in r.history.items()}}
        for r in results
        for epoch in range(len(next(iter(r.history.values()), [])))
    ]
    write_history(path, history)
    rows = (  # job by job, as they are written
        {"job": r.job.name, **row}
        for r in results
        for row in task.prediction_rows(r.job.eval_rows, r.targets.decode(r.outputs))
    )
    first = next(rows, None)
    names = list(first) if first is not None else []
    write_csv_rows(path / PREDICTIONS, names, itertools.chain([first] if first else [], rows))
    for r in results:
        model = model_file(path, model_stem(r.job.name, len(results)))
        model.parent.mkdir(exist_ok=True)
        with written_atomically(model) as scratch:
            r.model.save(scratch)
        target = r.targets.to_json()  # how predict turns this model's outputs into values
        record = r.preprocessor.to_json() | ({"target": target} if target else {})
        write_json(preprocess_file(model), record)


def _write_extras(recording: _Recording, output: Output) -> None:
    """inputs.json for predict, the plots (unless `output` leaves them out), and TensorBoard
    logs if the spec asks for them.

    Called while the run is still in its scratch folder, after metrics.json is written.
    """
    exp, path = recording.exp, recording.folder.path
    inputs = {
        "features": list(exp.data.feature_names),
        "target": exp.data.target_name,
        "target_index": target_position(exp.data),
        **exp.task.describe_target(),
        **exp.data.describe(),  # header, categorical columns, source, what was inferred
    }
    write_json(path / INPUTS, inputs)
    # A bug in these extras must not throw away the trained models: it only warns.
    try:
        if output.plots:
            write_run_plots(path)
    except Exception as err:
        output.notice(f"warning: plots not written ({type(err).__name__}: {err})")
    if exp.spec.train.tensorboard:
        try:
            write_tensorboard_logs(path, read_history(path))
        except Exception as err:
            output.notice(f"warning: TensorBoard logs not written ({type(err).__name__}: {err})")


def _finish_recording(recording: _Recording, results: list[JobResult], output: Output) -> Outcome:
    """Metrics, history, predictions, models and plots; then the run folder moves into place."""
    recording.watch.raise_if_diverged()
    metrics = _run_metrics(recording, results)
    _write_results(recording, results)
    write_json(recording.folder.path / METRICS, metrics)
    _write_extras(recording, output)
    return Outcome(recording.folder.finish(), metrics)


def train_and_record(
    experiments: list[tuple[Experiment, Resampling]],
    plan: Plan,
    output: Output,
    judges: list[Judge | None] | None = None,
    places: Sequence[Path] | None = None,
) -> list[Outcome | DensecliError]:
    """Train the experiments' jobs together (one bundle when the compiled engine can) in
    scratch run folders; each becomes a run only when complete, in output.runs_dir (or in
    its own folder of `places`: a nested tune's trials of several outer folds).

    An experiment whose models all diverged gets its `<run>.failed` folder and its error in
    the returned list; the others still finish. An interruption keeps every experiment's
    history as `<run>.interrupted` (or nothing, before the first epoch) and is re-raised.
    """
    macs = sum(step_macs(e.spec, e.data.n_features, len(r.jobs)) for e, r in experiments)
    prefer_threads_for(macs)
    library_versions = versions()  # imports TensorFlow: the slow part, before any folder exists
    recordings: list[_Recording] = []
    folders = places or [output.runs_dir] * len(experiments)
    try:
        for (exp, resampling), runs_dir in zip(experiments, folders, strict=True):
            recordings.append(_open_recording(exp, resampling, library_versions, output, runs_dir))
        judged = judges or [None] * len(recordings)
        parts = [
            Part(r.exp.spec, r.exp.task, r.resampling.jobs, r.watch, judge)
            for r, judge in zip(recordings, judged, strict=True)
        ]
        data = recordings[0].exp.data
        with _meanwhile([r.resampling.ahead for r in recordings]) as start:
            trained = train_parts(
                parts, data, output.progress, plan.engine, output.notice, packed=start
            )
    except BaseException as error:
        for recording in recordings:  # interrupted or diverged: kept, marked; else gone
            stopped = _stopped(recording.watch)
            recording.folder.keep_unfinished(stopped, _own_error(recording, error))
        raise
    return [
        _finish_or_fail(r, results, output) for r, results in zip(recordings, trained, strict=True)
    ]


@contextlib.contextmanager
def _meanwhile(work: list[Callable[[], object] | None]) -> Iterator[Callable[[], None]]:
    """Run the resamplings' work ahead (the references' fits) on a second thread while the
    networks train on this one: scikit-learn and TensorFlow both leave the GIL for their
    numerical work, so on two cores the references cost little wall time. Started by the
    function this yields (the engine calls it once its training data is packed, so the two
    do not hold their working copies at once); waited for when training ends; left behind
    (a daemon) when it is interrupted. A failure there is not reported here: the summary
    computes what is missing and reports it."""
    tasks = [w for w in work if w is not None]

    def run() -> None:
        for task in tasks:
            with contextlib.suppress(Exception):
                task()

    thread = threading.Thread(target=run, name="references", daemon=True)

    def start() -> None:
        if tasks and not thread.is_alive():
            thread.start()

    yield start
    if thread.is_alive() or thread.ident is not None:
        thread.join()


def _own_error(recording: _Recording, error: BaseException) -> BaseException:
    """All models of the bundle diverged: each experiment fails with its own report."""
    if isinstance(error, TrainingDiverged) and recording.watch.diverged:
        return recording.watch.divergence_error()
    return error


def _finish_or_fail(
    recording: _Recording, results: list[JobResult], output: Output
) -> Outcome | DensecliError:
    if recording.watch.pruned_at is not None:  # a search stopped it: history kept, no models
        pruned = RunPruned(recording.watch.pruned_at)
        recording.folder.keep_unfinished(_stopped(recording.watch), pruned)
        return pruned
    try:
        return _finish_recording(recording, results, output)
    except TrainingDiverged as diverged:
        recording.folder.keep_unfinished(_stopped(recording.watch), diverged)
        return diverged
    except BaseException as error:
        recording.folder.keep_unfinished(_stopped(recording.watch), error)
        raise


def _train_one(exp: Experiment, resampling: Resampling, plan: Plan, output: Output) -> Outcome:
    outcome = train_and_record([(exp, resampling)], plan, output)[0]
    if isinstance(outcome, DensecliError):
        raise outcome
    return outcome


def run_split(exp: Experiment, plan: Plan, output: Output) -> Outcome:
    """The classic split: train on the first rows, score the rest."""
    return _train_one(exp, split_resampling(exp, plan), plan, output)


def run_cv(exp: Experiment, plan: Plan, output: Output) -> Outcome:
    """(Repeated) k-fold cross-validation, with the task's references on the same folds."""
    return _train_one(exp, cv_resampling(exp, plan), plan, output)


def run_cv_together(
    experiments: list[Experiment],
    plan: Plan,
    output: Output,
    judges: list[Judge | None] | None = None,
    places: Sequence[Path] | None = None,
) -> list[Outcome | DensecliError]:
    """Several CV experiments that build the same network, trained as one bundle (a
    search's pruner may stop some of them: `judges`, one per experiment; `places`: each
    one's runs folder, default output.runs_dir)."""
    pairs = [(exp, cv_resampling(exp, plan)) for exp in experiments]
    return train_and_record(pairs, plan, output, judges, places)


def run_holdout(
    exp: Experiment,
    plan: Plan,
    output: Output,
    rows: tuple[np.ndarray, np.ndarray],
    described: str,
    label: str,
) -> Outcome:
    """`plan.seeds` models trained on rows[0] and scored on rows[1] (a nested tune's refit
    of an outer fold's winner), recorded as a split run: folds.json's method `described`,
    metrics.json's `split` the short `label` its tables name the test rows by."""
    resampling = holdout_resampling(exp, plan, rows[0], rows[1], described, label)
    return _train_one(exp, resampling, plan, output)
