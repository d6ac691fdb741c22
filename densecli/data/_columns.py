"""Columns named or numbered in the spec: data.target, data.features, data.drop and the
preprocess lists, resolved against a file's column names with one rule and one message."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from densecli.errors import ConfigError

_SHOWN = 12  # names listed in a message before "…"


def listed(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f", … ({len(names)} in all)" if len(names) > _SHOWN else "")


def _closest(name: str, names: Sequence[str]) -> str | None:
    """The column a misspelt name most likely meant (case is ignored), or None."""
    lower = {n.lower(): n for n in names}
    close = difflib.get_close_matches(name.lower(), list(lower), n=1)
    return lower[close[0]] if close else None


def column_index(key: str, column: int | str, names: Sequence[str], where: str) -> int:
    """A column given by name or by 0-based index (negative from the end), or an error
    naming `key` with a did-you-mean; `where` says whose columns they are."""
    if isinstance(column, str):
        if column in names:
            return list(names).index(column)
        close = _closest(column, names)
        hint = f"did you mean {close!r}?" if close else f"columns are {listed(names)}"
        raise ConfigError(f"{key}: no column named {column!r} in {where}; {hint}")
    if not -len(names) <= column < len(names):
        raise ConfigError(
            f"{key}: column index {column} is out of range for {where}, which has "
            f"{len(names)} columns; use 0..{len(names) - 1} or -1 for the last"
        )
    return column % len(names)


def chosen_features(
    names: Sequence[str],
    target: int,
    features: Sequence[int | str] | None,
    drop: Sequence[int | str],
    where: str,
) -> list[int]:
    """The file columns that are features, in file order: data.features if given, else
    every column but the target and data.drop."""
    if features is not None:
        picked = _resolved("data.features", features, names, where)
        if target in picked:
            raise ConfigError(
                f"data.features: {names[target]!r} is the target (data.target); "
                "a column cannot be both, remove it from data.features"
            )
        if not picked:
            raise ConfigError("data.features: the list is empty; name at least one column")
        return sorted(picked)
    dropped = _resolved("data.drop", drop, names, where)
    if target in dropped:
        raise ConfigError(
            f"data.drop: {names[target]!r} is the target (data.target); remove it from data.drop"
        )
    kept = [j for j in range(len(names)) if j != target and j not in dropped]
    if not kept:
        raise ConfigError("data.drop: every column but the target is dropped; keep at least one")
    return kept


def _resolved(key: str, columns: Sequence[int | str], names: Sequence[str], where: str) -> set[int]:
    found: dict[int, int] = {}
    for position, column in enumerate(columns):
        index = column_index(f"{key}.{position}", column, names, where)
        if index in found:
            raise ConfigError(
                f"{key}.{position}: column {names[index]!r} is listed twice "
                f"(also at {key}.{found[index]}); keep one"
            )
        found[index] = position
    return set(found)
