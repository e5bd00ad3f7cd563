"""A tenant's API keys: made with their scopes (the secret is shown once, only its hash is
stored) and revoked."""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from uuid import UUID

from service.domain.problems import Problem
from service.infra.auth import Scope
from service.store import api_keys as key_store
from service.usecases.change import Change, applied, refused
from service.usecases.unit_of_work import UnitOfWork

MAX_KEY_NAME = 200


@dataclass(frozen=True)
class NewKey:
    key: key_store.ApiKey
    secret: str  # shown once


async def create_key(work: UnitOfWork, name: str, scopes: Set[Scope], *,
                     is_integration: bool = False) -> Change[NewKey]:
    name = name.strip()
    problems = []
    if not name:
        problems.append(Problem(("name",), "REQUIRED", "name is required"))
    elif len(name) > MAX_KEY_NAME:
        problems.append(Problem(("name",), "TOO_LONG",
                                f"name is longer than {MAX_KEY_NAME} characters"))
    if not scopes:
        problems.append(Problem(("scopes",), "REQUIRED", "give at least one scope"))
    if problems:
        return applied(work, Change(problems=problems))
    key, secret = await key_store.create_api_key(work.conn, work.tenant_id, name, set(scopes),
                                                 is_integration=is_integration)
    return Change(NewKey(key, secret))


async def revoke_key(work: UnitOfWork, key_id: UUID) -> Change[key_store.ApiKey]:
    key = await key_store.revoke_api_key(work.conn, key_id)
    if key is None:
        return applied(work, refused("id", "NOT_FOUND", "no such API key"))
    return Change(key)
