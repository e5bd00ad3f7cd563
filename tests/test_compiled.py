"""Compiled selections complete a leaf exactly as graphql-core's own scalar coercion does:
the shortcut for values it returns unchanged (tests/test_fuzz.py compares whole answers)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from graphql.pyutils import Undefined
from hypothesis import example, given
from hypothesis import strategies as st

from graphql import (
    GraphQLBoolean,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLObjectType,
    GraphQLString,
)
from service.api.execution.compiled import GiveUp, Plans


class _Executor:
    context_value = None


SCALARS = (GraphQLString, GraphQLID, GraphQLBoolean, GraphQLInt, GraphQLFloat)


@given(value=st.one_of(st.none(), st.text(), st.booleans(), st.floats(),
                       st.integers(min_value=-2**40, max_value=2**40)))
@example(2**31 - 1)
@example(2**31)
@example(-2**31)
@example(-2**31 - 1)
@example(True)
def test_a_leaf_completes_as_graphql_core_coerces_it(value: Any) -> None:
    for scalar in SCALARS:
        complete = Plans(_Executor())._completion(scalar, None)
        assert complete is not None
        try:
            expected = None if value is None else scalar.coerce_output_value(value)
        except Exception:
            expected = Undefined
        if expected is Undefined:  # graphql-core refuses it: the plan leaves it to it
            with pytest.raises(GiveUp):
                complete(value)
        else:
            completed = complete(value)
            assert (type(completed), completed) == (type(expected), expected), scalar


def test_a_row_field_is_read_from_its_row_in_one_step() -> None:
    """Fields read from an object's row (lookahead.row_field) tell compiled execution their
    path, which it reads with one attrgetter; the value is the field's own resolver's."""
    from datetime import UTC, datetime

    from service.api.engagement import PersonActivity
    from service.api.execution.compiled import READER
    from service.api.schema import schema
    from service.store.activities import Activity

    activity_type = schema._schema.type_map["PersonActivity"]
    assert isinstance(activity_type, GraphQLObjectType)
    fields = activity_type.fields
    assert fields["activityDate"].extensions[READER] == ("attribute", "row.activity_date")
    assert fields["sourceId"].extensions[READER] == ("attribute", "row.source_id")
    when = datetime(2026, 12, 4, tzinfo=UTC)
    activity = PersonActivity(row=Activity(
        lead_id="7", source_id="a-1", source_type_id=2, activity_date=when,
        primary_attribute_value=None, attributes=None))
    read = Plans(_Executor())._reader(fields["activityDate"].extensions[READER], None, None)
    info = SimpleNamespace(context=None)
    assert read(activity) == when == fields["activityDate"].resolve(activity, info)
