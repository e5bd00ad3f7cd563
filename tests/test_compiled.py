"""Compiled selections complete a leaf exactly as graphql-core's own scalar coercion does:
the shortcut for values it returns unchanged (tests/test_fuzz.py compares whole answers)."""

from __future__ import annotations

from typing import Any

import pytest
from graphql.pyutils import Undefined
from hypothesis import example, given
from hypothesis import strategies as st

from graphql import GraphQLBoolean, GraphQLFloat, GraphQLID, GraphQLInt, GraphQLString
from service.api.compiled import GiveUp, Plans


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
