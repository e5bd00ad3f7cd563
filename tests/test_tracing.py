"""Traces: one per request, with the GraphQL operation's spans under the request's and the SQL
statements and Redis commands under those; trace ids in the log lines."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from service.infra import tracing
from service.infra.config import Settings
from tests.support import GraphQLClient, TenantKeys, app_with, setup_catalogue

BROWSE = """query Browse { buyingGroups(first: 5) { nodes { name
  members(first: 5) { nodes { person { fullName } role { name } } } } } }"""


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    assert not tracing.enabled()
    tracing.start(None, "buying-groups", provider)
    try:
        yield exporter
    finally:
        tracing.stop()


def is_below(span: ReadableSpan, ancestor: ReadableSpan, by_id: dict[int, ReadableSpan]) -> bool:
    parent = span.parent
    while parent is not None:
        if parent.span_id == ancestor.context.span_id:
            return True
        above = by_id.get(parent.span_id)
        parent = above.parent if above is not None else None
    return False


async def test_a_browse_request_is_one_trace_with_its_operation_and_statements(
    spans: InMemorySpanExporter, settings: Settings, tenant: TenantKeys,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with app_with(settings) as client:
        gql = GraphQLClient(client)
        await setup_catalogue(gql, tenant.write, accounts=1)
        spans.clear()
        await gql.data(BROWSE, key=tenant.read)
    # Background work of other apps in this process (relays, listeners) makes traces of its
    # own meanwhile: the request's is the one under its HTTP span.
    requests = [s for s in spans.get_finished_spans()
                if s.parent is None and s.name == "POST /graphql"]
    assert len(requests) == 1, [s.name for s in requests]
    request = requests[0]
    finished = [s for s in spans.get_finished_spans()
                if s.context.trace_id == request.context.trace_id]
    by_id = {s.context.span_id: s for s in finished}
    assert all(s is request or s.parent is not None for s in finished)

    def one(name: str) -> ReadableSpan:
        found = [s for s in finished if s.name == name]
        assert len(found) == 1, (name, [s.name for s in finished])
        return found[0]

    operation = one("graphql query Browse")
    assert is_below(operation, request, by_id)
    for step in ("graphql.parse", "graphql.validate", "graphql.execute"):
        assert one(step).parent.span_id == operation.context.span_id  # type: ignore[union-attr]
    execute = one("graphql.execute")
    statements = [s for s in finished if (s.attributes or {}).get("db.system") == "postgresql"]
    assert statements and any(is_below(s, execute, by_id) for s in statements)
    redis_commands = [s for s in finished if (s.attributes or {}).get("db.system") == "redis"]
    assert redis_commands  # the key's bucket
    assert is_below(statements[0], request, by_id)


def test_log_lines_carry_the_current_trace(spans: InMemorySpanExporter) -> None:
    event: dict[str, Any] = {}
    with tracing.tracer().start_as_current_span("work") as span:
        tracing.add_trace_ids(logging.getLogger(), "info", event)
    assert event["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert tracing.add_trace_ids(None, "info", {}) == {}  # outside a span: nothing added


def test_tracing_is_off_without_an_endpoint() -> None:
    assert tracing.start(None, "buying-groups") is False
    assert not tracing.enabled()
    with tracing.tracer().start_as_current_span("nothing") as span:
        assert not span.get_span_context().is_valid
