"""Multiplexed subscriptions (#21): an event is executed once per audience, not per subscriber.

A thousand subscribers of one group with the same document would otherwise run the same nested
selection a thousand times for every change. Hasura's live-query multiplexing is the model:
subscribers whose answers must be equal share one execution. Two answers are equal when the
event, the document, the operation, the variables, the tenant and the audience (the key's
scopes, or the key itself when the document asks for `viewer`; see Principal.audience) are;
each of those is in the key below, so a subscriber never receives an answer executed for
anyone it could not have been executed for.

Only events that say what they are (`multiplex_key`: the tenant's log position) are shared;
every other source payload (job progress) is executed per subscriber as before. A shared
execution is kept a few seconds, long enough for every subscriber of the event to ask.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Iterator
from typing import Any, TypeVar, cast

import orjson
from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import StreamResultContextManager
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionContext
from strawberry.utils.await_maybe import await_maybe

from graphql import ExecutionResult
from service.api.execution.compiled import GiveUp, Plans
from service.infra.metrics import SUBSCRIPTION_EXECUTIONS

T = TypeVar("T")
KEEP_SECONDS = 5.0
_RESULTS: dict[tuple[Any, ...], asyncio.Future[Any]] = {}


def _variables(values: dict[str, Any]) -> bytes:
    # Coerced values (global ids, enums, lists): their text is what the resolvers see.
    return orjson.dumps(values, default=str, option=orjson.OPT_SORT_KEYS)


class MultiplexingExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor with multiplexed subscriptions (below) and compiled selections
    (api/compiled.py)."""

    _audience: tuple[Any, ...] | None = None
    _plans: Plans | None = None

    def collect_and_execute_subfields(self, return_type: Any, field_details_list: Any,
                                      path: Any, result: Any, position_context: Any) -> Any:
        plans = self._plans
        if plans is None or plans.executor is not self:
            settings = getattr(self.context_value, "settings", None)
            middleware = getattr(self.middleware_manager, "_middleware_resolvers", None)
            if settings is None or not settings.compiled_execution or middleware:
                return super().collect_and_execute_subfields(
                    return_type, field_details_list, path, result, position_context)
            plans = self._plans = Plans(self)
        plan = plans.plan(return_type, field_details_list)
        if plan is not None:
            try:
                return plan(result)
            except GiveUp:
                pass  # graphql-core answers for this object, errors and all
        return super().collect_and_execute_subfields(
            return_type, field_details_list, path, result, position_context)

    def run_async_work_finished_hook(self) -> None:
        # graphql-core calls this as the response is built. The executor is a reference cycle
        # (its async_helpers hold its own bound methods; its plans hold it) that keeps the
        # context, and with it all the request loaded, for the cycle collector. Once no work
        # runs on in the background (abandoned fields of a failed non-null field still
        # resolve), nothing needs either: the cycle is cut and it all goes at once.
        super().run_async_work_finished_hook()
        if not self.background_futures:
            self.async_helpers = None  # type: ignore[assignment]
            self._plans = None

    def _audience_key(self) -> tuple[Any, ...] | None:
        event = getattr(self.root_value, "multiplex_key", None)
        if event is None:
            return None
        if self._audience is None:  # the same for every event of the subscription
            principal = getattr(self.context_value, "principal", None)
            operation = self.operation
            if principal is None or operation.loc is None or \
                    not self.context_value.settings.subscription_multiplex:
                return None
            document = operation.loc.source.body
            self._audience = (principal.tenant_id, principal.audience(document), document,
                              operation.name.value if operation.name else None,
                              _variables(self.variable_values.coerced))
        return (event, *self._audience)

    def build_per_event_executor(self, payload: Any) -> Any:
        # An answer already made for this audience needs no executor of its own (graphql-core
        # copies the executor for every event and subscriber).
        self.root_value, subscribed = payload, self.root_value
        try:
            key = self._audience_key()
        finally:
            self.root_value = subscribed
        shared = _RESULTS.get(key) if key is not None else None
        if shared is not None:
            return _Shared(shared)
        executor = super().build_per_event_executor(payload)
        # Each event is read afresh: the operation's loaders still hold the previous event's
        # rows (a group's members as they were before this change).
        fresh = getattr(self.context_value, "fresh", None)
        if fresh is not None:
            executor.context_value = fresh()
        return executor

    def execute_operation(self, serially: bool | None = None) -> Any:
        key = self._audience_key()
        if key is None:
            return super().execute_operation(serially)
        shared = _RESULTS.get(key)
        if shared is not None:
            return _Shared(shared).execute_operation(serially)
        SUBSCRIPTION_EXECUTIONS.labels("executed").inc()
        result: Any = super().execute_operation(serially)
        if not inspect.isawaitable(result):
            done = asyncio.get_running_loop().create_future()
            done.set_result(result)
            result = done
        return _result(share(_RESULTS, key, result, KEEP_SECONDS))


def share(table: dict[Any, asyncio.Future[Any]], key: Any, work: Awaitable[T],
          seconds: float) -> asyncio.Future[T]:
    """`work` as a future kept in `table` under `key` for `seconds`, for every caller with the
    same key to await instead of doing the work again. A failure is not kept: the next caller
    works again."""
    future = asyncio.ensure_future(work)
    table[key] = future
    future.add_done_callback(
        lambda done: done.cancelled() or done.exception() is None or table.pop(key, None))
    asyncio.get_running_loop().call_later(seconds, table.pop, key, None)
    return future


async def _result(shared: Awaitable[ExecutionResult]) -> ExecutionResult:
    # A subscriber that leaves while it waits must not cancel the others' execution.
    return await asyncio.shield(shared)


class _Shared:
    """Stands in for a per-event executor whose answer was already made."""

    def __init__(self, shared: asyncio.Future[ExecutionResult]) -> None:
        self.shared = shared

    def execute_operation(self, serially: bool | None = None) -> Any:
        SUBSCRIPTION_EXECUTIONS.labels("shared").inc()
        return _result(self.shared)


class ExtensionsRunner(SchemaExtensionsRunner):
    """Strawberry's runner, minus the calls that cannot do anything: every result of every
    subscriber asks each extension for its results and its stream-result hook, although only
    one or two have them (a tenth of an event's delivery cost for a thousand subscribers)."""

    def __init__(self, execution_context: ExecutionContext,
                 extensions: list[SchemaExtension] | None = None) -> None:
        super().__init__(execution_context, extensions)
        self._reporting = [e for e in self.extensions
                           if type(e).get_results is not SchemaExtension.get_results]
        self._streaming = [e for e in self.extensions
                           if type(e).on_stream_result is not SchemaExtension.on_stream_result]

    def on_stream_result(self, result: Any) -> Any:
        if all(inspect.isgeneratorfunction(type(e).on_stream_result) for e in self._streaming):
            return _StreamHooks(self._streaming, result)
        return StreamResultContextManager(self._streaming, result)

    async def get_extensions_results(self, ctx: ExecutionContext) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for extension in self._reporting:
            data.update(await await_maybe(extension.get_results()))
        data.update(ctx.extensions_results)
        return data


class _StreamHooks:
    """The extensions' `on_stream_result` generator hooks around one result: what
    StreamResultContextManager does, without wrapping each hook anew for every result."""

    def __init__(self, extensions: list[SchemaExtension], result: Any) -> None:
        self.extensions = extensions
        self.result = result
        self.running: list[Any] = []

    async def __aenter__(self) -> None:
        for extension in self.extensions:
            hook = cast("Iterator[None]", extension.on_stream_result(self.result))
            next(hook)
            self.running.append(hook)

    async def __aexit__(self, *exc_info: object) -> None:
        # Hooks run their rest after the result was handed on, whatever became of it (no
        # hook of ours looks at what the transport did).
        for hook in reversed(self.running):
            next(hook, None)
