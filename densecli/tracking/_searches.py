"""A search folder (sweep or tune) as MLflow shows it: a parent run spanning the search, with
every point or trial nested under it, read from disk only.

The parent holds the search's definition and protocol (a tune: the study's options too) as
params, the best point or trial so far (and a tune's confirmation) as metrics and tags, and
spans the search's real start and end. Each point or trial is a nested run: finished ones
as every run is, pruned and failed ones with their history up to the stop. Only the best
point, or the trial the confirmation confirmed, carries a model, and only once the search is
complete (a search still running may be logged again later; the model then follows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from densecli.errors import DensecliError, RunsError
from densecli.runs import trial_number
from densecli.runs.files import (
    CONFIRM_FOLDER,
    CONFIRMATION_JSON,
    FAILED_SUFFIX,
    METRICS,
    PRUNED_SUFFIX,
    RESULTS_CSV,
    RESULTS_MD,
    SEARCH_RECORDS,
    SWEEP,
    TUNE,
    SearchKind,
    is_unfinished,
    search_kind,
)
from densecli.tasks import view_for
from densecli.tracking._record import (
    RUN_KEY_TAG,
    STATE_TAG,
    Record,
    experiment_name,
    file_key,
    flatten,
    millis,
    param_text,
    read_mapping,
    run_record,
    stopped_record,
)

ROLE_TAG = "densecli.role"  # a tune's confirmation run
POINT_TAG = "densecli.sweep_point"  # p001
TRIAL_TAG = "densecli.trial"  # 7
# Besides the record file: what a search folder adds as it goes (each logged if present).
SEARCH_FILES = (
    RESULTS_CSV, RESULTS_MD, "importances.csv", "best.yaml", "history.png", "parallel.png",
)  # fmt: skip


@dataclass(frozen=True)
class SearchReading:
    kind: SearchKind
    parent: Record
    members: list[Record]  # points or trials (a tune's confirmation run last)
    problems: dict[Path, list[str]]  # members that could not be read: named, skipped
    best: Path | None  # the member that carries the model, once `complete`
    complete: bool


def _children(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _member(folder: Path, experiment: str) -> Record | None:
    """A point's or trial's run folder as a record; None for what is not a result yet
    (an interrupted point is trained again)."""
    if folder.name.endswith((PRUNED_SUFFIX, FAILED_SUFFIX)):
        return stopped_record(folder, experiment)
    if (folder / METRICS).is_file() and not is_unfinished(folder):
        return run_record(folder, experiment)
    return None


def _tagged(record: Record, **tags: str) -> Record:
    return replace(record, tags={**record.tags, **tags})


def _score(record: Record) -> tuple[str, bool, float] | None:
    """The member's score: its key, whether higher is better, its value."""
    metrics = record.metrics_json
    if metrics is None:
        return None
    score = view_for(metrics).score
    value = record.metrics.get(score.key)
    return None if value is None else (score.key, score.higher_is_better, value)


def _best(members: list[Record]) -> Record | None:
    """The best finished member (the first of equals, in trial or point order)."""
    scored = [(m, s) for m in members if (s := _score(m)) is not None]
    if not scored:
        return None
    _, higher, _ = scored[0][1]
    return max(scored, key=lambda ms: ms[1][2] if higher else -ms[1][2])[0]


def _read_members(
    folder: Path, experiment: str, label: Callable[[Record], Record]
) -> tuple[list[Record], dict[Path, list[str]]]:
    members, problems = [], {}
    for child in _children(folder):
        if child.name == CONFIRM_FOLDER:
            continue
        try:
            record = _member(child, experiment)
        except DensecliError as err:
            problems[child] = err.problems
            continue
        if record is not None:
            members.append(label(record))
    return members, problems


def _sweep_record(folder: Path) -> dict[str, Any]:
    record = read_mapping(folder / SWEEP)
    points = record.get("points")
    if not isinstance(record.get("definition"), dict) or not isinstance(points, list) or not points:
        raise RunsError(f"{folder / SWEEP}: no definition and points; not a sweep record")
    return record


def _tune_record(folder: Path) -> dict[str, Any]:
    record = read_mapping(folder / TUNE)
    options = record.get("options")
    trials = options.get("trials") if isinstance(options, dict) else None
    if not isinstance(record.get("definition"), dict) or not isinstance(trials, int):
        raise RunsError(f"{folder / TUNE}: no definition and trials; not a tune record")
    return record


def _parent(
    folder: Path, kind: SearchKind, record: dict[str, Any], members: list[Record]
) -> Record:
    """The search's own run: definition and protocol as params, spanning the search."""
    definition = record["definition"]
    name = str(definition.get("name") or folder.name)
    params = {
        **flatten(record.get("protocol") or {}, "protocol"),
        **{f"grid.{k}": param_text(v) for k, v in (definition.get("grid") or {}).items()},
    }
    if kind == "sweep":
        params.update(flatten(definition.get("random"), "random"))
        params["points"] = str(len(record["points"]))
    else:
        params.update(flatten(record["options"], "options"))
        params["storage"] = param_text(record.get("storage"))
    record_file = folder / SEARCH_RECORDS[kind]
    created = record_file.stat().st_mtime
    start = millis(record.get("created"), created)
    added = [folder / f for f in SEARCH_FILES if (folder / f).is_file()]
    ends = [start, *(m.end_ms for m in members), *(int(p.stat().st_mtime * 1000) for p in added)]
    tags = {
        RUN_KEY_TAG: file_key(record_file),
        "densecli.run_folder": str(folder.resolve()),
        "densecli.mode": kind,
        "densecli.data_sha256": str(record.get("data_sha256") or ""),
        "mlflow.source.name": "densecli",
    }
    return Record(
        folder=folder,
        experiment=experiment_name(name),
        key=tags[RUN_KEY_TAG],
        name=folder.name,
        params=params,
        metrics={},
        steps=[],
        tags={k: v for k, v in tags.items() if v},
        start_ms=start,
        end_ms=max(ends),
        artifacts=tuple(p.name for p in [record_file, *added]),
        data=next((m.data for m in members if m.data is not None), None),
    )


def _with_best(parent: Record, best: Record | None, label: tuple[str, str]) -> Record:
    """The parent run's summary of the best member so far; `label` names the member's tag
    that says which point or trial it is, and the parent's tag that repeats it."""
    if best is None:
        return parent
    score = _score(best)
    metrics = dict(parent.metrics)
    if score is not None:
        metrics[f"best_{score[0]}"] = score[2]
    tags = {**parent.tags, "densecli.best_run": best.folder.name}
    member_tag, parent_tag = label
    if member_tag in best.tags:
        tags[parent_tag] = best.tags[member_tag]
    return replace(parent, metrics=metrics, tags=tags)


def _counts(members: list[Record], noun: str, states: tuple[str, ...]) -> dict[str, float]:
    found = [m.state for m in members]
    return {f"{noun}_{s}": float(found.count(s)) for s in states}


def read_sweep(folder: Path) -> SearchReading:
    record = _sweep_record(folder)
    experiment = experiment_name(str(record["definition"].get("name") or folder.name))
    labels = {str(p.get("name")): str(p.get("point")) for p in record["points"]}

    def label(member: Record) -> Record:
        point = labels.get(member.params.get("name", ""))
        return _tagged(member, **{POINT_TAG: point}) if point else member

    members, problems = _read_members(folder, experiment, label)
    members.sort(key=lambda m: m.tags.get(POINT_TAG, "~"))  # point order: p001 first
    seen = {m.params.get("name") for m in members if m.state in ("done", "failed")}
    complete = set(labels) <= seen
    best = _best(members)
    parent = _parent(folder, "sweep", record, members)
    parent = _with_best(parent, best, (POINT_TAG, "densecli.best_point"))
    parent = replace(
        parent, metrics={**parent.metrics, **_counts(members, "points", ("done", "failed"))}
    )
    chosen = best.folder if best is not None and complete else None
    return SearchReading("sweep", parent, members, problems, chosen, complete)


def read_tune(folder: Path) -> SearchReading:
    record = _tune_record(folder)
    experiment = experiment_name(str(record["definition"].get("name") or folder.name))

    def label(member: Record) -> Record:
        number = trial_number(member.params.get("name", ""))
        return member if number is None else _tagged(member, **{TRIAL_TAG: str(number)})

    members, problems = _read_members(folder, experiment, label)
    members.sort(key=lambda m: int(m.tags.get(TRIAL_TAG, "0")))
    confirming = folder / CONFIRM_FOLDER / CONFIRMATION_JSON
    confirmation = read_mapping(confirming) if confirming.is_file() else None
    confirmed = None if confirmation is None else str(confirmation.get("trial"))
    best = next((m for m in members if m.tags.get(TRIAL_TAG) == confirmed), None)
    best = best if best is not None and best.state == "done" else _best(members)
    options = record["options"]
    if confirmation is not None:
        complete = confirmed is not None
    else:
        complete = options.get("confirm_repeats") == 0 and len(members) >= int(options["trials"])
    parent = _parent(folder, "tune", record, members)
    parent = _with_best(parent, best, (TRIAL_TAG, "densecli.best_trial"))
    metrics = {**parent.metrics, **_counts(members, "trials", ("done", "pruned", "failed"))}
    score = None if best is None else _score(best)
    key = "score" if score is None else score[0]
    extra, problems = _confirmation_run(folder, experiment, confirmation, key, metrics, problems)
    parent = replace(parent, metrics=metrics)
    chosen = best.folder if best is not None and complete else None
    return SearchReading("tune", parent, members + extra, problems, chosen, complete)


def _confirmation_run(
    folder: Path,
    experiment: str,
    confirmation: dict[str, Any] | None,
    key: str,
    metrics: dict[str, float],
    problems: dict[Path, list[str]],
) -> tuple[list[Record], dict[Path, list[str]]]:
    """The confirmation's scores on the parent, and its CV run nested beside the trials."""
    if confirmation is None:
        return [], problems
    searched = confirmation.get("search") or {}
    confirmed = confirmation.get("confirmation") or {}
    for name, part in (("search", searched), ("confirmation", confirmed)):
        for suffix, field in (("", "score"), ("_std", "std")):
            value = part.get(field)
            if isinstance(value, int | float):
                metrics[f"{name}_{key}{suffix}"] = float(value)
    run = folder / CONFIRM_FOLDER / str(confirmation.get("run") or "")
    if not (run / METRICS).is_file():
        return [], problems
    try:
        record = run_record(run, experiment)
    except DensecliError as err:
        return [], {**problems, run: err.problems}
    return [_tagged(record, **{ROLE_TAG: "confirmation"})], problems


def read_search(folder: Path) -> SearchReading:
    """A sweep or tune folder; a record file that cannot be read skips it (`RunsError`)."""
    kind = search_kind(folder)
    if kind is None:
        raise RunsError(f"{folder}: neither {SWEEP} nor {TUNE}; not a search folder")
    return read_sweep(folder) if kind == "sweep" else read_tune(folder)


__all__ = ["ROLE_TAG", "STATE_TAG", "SearchReading", "read_search", "search_kind"]
