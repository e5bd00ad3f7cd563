"""What a document costs to check, counted before anything walks it.

Two shapes of short document make the checks that run before execution expensive, while
graphql-core would execute them in linear time:

- **Fragments written out.** A fragment spread ten times, which spreads another fragment ten
  times, and so on, selects ten to the power of its depth fields. Every check that walks the
  document follows each spread: strawberry's depth and alias limits and our cost walk
  (service/api/execution/cost.py). A 650-byte document of seven such levels kept a process busy for
  9.6 s. Above `MAX_FIELDS` fields written out, a document is refused; the default equals
  `MAX_TOKENS`, so a document can select no more with fragments than it could without.
- **One name selected many times in one place.** graphql-core's OverlappingFieldsCanBeMerged
  compares every two fields of a selection set that answer under the same name, fragments
  included: 1,240 copies of `account { name }` took 0.85 s, eleven sets of 100 took 0.48 s
  (about 10-20 µs a pair). Above `MAX_SAME_NAME_PAIRS` such pairs, summed over the selection
  sets as the rule visits them, a document is refused. Clients do repeat a field (`id` from
  several fragments), a few times per place. graphql-core bounds the comparisons of nested
  selections itself ("Validation aborted."), not these.

Both are counted in time linear in the text: each fragment is counted once, without
recursion, as a document nests as deep as its size allows. Checking a document costs about
10-20 µs per field or pair, and a refused document was free to send again and again: the
weight of a new document is taken from its key's bucket of points before it is checked."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field

from strawberry.extensions import SchemaExtension

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from service.api.errors import ErrorCode
from service.api.execution.charges import charge_document

# About 40 ms of comparisons at the dearest pair measured; far above what front ends send.
MAX_SAME_NAME_PAIRS = 2_000


@dataclass
class _Place:
    """One selection set as written: the response names it selects itself (through inline
    fragments) and the fragments it spreads there."""

    names: Counter[str] = field(default_factory=Counter)
    spreads: Counter[str] = field(default_factory=Counter)


@dataclass
class _Text:
    """What a definition holds: its fields (nested ones included), the fragments spread
    anywhere in it, and every selection set in it, its top level first."""

    fields: int = 0
    spreads: Counter[str] = field(default_factory=Counter)
    places: list[_Place] = field(default_factory=list)


def _place(selection_set: SelectionSetNode) -> tuple[_Place, list[SelectionSetNode]]:
    """A selection set's own names and spreads, through its inline fragments, and the
    selection sets nested in it directly: its fields' and its inline fragments' (the rule
    visits an inline fragment as a place of its own, which then holds its fields' sets)."""
    place = _Place()
    nested: list[SelectionSetNode] = []
    level = [selection_set]
    while level:
        current = level.pop()
        for selection in current.selections:
            if isinstance(selection, FieldNode):
                place.names[(selection.alias or selection.name).value] += 1
                if selection.selection_set is not None and current is selection_set:
                    nested.append(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                level.append(selection.selection_set)
                if current is selection_set:
                    nested.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                place.spreads[selection.name.value] += 1
    return place, nested


def _read(selection_set: SelectionSetNode) -> _Text:
    text = _Text()
    stack = [selection_set]
    while stack:
        place, nested = _place(stack.pop())
        text.places.append(place)
        stack += nested
    # Counted apart: an inline fragment's fields belong to two places above.
    stack = [selection_set]
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FieldNode):
                text.fields += 1
                if selection.selection_set is not None:
                    stack.append(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                stack.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                text.spreads[selection.name.value] += 1
    return text


@dataclass
class Weight:
    """What checking a document costs: fields written out, and same-name pairs compared
    (both counted up to a cap and one beyond)."""

    fields: int
    same_name_pairs: int


def weigh(document: DocumentNode, cap: int) -> Weight:
    """The document's weight. A spread of an unknown fragment, or one that closes a cycle,
    counts nothing here: validation refuses both."""
    texts = {d.name.value: _read(d.selection_set) for d in document.definitions
             if isinstance(d, FragmentDefinitionNode)}
    size: dict[str, int] = {}  # fields of a fragment written out
    names: dict[str, Counter[str]] = {}  # names a fragment brings to where it is spread

    def capped(value: int) -> int:
        return min(value, cap + 1)

    def brought(place: _Place) -> Counter[str]:
        # Each fragment once per place, as graphql-core collects them.
        found = Counter(place.names)
        for name in place.spreads:
            for key, times in names.get(name, Counter()).items():
                found[key] = capped(found[key] + times)
        return found

    def written_out(text: _Text) -> int:
        total = text.fields
        for name, times in text.spreads.items():
            total = capped(total + times * size.get(name, 0))
        return total

    for name in _dependencies_first(texts):
        size[name] = written_out(texts[name])
        names[name] = brought(texts[name].places[0])

    def pairs(places: Iterable[_Place]) -> int:
        total = 0
        for place in places:
            for times in brought(place).values():
                total = capped(total + times * (times - 1) // 2)
        return total

    fields = 0
    same_name_pairs = sum(pairs(text.places) for text in texts.values())
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            text = _read(definition.selection_set)
            fields = capped(fields + written_out(text))
            same_name_pairs += pairs(text.places)
    return Weight(fields, capped(same_name_pairs))


def _dependencies_first(texts: dict[str, _Text]) -> Iterator[str]:
    """Fragment names, each after the fragments it spreads (depth first, without recursion);
    a fragment met again while open closes a cycle and is skipped."""
    done: set[str] = set()
    for root in texts:
        if root in done:
            continue
        open_ = {root}
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(texts[root].spreads))]
        while stack:
            name, pending = stack[-1]
            following = next((n for n in pending
                              if n in texts and n not in done and n not in open_), None)
            if following is None:
                stack.pop()
                open_.discard(name)
                done.add(name)
                yield name
            else:
                open_.add(following)
                stack.append((following, iter(texts[following].spreads)))


class DocumentWeight(SchemaExtension):
    """Weighs, before validation, a document this process has not validated before
    (DocumentCache): checking it costs the key one point per field written out and per pair
    of same-name fields (service/api/execution/charges.py, `charge_document`), and it is refused
    when it selects more than `most` fields written out, or the same names too often in one
    place."""

    def __init__(self, most: int) -> None:
        self.most = most

    async def on_validate(self) -> AsyncIterator[None]:
        context = self.execution_context
        document = context.graphql_document
        # Set already: a known valid document (DocumentCache), or one refused before.
        if context.pre_execution_errors is None and document is not None:
            weight = weigh(document, max(self.most, MAX_SAME_NAME_PAIRS))
            refusal = await charge_document(context.context,
                                            weight.fields + weight.same_name_pairs)
            if refusal is None:
                refusal = self._refusal(weight)
            if refusal is not None:
                context.pre_execution_errors = [refusal]
        yield

    def _refusal(self, weight: Weight) -> GraphQLError | None:
        if weight.fields > self.most:
            return GraphQLError(
                f"This document selects more than {self.most} fields once each fragment is "
                "written out where it is spread: spread fragments fewer times.",
                extensions={"code": ErrorCode.GRAPHQL_VALIDATION_FAILED.value,
                            "maximumFields": self.most})
        if weight.same_name_pairs > MAX_SAME_NAME_PAIRS:
            return GraphQLError(
                "This document selects the same field names too many times in one place "
                f"(more than {MAX_SAME_NAME_PAIRS} pairs to compare): select each field once.",
                extensions={"code": ErrorCode.GRAPHQL_VALIDATION_FAILED.value})
        return None
