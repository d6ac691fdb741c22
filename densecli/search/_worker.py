"""One group of points, trained as one bundle in whatever process runs it: a local worker
process or a Ray task. Everything a group needs travels as plain data (`GroupTask`)."""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np

from densecli.errors import RunPruned
from densecli.experiment import Outcome, Output, Plan, prepare, run_cv_together, step_macs
from densecli.search._pruning import PruningPlan, TrialJudge, make_judges
from densecli.signals import signals_as_interrupts
from densecli.spec import Spec
from densecli.tasks import Score

Status = Literal["done", "failed", "pruned"]


@dataclass(frozen=True)
class PointPlace:
    """What one point of a group has of its own beyond its spec: a nested tune's trials of
    several outer folds train in one bundle, each into its outer fold's folder, its CV made
    over that fold's training rows, judged by that fold's study."""

    folder: str = ""  # its runs folder, relative to the group's (sweep_dir)
    rows: tuple[int, ...] | None = None  # the rows its CV folds are made of (None: all)
    pruning: PruningPlan | None = None  # its study's pruner (None: the group's)


@dataclass(frozen=True)
class GroupTask:
    """One engine bundle's worth of points, as plain data a worker process or Ray task takes."""

    sweep_dir: str
    points: list[tuple[int, Spec]]  # (point number, its validated spec)
    data_path: str | None
    plan: Plan
    data_bytes: bytes | None = None  # for Ray workers that may not see data_path
    command: tuple[str, ...] = field(default=())  # the sweep's command line, for env.json
    pruning: PruningPlan | None = None  # densecli tune: its pruner judges the points
    plots: bool = False  # draw every point's pictures (else `densecli show RUN --plots`)
    places: tuple[PointPlace, ...] = ()  # each point's own, in order (empty: none has any)

    def place(self, index: int) -> PointPlace:
        return self.places[index] if self.places else PointPlace()


@dataclass(frozen=True)
class PointResult:
    number: int
    status: Status
    run: str | None  # the run folder's name inside the sweep folder
    score: float | None  # the task's ranking score
    message: str = ""
    ranked_by: Score | None = None  # which score that is
    reports: tuple[tuple[int, float], ...] = ()  # tune: (step, intermediate value) reported
    pruned_at: int | None = None  # tune: the epoch its pruner stopped it


def group_step_macs(task: GroupTask, n_features: int) -> int:
    """Multiply-adds of one training step of the group's bundle (all its models)."""
    models = task.plan.repeats * task.plan.seeds
    return sum(step_macs(spec, n_features, spec.cv.folds * models) for _, spec in task.points)


def run_group(task: GroupTask) -> list[PointResult]:
    """Train one group's points as one bundle into run folders in task.sweep_dir."""
    with signals_as_interrupts():  # from the start: Ctrl-C during start-up stops it too
        return train_group(task)


def train_group(task: GroupTask) -> list[PointResult]:
    """run_group without its signal handling: a sweep worker installs its own."""
    from densecli.backend import import_keras, prefer_threads_for

    notices: list[str] = []
    plan = task.plan
    data_path = Path(task.data_path) if task.data_path else None
    places = [task.place(i) for i in range(len(task.points))]
    experiments = [
        prepare(spec, data_path)
        if place.rows is None
        else prepare(spec, data_path).within(np.asarray(place.rows, dtype=np.int64))
        for (_, spec), place in zip(task.points, places, strict=True)
    ]
    prefer_threads_for(group_step_macs(task, experiments[0].data.n_features))  # if not warm
    import_keras().backend.clear_session()  # each group starts from a fresh Keras state
    # The runs record the sweep's command, not the worker's own (a Ray worker's is Ray's).
    output = Output(
        Path(task.sweep_dir), notice=notices.append, command=task.command, plots=task.plots
    )
    judges = _judges(task, places)
    folders = [Path(task.sweep_dir) / place.folder for place in places]
    outcomes = run_cv_together(experiments, plan, output, list(judges), folders)
    message = "; ".join(dict.fromkeys(notices))
    results = []
    for index, ((number, _), exp, outcome) in enumerate(
        zip(task.points, experiments, outcomes, strict=True)
    ):
        judge = judges[index]
        reports = () if judge is None else tuple(judge.reports)
        if isinstance(outcome, Outcome):
            ranking = exp.task.score
            score = float(outcome.metrics[ranking.key])
            run = outcome.run_dir.name
            results.append(PointResult(number, "done", run, score, message, ranking, reports))
        elif isinstance(outcome, RunPruned):
            pruned = PointResult(number, "pruned", None, None, "", None, reports, outcome.epoch)
            results.append(pruned)
        else:
            problems = " ".join(outcome.problems)
            results.append(PointResult(number, "failed", None, None, problems, None, reports))
    return results


def _judges(task: GroupTask, places: list[PointPlace]) -> list[TrialJudge | None]:
    """A judge per point from its study's pruning plan (one mirror per plan), or none."""
    plans = [place.pruning or task.pruning for place in places]
    judges: list[TrialJudge | None] = [None] * len(plans)
    for plan in {id(p): p for p in plans if p is not None}.values():
        chosen = [i for i, p in enumerate(plans) if p is plan]
        for index, judge in zip(chosen, make_judges(plan, len(chosen)), strict=True):
            judges[index] = judge
    return judges


def failed_group(task: GroupTask, error: BaseException) -> list[PointResult]:
    """A group whose worker raised (not an interruption): its points fail, the sweep goes on."""
    problems = getattr(error, "problems", None) or [f"{type(error).__name__}: {error}"]
    return [PointResult(n, "failed", None, None, " ".join(problems)) for n, _ in task.points]


def run_group_packed(task: GroupTask) -> tuple[list[PointResult], bytes]:
    """For Ray: train into a scratch folder on the worker and return the run folders packed,
    so the cluster's nodes need no shared filesystem (the data travels with the task)."""
    import io
    import tarfile
    import tempfile

    with tempfile.TemporaryDirectory(prefix="densecli-ray-") as scratch:
        data_path = task.data_path
        if task.data_bytes is not None and not (data_path and Path(data_path).is_file()):
            data_path = str(Path(scratch) / "data.csv")
            Path(data_path).write_bytes(task.data_bytes)
        runs = Path(scratch) / "runs"
        runs.mkdir()
        local = replace(task, sweep_dir=str(runs), data_path=data_path, data_bytes=None)
        results = run_group(local)
        packed = io.BytesIO()
        with tarfile.open(fileobj=packed, mode="w:gz") as archive:
            for folder in sorted(runs.iterdir()):
                if not folder.name.startswith("."):
                    archive.add(folder, arcname=folder.name)
    return results, packed.getvalue()


def unpack_runs(packed: bytes, sweep_dir: Path, places: Collection[str] = ()) -> None:
    """Move a Ray task's run folders into the sweep folder (or into their `places`, folders
    of runs inside it), each appearing whole."""
    import io
    import tarfile
    import tempfile

    with tempfile.TemporaryDirectory(prefix=".unpack-", dir=sweep_dir) as scratch:
        with tarfile.open(fileobj=io.BytesIO(packed), mode="r:gz") as archive:
            archive.extractall(scratch, filter="data")
        for folder in sorted(Path(scratch).iterdir()):
            if folder.name not in places:
                os.replace(folder, sweep_dir / folder.name)
                continue
            (sweep_dir / folder.name).mkdir(exist_ok=True)
            for run in sorted(folder.iterdir()):
                os.replace(run, sweep_dir / folder.name / run.name)


# --- running the groups --------------------------------------------------------------------
