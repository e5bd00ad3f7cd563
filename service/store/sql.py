"""Small helpers for writing SQL by hand: bound parameters and LIKE patterns."""

from __future__ import annotations

from typing import Any


class SqlParams:
    """Collects query parameters; values are always bound, never pasted into the SQL text."""

    def __init__(self, start: int = 1) -> None:
        self.values: list[Any] = []
        self._start = start

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${self._start + len(self.values) - 1}"


def like_pattern(text: str) -> str:
    """A LIKE pattern that finds `text` anywhere, with its own % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def set_clause(changes: dict[str, Any], params: SqlParams) -> str:
    """`col = $n, …, updated_at = now()` for the given {column: value} changes; the column
    names come from our code, never from a caller."""
    sets = [f"{column} = {params.add(value)}" for column, value in changes.items()]
    return ", ".join([*sets, "updated_at = now()"])
