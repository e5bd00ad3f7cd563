"""Spans for a GraphQL operation, on when tracing is (service/infra/tracing.py): the operation,
and its parsing, validation and execution, under which asyncpg's and Redis's spans nest. Four
spans whatever the document, not one per field: a page of 50 groups resolves thousands."""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from service.infra import tracing


class Traced(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        execution = self.execution_context
        with tracing.tracer().start_as_current_span("graphql.operation") as span:
            yield
            operation = execution.operation_type
            span.set_attribute("graphql.operation.type",
                               operation.value if operation is not None else "unknown")
            if execution.operation_name:
                span.set_attribute("graphql.operation.name", execution.operation_name)
            span.update_name(f"graphql {operation.value if operation else 'operation'} "
                             f"{execution.operation_name or ''}".rstrip())

    def on_parse(self) -> Iterator[None]:
        with tracing.tracer().start_as_current_span("graphql.parse"):
            yield

    def on_validate(self) -> Iterator[None]:
        with tracing.tracer().start_as_current_span("graphql.validate"):
            yield

    def on_execute(self) -> Iterator[None]:
        with tracing.tracer().start_as_current_span("graphql.execute"):
            yield
