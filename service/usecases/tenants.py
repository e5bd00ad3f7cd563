"""Tenants: a new one with its first API keys, and a tenant's settings.

No role the service switches to may insert a tenant at large: the unit of work is bound to the
new tenant's id first, so row-level security admits exactly that one row (and its catalogue).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from service.domain.time_zones import time_zone_problem
from service.infra.auth import Scope
from service.infra.db import Database
from service.store import activity_sync as sync_store
from service.store import api_keys as key_store
from service.store import tenants as tenant_store
from service.store import webhooks as webhook_store
from service.store.jobs import Job, JobKind
from service.store.tenants import Tenant
from service.usecases.change import Change, applied, refused
from service.usecases.unit_of_work import CLI, Actor, UnitOfWork, unit_of_work


async def create_tenant(db: Database, name: str, time_zone: str = "UTC",
                        keys: Sequence[tuple[str, frozenset[Scope]]] = (), *,
                        actor: Actor = CLI) -> tuple[Tenant, list[str]]:
    """The tenant, with a key per (name, scopes) asked for; the keys' secrets, in that order
    (shown once: only their hashes are stored)."""
    tenant_id = uuid.uuid4()
    async with unit_of_work(db, tenant_id, actor, audit="tenant create") as work:
        tenant = await tenant_store.create_tenant(work.conn, name, time_zone, tenant_id)
        secrets = []
        for key_name, scopes in keys:
            _, secret = await key_store.create_api_key(work.conn, tenant_id, key_name,
                                                       set(scopes))
            secrets.append(secret)
    return tenant, secrets


@dataclass(frozen=True)
class TenantSettings:
    tenant: Tenant
    recount: Job | None  # the job that counts activity into the new time zone's days


async def update_settings(work: UnitOfWork, *, time_zone: str | None) -> Change[TenantSettings]:
    """A new time zone (an IANA name) recounts the stored activity into the new days and
    rescores every group (a job)."""
    if time_zone is not None and (problem := time_zone_problem(time_zone)) is not None:
        return applied(work, refused("timeZone", "INVALID_TIME_ZONE", problem))
    tenant = await tenant_store.get_tenant(work.conn, work.tenant_id)
    assert tenant is not None
    if time_zone is None or time_zone == tenant.time_zone:
        return Change(TenantSettings(tenant, None))
    changed = await tenant_store.set_time_zone(work.conn, work.tenant_id, time_zone)
    if changed is None:
        return applied(work, refused("timeZone", "INVALID_TIME_ZONE",
                                     f"the database does not know the time zone {time_zone!r}"))
    job, _ = await work.start_job(JobKind.REFRESH_SCORES, {"rebuild_rollup": True})
    return Change(TenantSettings(changed, job))


async def reseal_secrets(work: UnitOfWork, reseal: Callable[[str], str]) -> int:
    """Encrypt the tenant's stored secrets (its activity source's, its webhook endpoints')
    again, with the service's current key; how many."""
    return (await sync_store.reseal_secret(work.conn, work.tenant_id, reseal)
            + await webhook_store.reseal_secrets(work.conn, reseal))


async def delete_tenant(db: Database, tenant_id: uuid.UUID, *, actor: Actor = CLI) -> bool:
    """The tenant and every row it owns, in one transaction: a failure leaves it whole."""
    async with unit_of_work(db, tenant_id, actor) as work:
        return await tenant_store.delete_tenant(work.conn, tenant_id)
