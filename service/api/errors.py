"""Errors as the API reports them: GraphQL errors with a code, and userErrors entries."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

import strawberry

from graphql import GraphQLError


@strawberry.enum(description="Machine-readable reason of a GraphQL error or a userErrors entry.")
class ErrorCode(enum.Enum):
    BAD_USER_INPUT = "BAD_USER_INPUT"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    INVALID_CURSOR = "INVALID_CURSOR"
    PAGE_SIZE_EXCEEDED = "PAGE_SIZE_EXCEEDED"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    INVALID_VALUE = "INVALID_VALUE"
    DUPLICATE = "DUPLICATE"
    LIMIT_REACHED = "LIMIT_REACHED"
    IMMUTABLE = "IMMUTABLE"
    IN_USE = "IN_USE"


class ClientError(GraphQLError):
    """A mistake of the caller's, shown as it is (never masked), with a code."""

    def __init__(self, message: str, code: ErrorCode, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": code.value, **extensions})
        self.code = code


@strawberry.type(
    description="A validation failure of a mutation's input; nothing was changed by it."
)
class UserError:
    field: list[str] | None = strawberry.field(
        description="Path to the input field at fault, e.g. ['input', 'roles', '2', 'roleId']."
    )
    code: ErrorCode
    message: str


def user_error(path: Sequence[str | int], code: ErrorCode, message: str) -> UserError:
    return UserError(field=[str(p) for p in path], code=code, message=message)
