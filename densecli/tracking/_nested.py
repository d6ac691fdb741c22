"""A nested tune's estimate in MLflow, as records the logger logs with the tune.

A parent run "<tune folder> nested" in the tune's experiment (`densecli/<tune name>`) with
params (outer folds, trials per study, seed) and metrics (`nested_<score>`, `nested_std`,
`optimism`, `reference_<name>` for each reference on the same outer folds, the t-test's
`nested_minus_reference`, `t_statistic`, `p_value`) and nested.json as its artifact; under
it one nested run per outer fold ("outer fold 2") with the winner's parameters as params
(`best.<key>`, `best_trial`) and metrics `inner_best_<score>`, `outer_<score>`,
`test_rows`, and that fold's outer.json. Each run is logged once (tag `densecli.run_key`:
the sha256 of nested.json, with `-outer-K` for a fold). Read from the tune folder only.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from densecli.runs.files import NESTED, OUTER_RECORD, TUNE, outer_folder, read_json
from densecli.tracking._record import RUN_KEY_TAG, Record, experiment_name, flatten


def nested_records(folder: Path) -> tuple[Record, list[Record]]:
    """The parent run of a nested tune's estimate, and one run per outer fold."""
    record: dict[str, Any] = read_json(folder / NESTED)
    tune: dict[str, Any] = read_json(folder / TUNE)
    key = hashlib.sha256((folder / NESTED).read_bytes()).hexdigest()
    experiment = experiment_name(str((tune.get("definition") or {}).get("name") or folder.name))
    score = record["score"]["key"]
    at = int((folder / NESTED).stat().st_mtime * 1000)
    test = record.get("t_test") or {}
    metrics = {
        f"nested_{score}": record["estimate"][score],
        "nested_std": record["estimate"]["std"],
        "optimism": record["optimism"],
        **{f"reference_{n}": r["score"] for n, r in record["references"].items()},
        "nested_minus_reference": test.get("difference"),
        "t_statistic": test.get("t_statistic"),
        "p_value": test.get("p_value"),
    }
    tags = {
        RUN_KEY_TAG: key,
        "densecli.run_folder": str(folder.resolve()),
        "densecli.mode": "nested",
    }
    if test.get("against"):
        tags["densecli.t_test_reference"] = str(test["against"])
    parent = Record(
        folder=folder,
        experiment=experiment,
        key=key,
        name=f"{folder.name} nested",
        params={
            "outer_folds": str(record["folds"]),
            "trials": str(record["trials"]),
            "seed": str(record["seed"]),
        },
        metrics={k: float(v) for k, v in metrics.items() if v is not None},
        steps=[],
        tags=tags,
        start_ms=at,
        end_ms=at,
        artifacts=(NESTED,),
    )
    children = []
    for fold in record["outer_folds"]:
        place = folder / outer_folder(int(fold["fold"]))
        child_key = f"{key}-outer-{fold['fold']}"
        children.append(
            Record(
                folder=place,
                experiment=experiment,
                key=child_key,
                name=f"outer fold {fold['fold']}",
                params={**flatten(fold["best"], "best"), "best_trial": str(fold["best_trial"])},
                metrics={
                    f"inner_best_{score}": float(fold["inner_best"]),
                    f"outer_{score}": float(fold["score"]),
                    "test_rows": float(len(fold["test_rows"])),
                },
                steps=[],
                tags={RUN_KEY_TAG: child_key, "densecli.outer_fold": str(fold["fold"])},
                start_ms=at,
                end_ms=at,
                artifacts=(OUTER_RECORD,),
            )
        )
    return parent, children
