"""The schema's execution machinery as strawberry builds it: an extensions runner that serves
multiplexed subscriptions, errors logged by kind, and the depth and alias rules made once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    SchemaExtension,
)
from strawberry.extensions.max_aliases import create_validator as aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.types import ExecutionContext

from graphql import ASTValidationRule, GraphQLError
from service.api.errors import (
    is_client_error,
)
from service.api.execution.multiplex import ExtensionsRunner
from service.infra import outages
from service.infra.config import Settings

log = logging.getLogger("service.api")


class Schema(strawberry.Schema):
    """strawberry's schema with our extensions runner (multiplexed subscription events run
    the extensions once per audience) and errors logged by kind: a client's at debug, a
    server away as a warning, any other with its traceback."""

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> ExtensionsRunner:
        return ExtensionsRunner(execution_context, extensions)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        context: Any = execution_context.context if execution_context else None
        request_id = getattr(context, "request_id", "-")
        for error in errors:
            if is_client_error(error):
                log.debug("client error: %s (request %s)", error.message, request_id)
            elif (server := outages.away(error.original_error)) is not None:
                # Not a bug: one line each, not a traceback per request while it lasts.
                log.warning("%s away: request %s at %s answered 503 (%s)", server, request_id,
                            error.path, type(error.original_error).__name__)
            else:
                log.error(
                    "unexpected error in request %s at %s", request_id, error.path,
                    exc_info=error.original_error,
                )


def limits(settings: Settings) -> Callable[[], SchemaExtension]:
    """The depth and alias limits, as strawberry's QueryDepthLimiter and MaxAliasesLimiter
    check them, with their rules made once. Those extensions make a new rule class for every
    request (10 µs each, and a class is garbage only the cycle collector frees) although a
    cached document is never validated again."""
    rules: list[type[ASTValidationRule]] = [depth_rule(settings.max_query_depth, None),
                                            aliases_rule(settings.max_aliases)]
    return partial(AddValidationRules, rules)
