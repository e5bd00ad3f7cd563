"""Turning strawberry input objects into plain dicts of the fields the caller actually gave."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import strawberry
from strawberry import UNSET
from strawberry.types import get_object_definition

from service.api.errors import ErrorCode, UserError, indexed_problems, user_error
from service.domain.records import MAX_BATCH
from service.usecases.catalogue import BulkResult
from service.usecases.unit_of_work import UnitOfWork


def provided_fields(value: Any) -> dict[str, Any]:
    """{graphqlName: value} for every field not left UNSET (an explicit null is kept)."""
    definition = get_object_definition(value, strict=True)
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


BulkWrite = Callable[[UnitOfWork, list[dict[str, Any]]], Awaitable[BulkResult[Any]]]


async def bulk_upsert(
    info: strawberry.Info, items: Sequence[Any], field: str, write: BulkWrite
) -> tuple[list[Any], list[UserError]]:
    """Run a bulk upsert mutation: the rows written in input order, and per-item userErrors
    whose paths carry the item's index (`["input", field, "3", "email"]`)."""
    if len(items) > MAX_BATCH:
        return [], [user_error(["input", field], ErrorCode.TOO_MANY_ITEMS,
                               f"at most {MAX_BATCH} {field} per call; split the list")]
    async with info.context.work(info) as work:
        result = await write(work, [provided_fields(item) for item in items])
    return result.rows_in_order(), indexed_problems(result.problems, "input", field)
