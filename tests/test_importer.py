"""The CSV importer's own rules, without a database: the order accounts are written in."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from service.cli.importer import parents_first

IDS = st.sampled_from(["A", "B", "C", "D", "E", "F"])


@st.composite
def account_rows(draw: st.DrawFn) -> list[tuple[int, dict[str, Any]]]:
    rows = draw(st.lists(st.tuples(IDS, st.one_of(st.none(), IDS, st.just("OUTSIDE"))),
                         max_size=12))
    return [(line, {"externalId": me, **({"parentExternalId": up} if up else {})})
            for line, (me, up) in enumerate(rows, start=2)]


@given(account_rows())
def test_every_account_comes_after_each_row_naming_its_parent_unless_on_a_loop(
    rows: list[tuple[int, dict[str, Any]]]
) -> None:
    ordered = parents_first(rows)
    assert sorted(line for line, _ in ordered) == [line for line, _ in rows]
    place = {line: i for i, (line, _) in enumerate(ordered)}
    parent_of: dict[str, set[str]] = {item["externalId"]: set() for _, item in rows}
    for _, item in rows:
        if item.get("parentExternalId") in parent_of:
            parent_of[item["externalId"]].add(item["parentExternalId"])

    def on_a_loop(start: str) -> bool:
        seen: set[str] = set()
        frontier = {start}
        while frontier:
            frontier = {p for f in frontier for p in parent_of.get(f, ())} - seen
            if start in frontier:
                return True
            seen |= frontier
        return False

    def below_a_loop(start: str) -> bool:
        seen: set[str] = set()
        frontier = {start}
        while frontier:
            if any(on_a_loop(f) for f in frontier):
                return True
            seen |= frontier
            frontier = {p for f in frontier for p in parent_of.get(f, ())} - seen
        return False

    for line, item in rows:
        parent = item.get("parentExternalId")
        if parent is None or parent not in parent_of or below_a_loop(item["externalId"]):
            continue  # rows on or below a loop come last: the write rejects them
        for above, other in rows:
            if other["externalId"] == parent:
                assert place[above] < place[line], (rows, ordered)


def test_a_deep_chain_needs_no_recursion() -> None:
    rows = [(n + 2, {"externalId": f"a{n}", "parentExternalId": f"a{n + 1}"})
            for n in range(20_000)]
    ordered = parents_first(rows)
    assert [item["externalId"] for _, item in ordered[:2]] == ["a19999", "a19998"]
