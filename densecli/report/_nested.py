"""A nested tune's estimate as the user sees it, read from its nested.json only (no data,
no TensorFlow, no Optuna): a row per outer fold (the winner's parameters, its inner best
and outer score), the references on the same outer folds, the estimate with the corrected
t-test against the strongest reference, the optimism, and what the number estimates.

`tune --nested` prints it when it ends, `show TUNE_FOLDER` again, and `compare` lists the
estimates of the nested tunes in a runs folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from densecli.runs.files import BEST_SPEC, NESTED, is_sweep, read_json
from densecli.tables import print_line, titled_table


def read_nested(folder: Path) -> dict[str, Any] | None:
    """A tune folder's nested.json, or None when it has none (or it cannot be read)."""
    path = folder / NESTED
    if not path.is_file():
        return None
    try:
        record = read_json(path)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _value(record: dict[str, Any], value: float | None, signed: bool = False) -> str:
    if value is None:
        return ""
    sign = "+" if signed else ""
    if record["score"]["percent"]:
        return f"{100 * value:{sign}.2f}"
    return f"{value:{sign}.4g}"


def _unit(record: dict[str, Any]) -> str:
    return " %" if record["score"]["percent"] else ""


def _difference_unit(record: dict[str, Any]) -> str:
    return "points" if record["score"]["percent"] else record["score"]["label"]


def short_key(key: str) -> str:
    """`model.layers.0.units` → `layers.0.units`: the section is clear from the rest."""
    head, _, rest = key.partition(".")
    return rest if head in {"model", "train"} and rest else key


def folds_table(record: dict[str, Any]) -> Table:
    """One row per outer fold: its test rows, the winner's values, inner best, outer score."""
    label, unit = record["score"]["label"], _unit(record)
    table = titled_table(
        f"Nested CV: {record['folds']} outer folds, {record['trials']} trials each; "
        "each winner scored on rows its search never saw"
    )
    keys = list(record["outer_folds"][0]["best_shown"])
    columns = ["outer fold", "test rows", "winner", f"inner best {label}{unit}"]
    columns += [f"outer {label}{unit}", *(short_key(k) for k in keys)]
    for column in columns:
        table.add_column(column, justify="left" if column in keys else "right")
    for fold in record["outer_folds"]:
        table.add_row(
            str(fold["fold"]),
            str(len(fold["test_rows"])),
            f"trial {fold['best_trial']}",
            _value(record, fold["inner_best"]),
            _value(record, fold["score"]),
            *(fold["best_shown"][k] for k in keys),
        )
    return table


def references_table(record: dict[str, Any]) -> Table:
    """The nested estimate against the references scored on the same outer folds."""
    label, unit = record["score"]["label"], _unit(record)
    estimate = record["estimate"][record["score"]["key"]]
    table = titled_table("Against the references on the same outer folds")
    for column, justify in (("", "left"), (f"{label}{unit}", "right"), ("nested vs it", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    table.add_row("nested estimate (mean of the outer scores)", _value(record, estimate), "")
    for reference in record["references"].values():
        versus = _value(record, estimate - reference["score"], signed=True)
        table.add_row(reference["label"], _value(record, reference["score"]), versus)
    return table


def nested_lines(record: dict[str, Any]) -> list[str]:
    """The estimate, its test against the strongest reference, the optimism, and what it
    estimates, as sentences."""
    score, unit = record["score"], _unit(record)
    estimate, std = record["estimate"][score["key"]], record["estimate"]["std"]
    folds, trials = record["folds"], record["trials"]
    lines = [
        f"Nested estimate: {score['label']} {_value(record, estimate)}{unit} ± "
        f"{_value(record, std)} (mean ± std over {folds} outer folds, n − 1)."
    ]
    lines += _t_test_line(record)
    optimism = record["optimism"]
    optimistic = optimism if score["higher_is_better"] else -optimism
    inner = estimate + optimism
    lines.append(
        f"Optimism: the outer winners' inner best scores average {_value(record, inner)}{unit}, "
        f"{_value(record, abs(optimism))} {_difference_unit(record)} "
        f"{'better' if optimistic > 0 else 'worse'} than the nested estimate"
        + (": the best trial's own score is biased upwards." if optimistic > 0 else ".")
    )
    lines.append(
        "This estimates the search procedure (a tune of "
        f"{trials} trials on the training rows it is given), not one configuration: each outer "
        f"fold's search chose its own winner. {_agreement(record)} The configuration to use is "
        f"{BEST_SPEC}, the search's winner on all rows{_search(record)}."
    )
    return lines


def _t_test_line(record: dict[str, Any]) -> list[str]:
    test = record.get("t_test") or {}
    against = record["references"].get(test.get("against") or "")
    if against is None or test.get("p_value") is None:
        return []
    several = " (the strongest reference)" if len(record["references"]) > 1 else ""
    return [
        f"Nested − {against['label']}{several}: {_value(record, test['difference'], True)} "
        f"{_difference_unit(record)} over {record['folds']} outer folds; corrected resampled "
        f"t-test (Nadeau & Bengio 2003): t = {test['t_statistic']:.2f}, "
        f"p = {test['p_value']:.3f}."
    ]


def _agreement(record: dict[str, Any]) -> str:
    agree, folds = record["agree"], record["folds"]
    if not agree["differ"]:
        return f"The {folds} winners agree: they are one configuration."
    groups = agree.get("configurations") or []
    shared = [g for g in groups if len(g) > 1]
    count = (
        f"The {folds} winners are {len(groups)} different configurations"
        if groups
        else (f"The {folds} winners differ")
    )
    if shared:
        count += " (" + "; ".join(f"outer folds {_listed(g)} chose the same" for g in shared) + ")"
    differ = ", ".join(short_key(k) for k in agree["differ"])
    same = ", ".join(short_key(k) for k in agree["same"])
    agreed = f"; all agree on {same}" if same else ""
    return f"{count}: they differ in {differ}{agreed}."


def _listed(folds: list[int]) -> str:
    names = [str(f) for f in folds]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"


def _search(record: dict[str, Any]) -> str:
    search = record.get("search")
    if not search:
        return ""
    return f" (trial {search['best_trial']}, {_value(record, search['score'])}{_unit(record)})"


def render_nested(console: Console, record: dict[str, Any]) -> None:
    console.print(folds_table(record))
    console.print(references_table(record))
    for line in nested_lines(record):
        print_line(console, line)


def nested_markdown(record: dict[str, Any]) -> list[str]:
    """The same, for the tune folder's results.md."""
    label, unit = record["score"]["label"], _unit(record)
    keys = list(record["outer_folds"][0]["best_shown"])
    header = ["outer fold", "test rows", "winner", f"inner best {label}{unit}"]
    header += [f"outer {label}{unit}", *keys]
    lines = ["Nested CV", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for fold in record["outer_folds"]:
        cells = [str(fold["fold"]), str(len(fold["test_rows"])), f"trial {fold['best_trial']}"]
        cells += [_value(record, fold["inner_best"]), _value(record, fold["score"])]
        lines.append("| " + " | ".join(cells + [fold["best_shown"][k] for k in keys]) + " |")
    references = [
        f"- {r['label']} (same outer folds): {_value(record, r['score'])}{unit}"
        for r in record["references"].values()
    ]
    return [*lines, "", *references, "", *nested_lines(record)]


def nested_summaries(runs_dir: Path) -> list[dict[str, str]]:
    """compare's rows for the nested tunes in a runs folder (or the tune folder itself)."""
    folders = [runs_dir] if (runs_dir / NESTED).is_file() else []
    folders += sorted(p for p in runs_dir.iterdir() if p.is_dir() and is_sweep(p))
    rows = []
    for folder in folders:
        record = read_nested(folder)
        if record is None:
            continue
        score, unit = record["score"], _unit(record)
        estimate = record["estimate"][score["key"]]
        test = record.get("t_test") or {}
        strongest = record["references"].get(test.get("against") or "")
        p = test.get("p_value")
        rows.append(
            {
                "tune": folder.name,
                "outer folds": str(record["folds"]),
                "trials": str(record["trials"]),
                "nested estimate": f"{score['label']} {_value(record, estimate)} ± "
                f"{_value(record, record['estimate']['std'])}{unit}",
                "optimism": _value(record, record["optimism"], signed=True),
                "strongest reference": ""
                if strongest is None
                else f"{strongest['label']} {_value(record, strongest['score'])}",
                "p": "" if p is None else f"{p:.3f}",
            }
        )
    return rows


def render_nested_summaries(console: Console, rows: list[dict[str, str]]) -> None:
    if not rows:
        return
    table = titled_table("Nested estimates (tune --nested): the search scored on unseen rows")
    for column in rows[0]:
        table.add_column(column, justify="left" if column == "tune" else "right")
    for row in rows:
        table.add_row(*row.values())
    console.print(table)
