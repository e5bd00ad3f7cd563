"""A document's weight (service/api/execution/written_out.py) against the plain definitions: every
fragment spread written out in its place, and graphql-core's collection of a place's fields."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
    parse,
)
from service.api.execution.written_out import weigh


def _fragments(document: DocumentNode) -> dict[str, Any]:
    return {d.name.value: d for d in document.definitions
            if isinstance(d, FragmentDefinitionNode)}


def _written_out(selection_set: SelectionSetNode | None, fragments: dict[str, Any]) -> int:
    total = 0
    for selection in selection_set.selections if selection_set is not None else ():
        if isinstance(selection, FieldNode):
            total += 1 + _written_out(selection.selection_set, fragments)
        elif isinstance(selection, InlineFragmentNode):
            total += _written_out(selection.selection_set, fragments)
        elif isinstance(selection, FragmentSpreadNode):
            total += _written_out(fragments[selection.name.value].selection_set, fragments)
    return total


def _names(selection_set: SelectionSetNode, fragments: dict[str, Any],
           visited: set[str] | None) -> list[str]:
    """The response names collected for one place: each fragment once (visited, as
    graphql-core collects), or at every spread (visited None)."""
    found: list[str] = []
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            found.append((selection.alias or selection.name).value)
        elif isinstance(selection, InlineFragmentNode):
            found += _names(selection.selection_set, fragments, visited)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if visited is None or name not in visited:
                if visited is not None:
                    visited.add(name)
                found += _names(fragments[name].selection_set, fragments, visited)
    return found


def _places(document: DocumentNode) -> list[SelectionSetNode]:
    places: list[SelectionSetNode] = []
    stack = [d.selection_set for d in document.definitions]  # type: ignore[attr-defined]
    while stack:
        current = stack.pop()
        places.append(current)
        stack += [s.selection_set for s in current.selections
                  if isinstance(s, (FieldNode, InlineFragmentNode)) and s.selection_set]
    return places


def _pairs(document: DocumentNode, once: bool) -> int:
    fragments = _fragments(document)
    total = 0
    for place in _places(document):
        counts = Counter(_names(place, fragments, set() if once else None))
        total += sum(c * (c - 1) // 2 for c in counts.values())
    return total


def _selection_set(draw: Any, fragment: int, fragments: int, depth: int) -> str:
    items = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["field", "field", "alias", "nested", "inline", "spread"]))
        name = draw(st.sampled_from("abc"))
        if kind == "spread" and fragment + 1 < fragments:
            items.append(f"...F{draw(st.integers(fragment + 1, fragments - 1))}")
        elif kind == "inline" and depth < 3:
            items.append("... on T " + _selection_set(draw, fragment, fragments, depth + 1))
        elif kind == "nested" and depth < 3:
            items.append(f"{name} " + _selection_set(draw, fragment, fragments, depth + 1))
        elif kind == "alias":
            items.append(f"{draw(st.sampled_from('abc'))}: {name}")
        else:
            items.append(name)
    return "{ " + " ".join(items) + " }"


@st.composite
def documents(draw: Any) -> str:
    """An operation and fragments F0…Fn-1, a fragment spreading only later ones (no cycles),
    each spread as often as drawn: repeats, diamonds, inline fragments and aliases."""
    fragments = draw(st.integers(0, 5))
    texts = ["query " + _selection_set(draw, -1, fragments, 0)]
    texts += [f"fragment F{i} on T " + _selection_set(draw, i, fragments, 0)
              for i in range(fragments)]
    return " ".join(texts)


@settings(max_examples=400, deadline=None)
@given(documents())
def test_the_weight_is_the_document_written_out(text: str) -> None:
    document = parse(text)
    weight = weigh(document, 10**9)
    operation = document.definitions[0].selection_set  # type: ignore[attr-defined]
    assert weight.fields == _written_out(operation, _fragments(document))
    # Each fragment once per place, as graphql-core compares; a fragment that two spread
    # fragments both spread may be counted twice, never more than written out everywhere.
    assert _pairs(document, once=True) <= weight.same_name_pairs <= _pairs(document, once=False)


def test_a_fragment_tree_weighs_exactly_what_graphql_core_compares() -> None:
    document = parse("{ a ...F0 ...F0 b { a a: c } } fragment F0 on T { a b ...F1 } "
                     "fragment F1 on T { a ... on T { b b } }")
    # The operation: a 3 times and b 4 times (F0 once), 3 + 6; b's own set 1; F0: 1 + 3;
    # F1 and its inline fragment 1 each.
    assert weigh(document, 10**9).same_name_pairs == _pairs(document, once=True) == 16


def test_weights_stop_one_above_the_cap() -> None:
    levels = 40  # ten to the fortieth fields, counted in microseconds
    text = "{ ...F0 } " + " ".join(
        f"fragment F{i} on T {{ {' '.join([f'...F{i + 1}'] * 10)} }}" for i in range(levels)
    ) + f" fragment F{levels} on T {{ a a a }}"
    weight = weigh(parse(text), 5000)
    assert weight.fields == 5001
    # Each fragment is brought once per place: a a a at the top and in every fragment.
    assert weight.same_name_pairs == 3 * (levels + 2)


def test_a_cycle_or_an_unknown_fragment_counts_nothing_and_ends() -> None:
    document = parse("{ a ...F0 ...Missing } fragment F0 on T { b ...F1 } "
                     "fragment F1 on T { c ...F0 }")
    # a, b and c: F1's spread of F0 closes the cycle and counts nothing.
    assert weigh(document, 10**9).fields == 3


def test_a_long_chain_of_fragments_is_weighed_without_recursion() -> None:
    chain = 1500  # beyond Python's recursion limit (1,000); 5,000 tokens hold about 700
    text = "{ ...F0 } " + " ".join(f"fragment F{i} on T {{ a ...F{i + 1} }}"
                                   for i in range(chain)) + f" fragment F{chain} on T {{ a }}"
    assert weigh(parse(text, max_tokens=None), 10**9).fields == chain + 1
