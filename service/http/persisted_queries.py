"""Persisted queries (#22): Apollo's automatic persisted queries protocol.

A client sends `extensions.persistedQuery: {version: 1, sha256Hash}` without the document; the
service answers from the documents it knows by that hash, or with PERSISTED_QUERY_NOT_FOUND, on
which the client sends the document once with its hash to register it. A query sent by hash is
short enough for a GET, which a browser or CDN may revalidate (ETag).

Known documents: the operations shipped in graphql/operations/ (each file's text, and each of its
operations both as written and as graphql-core prints it), registered at start-up, and those
clients registered, kept in Redis for PERSISTED_QUERY_TTL_SECONDS after their last use. With
PERSISTED_QUERIES_ONLY only the shipped ones run, whether sent by hash or as text, and nothing
can be registered.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from graphql import GraphQLSyntaxError, OperationDefinitionNode, parse, print_ast
from service.infra.config import OPERATIONS

_SHA256 = re.compile(r"[0-9a-f]{64}")


class PersistedQueryError(Exception):
    """Why a request's document could not be had; `status` is the HTTP status to answer."""

    def __init__(self, message: str, code: str, status: int = 200) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


def document_hash(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def shipped_documents(folder: Path = OPERATIONS) -> dict[str, str]:
    """Every form of the shipped operations a client may send, by hash."""
    documents: dict[str, str] = {}
    for path in sorted(folder.glob("*.graphql")):
        text = path.read_text()
        documents[document_hash(text)] = text
        for operation in parse(text).definitions:
            if isinstance(operation, OperationDefinitionNode) and operation.loc is not None:
                for form in (text[operation.loc.start:operation.loc.end], print_ast(operation)):
                    documents[document_hash(form)] = form
    return documents


class PersistedQueries:
    def __init__(self, redis: Redis | None, namespace: str, ttl_seconds: int, only: bool,
                 max_document_bytes: int, shipped: dict[str, str] | None = None) -> None:
        self._redis = redis
        self._max_bytes = max_document_bytes
        self._prefix = f"bg:pq:{namespace}:"
        self._ttl = ttl_seconds
        self.only = only
        self.shipped = shipped_documents() if shipped is None else shipped

    async def resolve(self, request: dict[str, Any]) -> dict[str, Any]:
        """The request with its document: looked up by hash, registered, or checked against
        the list (PERSISTED_QUERIES_ONLY). Raises PersistedQueryError."""
        extensions = request.get("extensions")
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        query = request.get("query")
        if persisted is None:
            if self.only and not (isinstance(query, str) and document_hash(query) in self.shipped):
                raise _not_in_list()
            return request
        wanted = _wanted_hash(persisted)
        if query is None:
            found = self.shipped.get(wanted)
            if found is None and not self.only and self._redis is not None:
                key = self._prefix + wanted
                stored = await self._redis.get(key)
                if stored is not None:
                    await self._redis.expire(key, self._ttl)
                    found = stored.decode() if isinstance(stored, bytes) else str(stored)
            if found is None:
                if self.only:
                    raise _not_in_list()
                raise PersistedQueryError("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
            return {**request, "query": found}
        if not isinstance(query, str):
            return request  # the view refuses it as it is
        if document_hash(query) != wanted:
            raise PersistedQueryError(
                "provided sha does not match query", "PERSISTED_QUERY_HASH_MISMATCH", 400)
        if wanted in self.shipped:
            return request
        if self.only:
            raise _not_in_list()
        if self._redis is not None and len(query.encode()) <= self._max_bytes and \
                _parses(query):
            await self._redis.set(self._prefix + wanted, query, ex=self._ttl)
        return request


def _wanted_hash(persisted: Any) -> str:
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise PersistedQueryError("persistedQuery: only version 1 is supported",
                                  "PERSISTED_QUERY_NOT_SUPPORTED", 400)
    wanted = persisted.get("sha256Hash")
    if not isinstance(wanted, str) or not _SHA256.fullmatch(wanted):
        raise PersistedQueryError("persistedQuery.sha256Hash must be 64 lowercase hex digits",
                                  "BAD_REQUEST", 400)
    return wanted


def _not_in_list() -> PersistedQueryError:
    return PersistedQueryError(
        "This service runs only its registered operations (PERSISTED_QUERIES_ONLY): send one "
        "of graphql/operations/ by its sha256Hash.", "PERSISTED_QUERY_NOT_IN_LIST", 400)


def _parses(document: str) -> bool:
    # Only documents that could ever run are kept: junk would only fill Redis.
    try:
        parse(document)
    except (GraphQLSyntaxError, RecursionError):
        return False
    return True
