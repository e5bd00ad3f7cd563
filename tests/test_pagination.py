"""Connections over keyset pages: sort keys are made only for the cursors asked for."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from service.api.pagination import SortKeys, connection_edges, make_connection, page_end, page_start


@given(items=st.lists(st.integers(), max_size=8), index=st.integers(-9, 9))
def test_sort_keys_are_the_keys_of_the_items_worked_out_when_read(items: list[int],
                                                                  index: int) -> None:
    calls: list[int] = []

    def key(item: int) -> tuple[int, str]:
        calls.append(item)
        return item, str(item)

    keys = SortKeys(items, key)
    assert len(keys) == len(items) and calls == []
    eager = [(item, str(item)) for item in items]
    if -len(items) <= index < len(items):
        assert keys[index] == eager[index] and calls == [items[index]]
    assert list(keys) == eager and keys[1:3] == eager[1:3]


def test_a_connection_makes_the_same_cursors_from_lazy_keys() -> None:
    items = [{"at": f"2026-12-0{day}", "id": str(day)} for day in range(1, 5)]

    def key(item: dict[str, Any]) -> list[str]:
        return [item["at"], item["id"]]

    lazy = make_connection(items, SortKeys(items, key), has_next=True, has_previous=False,
                           total_count=9)
    eager = make_connection(items, [key(i) for i in items], has_next=True,
                            has_previous=False, total_count=9)
    assert [e.cursor for e in connection_edges(lazy)] == \
        [e.cursor for e in connection_edges(eager)]
    assert page_start(lazy.page_info) == page_start(eager.page_info) is not None
    assert page_end(lazy.page_info) == page_end(eager.page_info) is not None
    empty = make_connection(list[Any](), SortKeys([], key), has_next=False, has_previous=False,
                            total_count=0, end_cursor="end")
    assert page_start(empty.page_info) is None and page_end(empty.page_info) == "end"
