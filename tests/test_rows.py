"""Rows become the store's frozen dataclasses as their own __init__ would make them."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.store.activities import Activity
from service.store.buying_groups import Member
from service.store.rows import converter


@given(source=st.text(), primary=st.none() | st.text(), type_id=st.integers(),
       attributes=st.none() | st.dictionaries(st.text(), st.integers()))
def test_a_row_makes_the_object_init_makes(source: str, primary: str | None, type_id: int,
                                           attributes: Any) -> None:
    values = {"activity_date": datetime.now(UTC), "source_id": source, "lead_id": "L1",
              "source_type_id": type_id, "primary_attribute_value": primary,
              "attributes": attributes}
    made = converter(Activity)({**values, "total": 3})  # other columns are ignored
    assert made == Activity(**values) and type(made) is Activity
    assert vars(made) == vars(Activity(**values))
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.source_id = "changed"  # type: ignore[misc]
    prefixed = converter(Activity, prefix="a_")({f"a_{k}": v for k, v in values.items()})
    assert prefixed == made


def test_a_missing_column_is_an_error_not_a_default() -> None:
    row = {"buying_group_id": uuid4(), "person_id": uuid4(), "role_id": uuid4()}
    with pytest.raises(KeyError):
        converter(Member)(row)


def test_a_class_with_post_init_is_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class Checked:
        value: int

        def __post_init__(self) -> None:
            assert self.value >= 0

    with pytest.raises(TypeError):
        converter(Checked)
