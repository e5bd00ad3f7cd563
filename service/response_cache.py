"""The response cache (#21): a repeated query answered from Redis without running it.

An answer is stored under the tenant's version and a global version, both read in the same
step as the lookup. Every transaction that wrote something bumps a version after it commits and
before its caller goes on (the hook `Database` calls): a tenant's own transaction bumps its
tenant; a system transaction bumps the tenants it names as the ones it wrote for (a job's
claim, progress and end; the last use of a key), and the global version when it names none
(retention, across tenants).
So a client that saw a write complete never reads an answer from before it: the entry it would
read is under a version that no longer exists. Versions are random tokens, never counters, so a
version key that Redis lost cannot come back as an old one. Entries also expire
(RESPONSE_CACHE_TTL_SECONDS), which bounds the damage should a bump itself fail (logged).

Cached: single POSTed query operations that answered without errors, keyed by (tenant, document,
operation name, variables, the key's scopes; the key itself when the document asks for `viewer`).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from functools import lru_cache
from uuid import UUID

from redis.asyncio import Redis

from graphql import GraphQLSyntaxError, OperationDefinitionNode, OperationType, parse

log = logging.getLogger(__name__)

_LOOKUP = """
local function version(key)
  local v = redis.call('GET', key)
  if not v then
    redis.call('SET', key, ARGV[2], 'NX')
    v = redis.call('GET', key)
  end
  return v
end
local g = version(KEYS[1])
local t = version(KEYS[2])
local entry = ARGV[1] .. g .. ':' .. t
return {entry, redis.call('GET', entry)}
"""


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
    def __init__(self, redis: Redis, namespace: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = f"bg:rc:{namespace}"
        self._ttl = ttl_seconds
        self._lookup = redis.register_script(_LOOKUP)

    def _version_key(self, tenant_id: UUID | None) -> str:
        return f"{self._prefix}:v:{tenant_id or 'all'}"

    async def bump(self, tenant_id: UUID | None) -> None:
        """After a commit: answers read before it are never served again (None: every
        tenant's)."""
        try:
            await self._redis.set(self._version_key(tenant_id), uuid.uuid4().hex)
        except Exception:  # the write is committed; old answers now live until their TTL
            log.error("response cache: could not bump the version of %s", tenant_id or "all",
                      exc_info=True)

    async def lookup(self, tenant_id: UUID, material: bytes) -> Lookup | None:
        """The cached answer for the request `material` identifies, or where to store one;
        None when Redis fails (the request runs uncached)."""
        digest = hashlib.sha256(material).hexdigest()
        try:
            key, data = await self._lookup(
                keys=[self._version_key(None), self._version_key(tenant_id)],
                args=[f"{self._prefix}:r:{tenant_id}:{digest}:", uuid.uuid4().hex])
        except Exception:
            log.warning("response cache: lookup failed; answering uncached", exc_info=True)
            return None
        return Lookup(key.decode() if isinstance(key, bytes) else key, data)

    async def store(self, lookup: Lookup, data: bytes) -> None:
        try:
            await self._redis.set(lookup.key, data, ex=self._ttl)
        except Exception:
            log.warning("response cache: could not store an answer", exc_info=True)
