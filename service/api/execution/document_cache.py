"""Parsed and validated documents, kept per schema (#21): a front end sends the same few
documents over and over, and parsing plus validating a browse page's document cost as much as
a third of executing it.

Only documents that parsed and passed validation are kept, so every error still comes from
the real parser and validator with its code (strawberry's ParserCache raises its syntax errors
where MaskInternalErrors cannot give them GRAPHQL_PARSE_FAILED). Validation depends on the
schema and the settings the limiters were built with, both fixed for a schema, so a document
valid once is valid for every later request to the same schema; checks that depend on the
request (TextScreen's variables) run every time."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from graphql import DocumentNode

# Documents of front ends and partner integrations: a few dozen. Bounded, so a client sending
# ever new documents (each at most MAX_DOCUMENT_BYTES) cannot grow the process.
MAX_DOCUMENTS = 256


class Documents:
    """Query text -> its parsed document, for documents known to be valid; least recently
    used first out."""

    def __init__(self, size: int = MAX_DOCUMENTS) -> None:
        self._size = size
        self._valid: OrderedDict[str, DocumentNode] = OrderedDict()

    def __contains__(self, query: object) -> bool:
        """Known, without counting as a use."""
        return query in self._valid

    def get(self, query: str) -> DocumentNode | None:
        document = self._valid.get(query)
        if document is not None:
            self._valid.move_to_end(query)
        return document

    def keep(self, query: str, document: DocumentNode) -> None:
        self._valid[query] = document
        self._valid.move_to_end(query)
        while len(self._valid) > self._size:
            self._valid.popitem(last=False)

    def __len__(self) -> int:
        return len(self._valid)


class DocumentCache(SchemaExtension):
    """Hands strawberry the document of a query text it validated before: parsing is skipped
    (strawberry parses only when no document is set) and so is validation (it runs only while
    no pre-execution errors are set)."""

    def __init__(self, documents: Documents) -> None:
        self.documents = documents
        self.known = False

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None and context.graphql_document is None:
            document = self.documents.get(context.query)
            if document is not None:
                context.graphql_document = document
                self.known = True
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if self.known and context.pre_execution_errors is None:
            context.pre_execution_errors = []
        yield
        if not self.known and context.pre_execution_errors == [] and \
                context.query is not None and context.graphql_document is not None:
            self.documents.keep(context.query, context.graphql_document)
