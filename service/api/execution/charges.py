"""What checking and running a document takes from its key's bucket: points before a new
document is parsed, before it is validated, and its price before it runs (CostLimit)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from graphql import (
    GraphQLError,
)
from service.api.errors import answer_with
from service.api.execution.cost import Pricing
from service.infra import outages
from service.infra.throttle import Bucket, Throttle


def parse_points(query: str, max_tokens: int) -> int:
    """What parsing a new document costs its key before it is parsed: a point per 4
    characters (about a token each), at most `max_tokens`, as far as the parser reads before
    it gives up. Parsing 5,000 tokens took 12-25 ms, whether the document parsed or not."""
    return min(max_tokens, -(-len(query) // 4))


async def take_points(throttle: Throttle | None, principal: Any, points: int, what: str,
                      context: Any = None) -> GraphQLError | None:
    """Take `points` for `what` from the key's bucket: the THROTTLED error (HTTP 429 on the
    context's response, if any) when it holds too few; nothing to take with throttling off."""
    if throttle is None or not throttle.enabled or principal is None:
        return None
    bucket = await take(throttle, principal.api_key_id, points, context)
    return None if bucket.taken else throttled(context, throttle, bucket, points, what)


async def take(throttle: Throttle, key_id: Any, points: int, context: Any) -> Bucket:
    """Points from the key's bucket. With Redis away nothing can be counted, so nothing is
    run: SERVICE_UNAVAILABLE (HTTP 503, Retry-After) rather than unthrottled work."""
    try:
        return await throttle.take(key_id, points)
    except Exception as exc:
        if (server := outages.away(exc)) is None:
            raise
        answer_with(context, 503, retry_after=outages.RETRY_AFTER_SECONDS)
        raise GraphQLError(outages.message(server),
                           extensions={"code": "SERVICE_UNAVAILABLE"}) from exc


async def charge_document(context: Any, points: int) -> GraphQLError | None:
    """Checking a document this process has not validated before (parsing, weighing,
    validation; service/api/execution/written_out.py) costs its key `points`, valid or not: a
    refused document costs no less to check than one that runs, and is never cached. Told as
    `extensions.cost.documentCost`. The THROTTLED error when the bucket holds too few."""
    refusal = await take_points(context.services.throttle, context.principal, points,
                                "checking this new document", context)
    if refusal is None:
        context.document_cost += points
    return refusal


def throttled(context: Any, throttle: Throttle, bucket: Bucket, cost: int,
              what: str) -> GraphQLError:
    """The answer to a request whose key's bucket holds fewer than `cost` points: HTTP 429
    with Retry-After."""
    wait = bucket.retry_after(cost)
    answer_with(context, 429, retry_after=wait)
    return GraphQLError(
        f"Throttled: {what} needs {cost} points and this key has {int(bucket.available)}; "
        f"{throttle.restore_rate:g} come back each second.",
        extensions={"code": "THROTTLED", "retryAfterSeconds": wait})


class CostLimit(SchemaExtension):
    """Prices each operation before it runs: above MAX_QUERY_COST it is refused
    (MAX_COST_EXCEEDED); otherwise its points come out of the key's bucket (HTTP 429 THROTTLED
    when the bucket holds too few), and what it did not use goes back once it ran. Every
    answer tells `extensions.cost`."""

    def __init__(self) -> None:
        self.pricing: Pricing | None = None
        self.requested: int | None = None
        self.actual: int | None = None
        self.bucket: Bucket | None = None

    async def _admit(self, execution: ExecutionContext) -> GraphQLError | None:
        context = execution.context
        settings = context.settings
        self.pricing = Pricing.of(execution.schema._schema, execution.graphql_document,
                                  execution.operation_name, execution.variables)
        self.requested = self.pricing.requested() if self.pricing is not None else 0
        if self.requested > settings.max_query_cost:
            return GraphQLError(
                f"This operation may cost {self.requested} points, more than the "
                f"{settings.max_query_cost} allowed: ask for smaller pages (first) or fewer "
                "nested lists.",
                extensions={"code": "MAX_COST_EXCEEDED", "cost": self.requested,
                            "maximumCost": settings.max_query_cost})
        throttle = context.services.throttle
        if throttle is None or not throttle.enabled or context.principal is None:
            return None
        self.bucket = await take(throttle, context.principal.api_key_id, self.requested, context)
        if self.bucket.taken:
            return None
        return throttled(context, throttle, self.bucket, self.requested, "this operation")

    async def on_execute(self) -> AsyncIterator[None]:
        # Here, not before validation: only a valid document is priced, and a refused one
        # is answered with this error alone (strawberry turns the exception into the result).
        execution = self.execution_context
        if execution.graphql_document is not None:
            error = await self._admit(execution)
            if error is not None:
                raise error
        yield
        if self.requested is None:
            return
        data = getattr(execution.result, "data", None)
        self.actual = self.pricing.actual(data) if self.pricing is not None else 0
        refund = self.requested - self.actual
        bucket = self.bucket
        throttle = execution.context.services.throttle
        if bucket is not None and bucket.taken and refund > 0 and throttle is not None:
            try:
                self.bucket = await throttle.take(execution.context.principal.api_key_id,
                                                  -refund)
            except Exception as exc:  # the answer stands; the key keeps what it paid
                if outages.away(exc) is None:
                    raise

    def get_results(self) -> dict[str, Any]:
        execution = self.execution_context
        document = getattr(execution.context, "document_cost", 0)
        # A subscription's events are answers to one checked document: none tells its cost
        # again. (A document that did not parse was charged too, and has no type.)
        if document and execution.graphql_document is not None and \
                execution.operation_type is OperationType.SUBSCRIPTION:
            document = 0
        charged = {"documentCost": document} if document else {}
        if self.requested is None:
            return {"cost": charged} if charged else {}
        cost: dict[str, Any] = {"requestedQueryCost": self.requested,
                                "actualQueryCost": self.actual, **charged}
        if self.bucket is not None:
            cost["throttleStatus"] = {
                "maximumAvailable": self.bucket.capacity,
                "currentlyAvailable": int(self.bucket.available),
                "restoreRate": self.bucket.restore_rate,
            }
        return {"cost": cost}
