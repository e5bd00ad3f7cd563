"""A new tenant and its first API keys, as the service's own login may create them.

No role the service switches to may insert a tenant at large: the transaction is bound to the
new tenant's id first, so row-level security admits exactly that one row (and its catalogue).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from service.infra.auth import Scope
from service.infra.db import Database
from service.store import api_keys as key_store
from service.store import tenants as tenant_store
from service.store.tenants import Tenant


async def create_tenant(db: Database, name: str, time_zone: str = "UTC",
                        keys: Sequence[tuple[str, frozenset[Scope]]] = ()
                        ) -> tuple[Tenant, list[str]]:
    """The tenant, with a key per (name, scopes) asked for; the keys' secrets, in that order
    (shown once: only their hashes are stored)."""
    tenant_id = uuid.uuid4()
    async with db.tenant(tenant_id) as conn:
        tenant = await tenant_store.create_tenant(conn, name, time_zone, tenant_id)
        secrets = []
        for key_name, scopes in keys:
            _, secret = await key_store.create_api_key(conn, tenant_id, key_name, set(scopes))
            secrets.append(secret)
    return tenant, secrets
