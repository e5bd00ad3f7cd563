"""Keyset pagination: a page is the rows after a cursor, fetched with one extra row to know
whether more follow."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from service.store.sql import SqlParams

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    has_next: bool
    total_count: int


# The total of a page whose count nobody asked for (the document selects no `totalCount` of
# it): not a number, so that reading it as one (a non-null Int) fails instead of lying.
NOT_COUNTED = cast(int, None)


def split_page(rows: Sequence[T], limit: int) -> tuple[list[T], bool]:
    """Rows fetched with LIMIT limit+1 → (the page, whether another page follows)."""
    return list(rows[:limit]), len(rows) > limit


def group_pages(
    rows: Sequence[Any], keys: Sequence[K], key_field: str, convert: Callable[[Any], T],
    limit: int, counted_only: Callable[[Any], bool] | None = None, *, counted: bool = True,
) -> dict[K, Page[T]]:
    """Rows of a LATERAL "first `limit` per key" query (each with a `total` column counting all
    the key's rows, so whether more follow) → a page per key, empty pages included.
    `counted_only`: which rows carry a key's count and no item (an outer join's). Not
    `counted`: the query has no `total` and reads `limit + 1` rows per key to tell whether
    more follow; the pages' totals are NOT_COUNTED."""
    grouped: dict[K, list[T]] = {k: [] for k in keys}
    totals: dict[K, int] = {}
    for row in rows:
        if counted:
            totals[row[key_field]] = row["total"]
        if counted_only is None or not counted_only(row):
            grouped[row[key_field]].append(convert(row))
    if not counted:
        return {k: Page(*split_page(items, limit), NOT_COUNTED) for k, items in grouped.items()}
    return {k: Page(items[:limit], totals.get(k, 0) > limit, totals.get(k, 0))
            for k, items in grouped.items()}


async def counted_page(
    conn: Any, *, columns: str, source: str, where: str, params: SqlParams,
    after: Callable[[SqlParams], str] | None, order: str, limit: int, count: str | None = None,
) -> tuple[list[Any], bool, int]:
    """The rows of a keyset page (`where` with its `params`; `after` writes the condition past
    the cursor, adding its own values), whether more follow, and the count of all rows
    matching `where`, in one statement. The count is a scalar subquery, which PostgreSQL runs
    once beside the page's LIMIT; a window count (`count(*) OVER ()`) would read and sort every
    matching row for a page of fifty. An empty page carries no count: only a page past the
    last row costs a second statement. `count` replaces the count of `where` (a maintained
    tally, `row_tallies.tally_sql`; its parameters among `where`'s)."""
    count = count or f"SELECT count(*) FROM {source} WHERE {where}"
    used_by_where = len(params.values)
    page_where = where if after is None else f"{where} AND {after(params)}"
    rows = await conn.fetch(
        f"SELECT ({count}) AS total_of_all, {columns} FROM {source} WHERE {page_where} "
        f"ORDER BY {order} LIMIT {params.add(limit + 1)}", *params.values)
    if rows:
        total = rows[0]["total_of_all"]
    elif after is None:
        total = 0
    else:
        total = await conn.fetchval(count, *params.values[:used_by_where])
    items, has_next = split_page(rows, limit)
    return items, has_next, total


async def page_by_name(
    conn: Any, *, table: str, alias: str, columns: str, where: str, params: SqlParams,
    convert: Callable[[Any], T], limit: int, after: tuple[str, Any] | None,
    count: str | None = None,
) -> Page[T]:
    """A keyset page of a named catalogue (ordered by name ignoring case, then id): `columns`
    of `table alias`, `where` filters them with bound `params`."""
    def past(params: SqlParams) -> str:
        assert after is not None
        return (f"(lower({alias}.name), {alias}.id) > "
                f"(lower({params.add(after[0])}), {params.add(after[1])}::uuid)")

    rows, has_next, total = await counted_page(
        conn, columns=columns, source=f"{table} {alias}", where=where, params=params,
        after=past if after is not None else None, order=f"lower({alias}.name), {alias}.id",
        limit=limit, count=count)
    return Page([convert(r) for r in rows], has_next, total)
