"""Turning strawberry input objects into plain dicts of the fields the caller actually gave."""

from __future__ import annotations

from typing import Any

from strawberry import UNSET
from strawberry.types.base import StrawberryObjectDefinition


def provided_fields(value: Any) -> dict[str, Any]:
    """{graphqlName: value} for every field not left UNSET (an explicit null is kept)."""
    definition: StrawberryObjectDefinition = value.__strawberry_definition__
    result = {}
    for f in definition.fields:
        field_value = getattr(value, f.python_name)
        if field_value is not UNSET:
            name = f.graphql_name or _camel(f.python_name)
            result[name] = field_value
    return result


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
