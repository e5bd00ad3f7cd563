"""Cursor connections (Relay style) over keyset pages: a cursor carries the sort key of its row,
never an offset."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar, overload
from uuid import UUID

import orjson
import strawberry

from service.api.errors import ClientError, ErrorCode
from service.api.execution.lookahead import lean, lean_generic
from service.api.execution.values import moment, nul_path
from service.store.paging import Page

T = TypeVar("T")
K = TypeVar("K")
S = TypeVar("S")


def page_start(info: PageInfo, context: Any = None) -> str | None:
    return info.cursor_of(info.keys[0]) if info.keys else None


def page_end(info: PageInfo, context: Any = None) -> str | None:
    return info.cursor_of(info.keys[-1]) if info.keys else info.end_when_empty


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    # Made only when asked for, like the edges' cursors.
    start_cursor: str | None = strawberry.field(resolver=lambda root: page_start(root))
    end_cursor: str | None = strawberry.field(resolver=lambda root: page_end(root))
    keys: strawberry.Private[Sequence[Any]]
    cursor_of: strawberry.Private[Callable[[Any], str]]
    end_when_empty: strawberry.Private[str | None]


lean("PageInfo", "startCursor")(page_start)
lean("PageInfo", "endCursor")(page_end)


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


def connection_edges(connection: Connection[T], context: Any = None) -> list[Edge[T]]:
    page = connection.page_info  # it holds the nodes' sort keys and how cursors are made
    cursor_of = page.cursor_of
    return [Edge(cursor=cursor_of(key), node=node)
            for node, key in zip(connection.nodes, page.keys, strict=True)]


@strawberry.type
class Connection(Generic[T]):
    # Cursors are made of each node's sort key only when `edges` is selected: a page that
    # asks for `nodes` alone needs none but pageInfo's two.
    edges: list[Edge[T]] = strawberry.field(resolver=lambda root: connection_edges(root))
    nodes: list[T]
    page_info: PageInfo
    total_count: int


lean_generic(Connection, "edges")(connection_edges)


def make_connection(nodes: list[T], keys: Sequence[Any], *, has_next: bool, has_previous: bool,
                    total_count: int, cursor_of: Callable[[Any], str] | None = None,
                    end_cursor: str | None = None) -> Connection[T]:
    """A page of `nodes` whose cursors are `cursor_of` their `keys` (encode_cursor unless
    told); `end_cursor` stands in for an empty page's."""
    cursor_of = cursor_of or encode_cursor
    return Connection(
        nodes=nodes, total_count=total_count,
        page_info=PageInfo(has_next_page=has_next, has_previous_page=has_previous, keys=keys,
                           cursor_of=cursor_of, end_when_empty=end_cursor),
    )


def encode_cursor(values: Sequence[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, UUID) else v
             for v in values]
    return base64.urlsafe_b64encode(orjson.dumps(plain)).decode()


def decode_cursor(cursor: str | None, parse: Callable[[list[Any]], K]) -> K | None:
    """The sort key in `cursor`, or None for the first page; a clear error for a bad cursor."""
    if cursor is None:
        return None
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(raw, list) or nul_path(raw) is not None:
            raise ValueError("not a list of storable values")
        return parse(raw)
    except (ValueError, TypeError, IndexError, AttributeError, OverflowError, binascii.Error,
            UnicodeError) as exc:  # whatever a forged cursor's parts make a parser raise
        raise ClientError(
            "The cursor given in `after` is not valid for this list; "
            "use a cursor from this list's edges or pageInfo.",
            ErrorCode.INVALID_CURSOR,
        ) from exc


def created_at_id_key(raw: list[Any]) -> tuple[datetime, UUID]:
    created_at, id_ = raw
    return moment(created_at), UUID(id_)


def cursor_number(value: Any) -> Decimal:
    """A score or count from a cursor: a finite number of sane size (a forged one must not
    reach a numeric column as Infinity or 1e999999)."""
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError("not a number") from exc
    if not number.is_finite() or abs(number) >= 10**12:
        raise ValueError("not a usable number")
    return number


def check_first(first: int, maximum: int, name: str = "first") -> int:
    """A requested count within [0, maximum]; `name` is the argument, for the error."""
    if first < 0 or first > maximum:
        message = (f"`first` must be between 0 and {maximum}; ask for further pages with "
                   "`after`." if name == "first" else
                   f"`{name}` may hold at most {maximum} items.")
        raise ClientError(message, ErrorCode.PAGE_SIZE_EXCEEDED, maximum=maximum)
    return first


class SortKeys(Sequence[Any]):
    """The sort keys of a page's items, each worked out when a cursor is made of it: most
    nested lists select no cursor, and a page of people holds hundreds of them."""

    __slots__ = ("_items", "_key")

    def __init__(self, items: Sequence[S], key: Callable[[S], Any]) -> None:
        self._items: Sequence[Any] = items
        self._key: Callable[[Any], Any] = key

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self._key(item) for item in self._items[index]]
        return self._key(self._items[index])

    def __iter__(self) -> Iterator[Any]:
        return map(self._key, self._items)


def to_connection(
    page: Page[S], convert: Callable[[S], T], sort_key: Callable[[S], Sequence[Any]], *,
    has_previous: bool
) -> Connection[T]:
    return make_connection([convert(item) for item in page.items],
                           SortKeys(page.items, sort_key), has_next=page.has_next,
                           has_previous=has_previous, total_count=page.total_count)


def connection_from_list(
    items: Sequence[S], convert: Callable[[S], T], key: Callable[[S], Any], *,
    first: int, after: str | None, maximum: int,
) -> Connection[T]:
    """A connection over a short list already in memory (a catalogue of at most a few dozen rows),
    paged by the item's position in `items`, which must be in a stable order."""
    limit = check_first(first, maximum)
    keys = [str(key(item)) for item in items]
    start = 0
    if after is not None:
        wanted = decode_cursor(after, lambda raw: str(raw[0]))
        if wanted not in keys:
            raise ClientError("The cursor given in `after` is not in this list.",
                              ErrorCode.INVALID_CURSOR)
        start = keys.index(wanted) + 1
    window = list(items[start:start + limit])
    page = Page(window, start + limit < len(items), len(items))
    return to_connection(page, convert, lambda item: [str(key(item))], has_previous=start > 0)
