"""The account hierarchy: parents must exist and no account may become its own ancestor."""

from __future__ import annotations

from collections.abc import Mapping


def creates_cycle(start: str, parent_of: Mapping[str, str | None]) -> bool:
    """Walking up from `start` through `parent_of`, do we come back to `start`?"""
    seen = {start}
    current = parent_of.get(start)
    while current is not None:
        if current in seen:
            # A loop that does not pass through `start` is reported for its own members.
            return current == start
        seen.add(current)
        current = parent_of.get(current)
    return False
