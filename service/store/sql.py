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
