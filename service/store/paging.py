"""Keyset pagination: a page is the rows after a cursor, fetched with one extra row to know
whether more follow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    has_next: bool
    total_count: int


def split_page(rows: Sequence[T], limit: int) -> tuple[list[T], bool]:
    """Rows fetched with LIMIT limit+1 → (the page, whether another page follows)."""
    return list(rows[:limit]), len(rows) > limit
