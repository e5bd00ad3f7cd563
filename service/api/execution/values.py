"""How values in a request are read: one rule per kind of value, applied where it enters.

- Text: PostgreSQL cannot hold U+0000, so no string in a document or its variables may carry it
  (`TextScreen`, before execution; cursors are checked again once decoded).
- JSON: integers kept exact or refused, never silently changed (`domain.json_values`).
- Date-times: ISO 8601, a time without an offset is UTC, and the instant must exist in UTC
  within the years 1 to 9999 (`moment`), for arguments and cursors alike.

A value that breaks a rule is an `InvalidValue`, reported as a GraphQL error with its code."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from graphql.language import Visitor, visit
from strawberry.extensions import SchemaExtension
from strawberry.scalars import JSON
from strawberry.types.scalar import ScalarDefinition

from graphql import GraphQLError, StringValueNode, ValueNode, value_from_ast_untyped
from service.api.errors import ErrorCode, InvalidValue
from service.domain import json_values

NUL_MESSAGE = "Text may not contain the NUL character (U+0000)"


def moment(value: object) -> datetime:
    """An ISO-8601 date and time as an aware UTC datetime, or InvalidValue."""
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidValue("Expected an ISO-8601 date and time as a string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidValue(f"{value!r} is not an ISO-8601 date and time") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise InvalidValue(f"{value} lies outside the years 1 to 9999 in UTC") from None


def json_value(value: Any) -> Any:
    if (found := json_values.problem(value)) is not None:
        raise InvalidValue(f"The JSON value {found}")
    return value


def _json_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Any:
    return json_value(value_from_ast_untyped(node, variables))


DATETIME = ScalarDefinition(
    name="DateTime",
    description="Date with time (ISO 8601); without an offset it is read as UTC.",
    specified_by_url=None,
    serialize=datetime.isoformat,
    parse_value=moment,
    parse_literal=None,
    origin=datetime,
)
JSON_VALUE = ScalarDefinition(
    name="JSON",
    description=(
        "A JSON value. Integers must lie within the 64-bit range (send larger ones as "
        "strings); strings may not contain U+0000."
    ),
    specified_by_url=(
        "https://ecma-international.org/wp-content/uploads/ECMA-404_2nd_edition_december_2017.pdf"
    ),
    serialize=lambda value: value,
    parse_value=json_value,
    parse_literal=_json_literal,
    origin=JSON,
)
SCALARS: dict[object, ScalarDefinition] = {datetime: DATETIME, JSON: JSON_VALUE}


def nul_path(value: Any, path: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """Where in a decoded JSON value (variables) a string or key holds U+0000, if anywhere."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                return path
            if (found := nul_path(item, (*path, key))) is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if (found := nul_path(item, (*path, index))) is not None:
                return found
    return None


class _NulStrings(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[StringValueNode] = []

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        if "\x00" in node.value:
            self.found.append(node)


def _nul_literals(execution_context: Any) -> Iterator[GraphQLError]:
    query = execution_context.query or ""
    # A NUL can only be written as an escape: skip the walk for the usual document.
    if "\\u" not in query or execution_context.graphql_document is None:
        return
    visitor = _NulStrings()
    visit(execution_context.graphql_document, visitor)
    for node in visitor.found:
        yield GraphQLError(f"{NUL_MESSAGE}.", node,
                           extensions={"code": ErrorCode.INVALID_VALUE.value})


class TextScreen(SchemaExtension):
    """Refuses a request whose document or variables hold U+0000 before it executes: no text
    column, search or cursor can use it, and PostgreSQL would fail on it."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        errors = list(_nul_literals(context))
        found = nul_path(context.variables) if context.variables else None
        if found is not None:
            where = ".".join(str(p) for p in found)
            errors.append(GraphQLError(
                f"{NUL_MESSAGE}: variable `{where}`.",
                extensions={"code": ErrorCode.INVALID_VALUE.value, "variable": list(found)},
            ))
        if errors:
            # Set before validation runs: strawberry then skips it and answers these.
            context.pre_execution_errors = errors
        yield
