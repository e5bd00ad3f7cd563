"""The caller: its tenant and scopes; the tenant's settings."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay

from service.api.api_keys import ApiKey, ApiKeyScope
from service.api.errors import UserError, from_problems
from service.api.jobs import BuyingGroupJob, job_of
from service.api.nodes import parse_uuid
from service.api.permissions import RequireAdmin
from service.store import tenants as tenant_store
from service.usecases import tenants


@strawberry.type(description="A customer workspace; all data belongs to exactly one tenant.")
class Tenant(relay.Node):
    id: relay.NodeID[str]
    name: str
    time_zone: str = strawberry.field(description="IANA name; the tenant's days begin here "
                                      "(updateTenantSettings changes it).")
    created_at: datetime

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Any]:
        principal = info.context.tenant_principal
        own = str(principal.tenant_id)
        result: list[Any] = []
        for node_id in node_ids:
            if parse_uuid(node_id) is None or node_id != own:
                result.append(None)
                continue
            async with info.context.read() as conn:
                tenant = await tenant_store.get_tenant(conn, principal.tenant_id)
            result.append(cls.from_row(tenant) if tenant else None)
        return result

    @classmethod
    def from_row(cls, tenant: tenant_store.Tenant) -> Tenant:
        return cls(
            id=str(tenant.id),
            name=tenant.name,
            time_zone=tenant.time_zone,
            created_at=tenant.created_at,
        )


@strawberry.type(description="Who is calling: the tenant and the API key in use.")
class Viewer:
    scopes: list[ApiKeyScope]
    api_key_id: strawberry.Private[Any]

    @strawberry.field
    async def tenant(self, info: strawberry.Info) -> Tenant:
        principal = info.context.tenant_principal
        async with info.context.read() as conn:
            tenant = await tenant_store.get_tenant(conn, principal.tenant_id)
        assert tenant is not None
        return Tenant.from_row(tenant)

    @strawberry.field(description="The API key this request authenticated with.")
    async def api_key(self, info: strawberry.Info) -> ApiKey | None:
        key = await info.context.loaders.api_key.load(self.api_key_id)
        return ApiKey.from_row(key) if key else None


def resolve_viewer(info: strawberry.Info) -> Viewer:
    principal = info.context.tenant_principal
    scopes = sorted(principal.scopes, key=lambda s: ["READ", "WRITE", "ADMIN"].index(s))
    return Viewer(scopes=[ApiKeyScope(s.value) for s in scopes], api_key_id=principal.api_key_id)


@strawberry.input
class UpdateTenantSettingsInput:
    time_zone: str | None = strawberry.field(
        default=None, description="An IANA name (Europe/Stockholm): where the tenant's days "
        "begin, for the activity rollup, the scoring window and daily snapshots.")


@strawberry.type
class UpdateTenantSettingsPayload:
    tenant: Tenant | None
    job: BuyingGroupJob | None = strawberry.field(description=(
        "When the time zone changed: the job that counts the stored activity into the new "
        "days and rescores every group."))
    user_errors: list[UserError]


@strawberry.type
class TenantMutations:
    @strawberry.mutation(permission_classes=[RequireAdmin],
                         description="Change this tenant's settings (ADMIN scope).")
    async def update_tenant_settings(
        self, info: strawberry.Info, input: UpdateTenantSettingsInput
    ) -> UpdateTenantSettingsPayload:
        async with info.context.work(info) as work:
            change = await tenants.update_settings(work, time_zone=input.time_zone)
        if change.value is None:
            return UpdateTenantSettingsPayload(
                tenant=None, job=None, user_errors=from_problems(change.problems, "input"))
        recount = change.value.recount
        return UpdateTenantSettingsPayload(
            tenant=Tenant.from_row(change.value.tenant),
            job=job_of(info, recount) if recount else None, user_errors=[])
