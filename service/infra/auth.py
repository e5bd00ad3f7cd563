"""API keys: how they are made, hashed and read from a request, and what each scope allows."""

from __future__ import annotations

import enum
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from uuid import UUID

KEY_PREFIX = "bgk_"


class Scope(enum.StrEnum):
    READ = "READ"
    WRITE = "WRITE"
    ADMIN = "ADMIN"


# A scope implies the ones below it: ADMIN can write, WRITE can read.
_IMPLIED = {
    Scope.READ: {Scope.READ},
    Scope.WRITE: {Scope.READ, Scope.WRITE},
    Scope.ADMIN: {Scope.READ, Scope.WRITE, Scope.ADMIN},
}


def effective_scopes(granted: frozenset[Scope] | set[Scope]) -> frozenset[Scope]:
    result: set[Scope] = set()
    for scope in granted:
        result |= _IMPLIED[scope]
    return frozenset(result)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant and key that authenticated the request."""

    tenant_id: UUID
    tenant_name: str
    api_key_id: UUID
    scopes: frozenset[Scope]
    # Membership changes by an integration's key are recorded as source API, a user's as MANUAL.
    is_integration: bool = False
    # This authentication wrote the key's last use (once a minute): cached answers that show
    # it are out of date.
    recorded_use: bool = field(default=False, compare=False)

    @property
    def member_source(self) -> str:
        return "API" if self.is_integration else "MANUAL"

    def allows(self, scope: Scope) -> bool:
        return scope in effective_scopes(self.scopes)

    def audience(self, document: str) -> tuple[str, ...]:
        """Who else gets the same answer to this document (with the same variables, in this
        tenant): every key with the same scopes, or only this key when it asks for `viewer`.
        Shared answers (the response cache, multiplexed subscriptions) are keyed by it."""
        if "viewer" in document:
            return (str(self.api_key_id),)
        return tuple(sorted(scope.value for scope in self.scopes))


def new_api_key() -> str:
    # 32 random bytes: far beyond guessing, so a fast hash is enough to store it.
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class PrincipalCache:
    """Recent authentications of this process, for `seconds` (AUTH_CACHE_SECONDS): a request
    is then answered without a database round trip for its key. A revocation through this
    process takes effect at once; through another, within `seconds`."""

    def __init__(self, seconds: float, size: int = 10_000) -> None:
        self.seconds = seconds
        self._size = size
        self._entries: dict[bytes, tuple[float, Principal]] = {}

    def get(self, key_hash: bytes) -> Principal | None:
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            self._entries.pop(key_hash, None)
            return None
        return entry[1]

    def put(self, key_hash: bytes, principal: Principal) -> None:
        if self.seconds <= 0:
            return
        if len(self._entries) >= self._size:
            self._entries.clear()  # a flood of distinct keys: start afresh, never grow
        self._entries[key_hash] = (time.monotonic() + self.seconds, principal)

    def forget(self, api_key_id: UUID) -> None:
        for key_hash, (_, principal) in list(self._entries.items()):
            if principal.api_key_id == api_key_id:
                self._entries.pop(key_hash, None)


def display_prefix(key: str) -> str:
    return key[: len(KEY_PREFIX) + 6]


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
