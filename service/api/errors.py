"""Errors as the API reports them: GraphQL errors with a code, and userErrors entries."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

import asyncpg
import strawberry
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.relay import InvalidGlobalIDError
from strawberry.types import get_object_definition

from graphql import GraphQLError
from service.domain.problems import Problem
from service.infra import outages
from service.infra.db import PoolExhausted


@strawberry.enum(description="Machine-readable reason of a GraphQL error or a userErrors entry.")
class ErrorCode(enum.Enum):
    BAD_USER_INPUT = "BAD_USER_INPUT"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    INVALID_CURSOR = "INVALID_CURSOR"
    CURSOR_EXPIRED = "CURSOR_EXPIRED"
    PAGE_SIZE_EXCEEDED = "PAGE_SIZE_EXCEEDED"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    INVALID_VALUE = "INVALID_VALUE"
    DUPLICATE = "DUPLICATE"
    ERASED = "ERASED"  # an erased person or account is not taken again
    CREDENTIALS_REFUSED = "CREDENTIALS_REFUSED"  # an activity source refused them
    SOURCE_UNREACHABLE = "SOURCE_UNREACHABLE"  # an activity source gave no usable answer
    LIMIT_REACHED = "LIMIT_REACHED"
    IMMUTABLE = "IMMUTABLE"
    IN_USE = "IN_USE"
    TOO_MANY_ITEMS = "TOO_MANY_ITEMS"
    UNKNOWN_PARENT = "UNKNOWN_PARENT"
    CYCLE = "CYCLE"
    UNKNOWN_ACCOUNT = "UNKNOWN_ACCOUNT"
    INVALID_EMAIL = "INVALID_EMAIL"
    CONFLICT = "CONFLICT"
    UNKNOWN_MATCH = "UNKNOWN_MATCH"
    UNKNOWN_ATTRIBUTE = "UNKNOWN_ATTRIBUTE"
    UNKNOWN_OPERATOR = "UNKNOWN_OPERATOR"
    VALUE_REQUIRED = "VALUE_REQUIRED"
    INVALID_NUMBER = "INVALID_NUMBER"
    OPERATOR_NOT_ALLOWED = "OPERATOR_NOT_ALLOWED"
    TOO_MANY_RULES = "TOO_MANY_RULES"
    TOO_MANY_VALUES = "TOO_MANY_VALUES"
    NO_ROLES = "NO_ROLES"
    TEMPLATE_NOT_LIVE = "TEMPLATE_NOT_LIVE"
    PERSON_NOT_IN_ACCOUNT = "PERSON_NOT_IN_ACCOUNT"
    ROLE_NOT_IN_TEMPLATE = "ROLE_NOT_IN_TEMPLATE"
    NOT_A_MEMBER = "NOT_A_MEMBER"
    OVERRIDDEN = "OVERRIDDEN"
    UNKNOWN_STAGE = "UNKNOWN_STAGE"
    NO_ENTRY_STAGE = "NO_ENTRY_STAGE"
    SUCCESS_STAGE_COUNT = "SUCCESS_STAGE_COUNT"
    NO_WAY_OUT = "NO_WAY_OUT"
    UNREACHABLE = "UNREACHABLE"
    TRANSITION_NOT_ALLOWED = "TRANSITION_NOT_ALLOWED"
    NO_STAGE_MODEL = "NO_STAGE_MODEL"
    STAGE_MODEL_NOT_LIVE = "STAGE_MODEL_NOT_LIVE"
    ADDRESS_NOT_ALLOWED = "ADDRESS_NOT_ALLOWED"
    SECRET_REQUIRED = "SECRET_REQUIRED"
    INVALID_ID = "INVALID_ID"
    NEVER_FIRES = "NEVER_FIRES"
    PREVIEW_TIMEOUT = "PREVIEW_TIMEOUT"
    INVALID_TIME_ZONE = "INVALID_TIME_ZONE"
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    BAD_REQUEST = "BAD_REQUEST"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    TIMEOUT = "TIMEOUT"
    MAX_COST_EXCEEDED = "MAX_COST_EXCEEDED"
    THROTTLED = "THROTTLED"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    PERSISTED_QUERY_NOT_IN_LIST = "PERSISTED_QUERY_NOT_IN_LIST"
    PERSISTED_QUERY_HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
    PERSISTED_QUERY_NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"


class ClientError(GraphQLError):
    """A mistake of the caller's, shown as it is (never masked), with a code."""

    def __init__(self, message: str, code: ErrorCode, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": code.value, **extensions})
        self.code = code


class InvalidValue(ValueError):
    """A value a scalar refuses (graphql-core wraps it in its own error); the message says
    why, the code says what kind."""

    def __init__(self, message: str, code: ErrorCode = ErrorCode.INVALID_VALUE) -> None:
        super().__init__(message)
        self.code = code


def is_client_error(error: GraphQLError) -> bool:
    """Errors of the caller's making are shown as they are; anything else is masked."""
    original = error.original_error
    return original is None or isinstance(original, GraphQLError | InvalidValue)


RETRY_AFTER_OVERLOAD_SECONDS = 1


def answer_with(context: Any, status: int, *, retry_after: int) -> None:
    """Give the HTTP answer of this request a status and Retry-After (a WebSocket message has
    neither: it carries the error's code alone)."""
    response = getattr(context, "response", None)
    if response is not None and hasattr(response, "status_code") and hasattr(response,
                                                                             "headers"):
        response.status_code = status
        response.headers["Retry-After"] = str(retry_after)


OVERLOADED_MESSAGE = ("The service is overloaded: no database connection came free in time. "
                      "Retry in a moment.")


def operational_error(error: GraphQLError) -> GraphQLError | None:
    """Failures that are neither the caller's mistake nor a bug, told as they are: overload
    or a server away (SERVICE_UNAVAILABLE, HTTP 503) and a statement beyond the time limit
    (TIMEOUT)."""
    original = error.original_error
    if isinstance(original, PoolExhausted):
        message, code = OVERLOADED_MESSAGE, ErrorCode.SERVICE_UNAVAILABLE
    elif (server := outages.away(original)) is not None:
        message, code = outages.message(server), ErrorCode.SERVICE_UNAVAILABLE
    elif isinstance(original, asyncpg.QueryCanceledError):
        message = ("A database statement took longer than the time limit and was cancelled; "
                   "ask for less (a smaller page, fewer nested lists).")
        code = ErrorCode.TIMEOUT
    else:
        return None
    return GraphQLError(message, nodes=error.nodes, path=error.path,
                        extensions={"code": code.value})


def cause_code(error: GraphQLError) -> ErrorCode | None:
    """The code carried by the error or by what caused it (a refused scalar value, a global id
    that does not decode), if any."""
    cause: BaseException | None = error
    while cause is not None:
        code = getattr(cause, "code", None)
        if isinstance(code, ErrorCode):
            return code
        if isinstance(cause, InvalidGlobalIDError):
            return ErrorCode.INVALID_ID
        if isinstance(cause, StrawberryInputCoercionError):
            return ErrorCode.INVALID_VALUE
        cause = cause.original_error if isinstance(cause, GraphQLError) else None
    return None


def ensure_code(error: GraphQLError, fallback: ErrorCode) -> None:
    """Give a client error without a code the most precise one known, else `fallback`."""
    extensions = error.extensions or {}
    if "code" not in extensions:
        error.extensions = {**extensions, "code": (cause_code(error) or fallback).value}


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


P = TypeVar("P")


def failed(payload: type[P], path: Sequence[str | int], code: ErrorCode, message: str) -> P:
    """A mutation payload that changed nothing: its object fields null, one userErrors entry."""
    definition = get_object_definition(payload, strict=True)
    nulls = {f.python_name: None for f in definition.fields if f.python_name != "user_errors"}
    make: Any = payload  # a strawberry type: keyword arguments are its fields
    result: P = make(**nulls, user_errors=[user_error(path, code, message)])
    return result


def from_problem(problem: Problem, *prefix: str | int) -> UserError:
    """A domain problem as a userErrors entry, its path placed under `prefix`."""
    return user_error((*prefix, *problem.path), ErrorCode(problem.code), problem.message)


def from_problems(problems: Iterable[Problem], *prefix: str | int) -> list[UserError]:
    return [from_problem(p, *prefix) for p in problems]


def indexed_problems(
    problems: Mapping[int, Iterable[Problem]], *prefix: str | int
) -> list[UserError]:
    """userErrors for the items of a list input, each path carrying the item's index."""
    return [
        error
        for index in sorted(problems)
        for error in from_problems(problems[index], *prefix, index)
    ]
