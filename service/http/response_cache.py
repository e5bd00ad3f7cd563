"""The response cache (#21): a repeated query answered from Redis without running it.

An answer is stored under the version of the tenant's data that PostgreSQL announced last
(service/infra/write_notices.py): every write, whichever process made it, announces its tenant at
commit, and a lookup hears every notice committed before it began. So a client that saw a write
commit never reads an answer from before it, and no writer has to remember to say so. While the
notices are not heard (the listening connection is down) nothing is served from the cache.
Entries also expire (RESPONSE_CACHE_TTL_SECONDS): versions move on, and old entries are
never read again.

Cached: single POSTed query operations that answered without errors, keyed by (tenant, document,
operation name, variables, the key's scopes; the key itself when the document asks for `viewer`).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from uuid import UUID

import orjson
from redis.asyncio import Redis

from graphql import GraphQLSyntaxError, OperationDefinitionNode, OperationType, parse
from service.infra.auth import Principal
from service.infra.write_notices import NotFollowing, WriteNotices

log = logging.getLogger(__name__)

@lru_cache(maxsize=512)
def operation_type(document: str, operation_name: str | None) -> OperationType | None:
    """The type of the operation the request runs; None when the document does not parse or
    names no single operation (the view refuses it)."""
    try:
        parsed = parse(document)
    except (GraphQLSyntaxError, RecursionError):
        return None
    operations = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    return operations[0].operation if len(operations) == 1 else None


def cacheable(document: str, operation_name: str | None) -> bool:
    """Whether the document's chosen operation is a query (never a mutation or subscription)."""
    return operation_type(document, operation_name) == OperationType.QUERY


@dataclass(frozen=True)
class Lookup:
    key: str              # where a fresh answer is stored
    data: bytes | None    # the cached `data`, JSON


class ResponseCache:
    def __init__(self, redis: Redis, notices: WriteNotices, namespace: str,
                 ttl_seconds: int) -> None:
        self._redis = redis
        self.notices = notices
        self._prefix = f"bg:rc:{namespace}"
        self._ttl = ttl_seconds

    async def lookup(self, tenant_id: UUID, material: bytes) -> Lookup | None:
        """The cached answer for the request `material` identifies, or where to store one;
        None when the notices are not heard or Redis fails (the request runs uncached)."""
        digest = hashlib.sha256(material).hexdigest()
        try:
            version = await self.notices.current(tenant_id)
        except NotFollowing:
            return None
        key = f"{self._prefix}:r:{tenant_id}:{digest}:{version}"
        try:
            data = await self._redis.get(key)
        except Exception:
            log.warning("response cache: lookup failed; answering uncached", exc_info=True)
            return None
        return Lookup(key, data)

    async def store(self, lookup: Lookup, data: bytes) -> None:
        try:
            await self._redis.set(lookup.key, data, ex=self._ttl)
        except Exception:
            log.warning("response cache: could not store an answer", exc_info=True)


def cache_material(request: dict[str, Any], principal: Principal) -> bytes | None:
    """What identifies the request's answer in the cache, or None when it may not be cached
    (not a single query, or a request the view will refuse anyway)."""
    query, name = request.get("query"), request.get("operationName")
    variables = request.get("variables") or {}
    if not isinstance(query, str) or not isinstance(name, str | None) or \
            not isinstance(variables, dict) or not cacheable(query, name):
        return None
    try:
        return orjson.dumps([query, name, variables, list(principal.audience(query))],
                            option=orjson.OPT_SORT_KEYS)
    except TypeError:  # an integer beyond 64 bits: the view refuses it, uncached
        return None
