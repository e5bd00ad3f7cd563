"""Traces (OpenTelemetry): one per HTTP request, WebSocket or job attempt, with spans for the
GraphQL operation (parsing, validation, execution), each SQL statement (asyncpg), each Redis
command and each outbound HTTP call (httpx), exported by OTLP over HTTP.

Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (the standard OTEL_* variables configure the
exporter and OTEL_SERVICE_NAME the service's name): then nothing is instrumented and `tracer()`
is the no-op one, so an untraced deployment pays nothing. Log lines carry the trace and span
ids of the span they were written in.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from opentelemetry import trace

NAME = "buying-groups"

_provider: Any = None  # the SDK's TracerProvider, once tracing is on in this process
_NOOP = trace.NoOpTracer()

log = logging.getLogger(__name__)


def start(endpoint: str | None, service_name: str, provider: Any = None) -> bool:
    """Turn tracing on in this process when an endpoint is configured (or a provider is
    given, as tests do with an in-memory exporter); whether it is on. Once per process: the
    instrumentation patches the client libraries, and OpenTelemetry's global provider can be
    set only once."""
    global _provider
    if _provider is not None:
        return True
    if provider is None:
        if not endpoint:
            return False
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        # The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (and its headers, timeout) itself.
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    for instrumentor in _instrumentors():
        instrumentor.instrument(tracer_provider=provider)
    _provider = provider
    log.info("tracing on: spans exported by OTLP")
    return True


def stop() -> None:
    """Undo the instrumentation and flush what is pending (the tests' way out)."""
    global _provider
    if _provider is None:
        return
    for instrumentor in _instrumentors():
        instrumentor.uninstrument()
    _provider.force_flush()
    _provider = None


def _instrumentors() -> list[Any]:
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    return [AsyncPGInstrumentor(), RedisInstrumentor(),  # type: ignore[no-untyped-call]
            HTTPXClientInstrumentor()]


def enabled() -> bool:
    return _provider is not None


def provider() -> Any:
    return _provider


def tracer() -> trace.Tracer:
    """The service's tracer: the no-op one while tracing is off."""
    return _provider.get_tracer(NAME) if _provider is not None else _NOOP


def add_trace_ids(_logger: Any, _method: str, event: MutableMapping[str, Any]
                  ) -> MutableMapping[str, Any]:
    """A structlog processor: the current span's trace and span ids on the log line."""
    if _provider is not None:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            event["trace_id"] = format(context.trace_id, "032x")
            event["span_id"] = format(context.span_id, "016x")
    return event
