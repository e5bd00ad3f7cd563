"""Keyset pagination: a page is the rows after a cursor, fetched with one extra row to know
whether more follow."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    has_next: bool
    total_count: int


def split_page(rows: Sequence[T], limit: int) -> tuple[list[T], bool]:
    """Rows fetched with LIMIT limit+1 → (the page, whether another page follows)."""
    return list(rows[:limit]), len(rows) > limit


def group_pages(
    rows: Sequence[Any], keys: Sequence[K], key_field: str, convert: Callable[[Any], T],
    limit: int,
) -> dict[K, Page[T]]:
    """Rows of a LATERAL "first `limit` per key" query (each with a `total` column counting all
    the key's rows, so whether more follow) → a page per key, empty pages included."""
    grouped: dict[K, list[T]] = {k: [] for k in keys}
    totals: dict[K, int] = {}
    for row in rows:
        grouped[row[key_field]].append(convert(row))
        totals[row[key_field]] = row["total"]
    return {k: Page(items[:limit], totals.get(k, 0) > limit, totals.get(k, 0))
            for k, items in grouped.items()}


async def page_by_name(
    conn: Any, *, table: str, alias: str, select: str, where: str, params: Any,
    convert: Callable[[Any], T], limit: int, after: tuple[str, Any] | None,
) -> Page[T]:
    """A keyset page of a named catalogue (ordered by name ignoring case, then id): `select`
    reads rows of `table alias` (no WHERE), `where` filters them with bound `params`."""
    total = await conn.fetchval(f"SELECT count(*) FROM {table} {alias} WHERE {where}",
                                *params.values)
    if after is not None:
        where += (f" AND (lower({alias}.name), {alias}.id) > "
                  f"(lower({params.add(after[0])}), {params.add(after[1])}::uuid)")
    rows = await conn.fetch(
        f"{select} WHERE {where} ORDER BY lower({alias}.name), {alias}.id "
        f"LIMIT {params.add(limit + 1)}",
        *params.values,
    )
    items, has_next = split_page([convert(r) for r in rows], limit)
    return Page(items, has_next, total)
