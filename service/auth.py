"""API keys: how they are made, hashed and read from a request, and what each scope allows."""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
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

    @property
    def member_source(self) -> str:
        return "API" if self.is_integration else "MANUAL"

    def allows(self, scope: Scope) -> bool:
        return scope in effective_scopes(self.scopes)


def new_api_key() -> str:
    # 32 random bytes: far beyond guessing, so a fast hash is enough to store it.
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


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
