"""A tenant's own activity source through GraphQL (ADMIN): configured only once the source
takes its credentials, and tested on request."""

from __future__ import annotations

import strawberry

from service.api.engagement import ActivitySync, activity_sync
from service.api.errors import ErrorCode, UserError, from_problems, user_error
from service.api.permissions import RequireAdmin
from service.infra.config import Settings
from service.infra.secrets import SecretsUnavailable
from service.sources.activity_api import check_credentials
from service.store import activity_sync as sync_store
from service.usecases import activity_sources as sources

# An identity call while configuring or testing: the source has this long to answer.
CHECK_TIMEOUT_SECONDS = 10.0


@strawberry.input
class ConfigureActivitySourceInput:
    base_url: str = strawberry.field(description=(
        "http(s), no user info or fragment; its host must resolve to public addresses unless "
        "the operator lists it in OUTBOUND_ALLOWED_HOSTS (else ADDRESS_NOT_ALLOWED)."))
    client_id: str
    client_secret: str | None = strawberry.field(
        default=None, description="Write-only. Required unless one is stored; left out keeps "
        "the stored secret only while baseUrl and clientId stay the same (else "
        "SECRET_REQUIRED): a secret is only ever sent where it was given.")
    activity_type_ids: list[int] | None = None
    check: bool = strawberry.field(default=True, description=(
        "false: save without asking the source first (one that cannot be reached yet); the "
        "next sync then tells. testActivitySource asks it later."))


@strawberry.type
class ActivitySourcePayload:
    activity_sync: ActivitySync | None
    user_errors: list[UserError]


@strawberry.type(description="Whether the activity source takes the stored credentials now.")
class ActivitySourceTestPayload:
    ok: bool
    base_url: str | None = strawberry.field(description="The source asked.")
    user_errors: list[UserError] = strawberry.field(description=(
        "CREDENTIALS_REFUSED: the source refused the client id and secret; "
        "SOURCE_UNREACHABLE: no usable answer (down, too slow, not the protocol, not "
        "allowed)."))


def _verify(settings: Settings, own: bool) -> sources.Verify:
    async def verify(base_url: str, client_id: str, secret: str) -> tuple[str, str] | None:
        return await check_credentials(
            base_url, client_id, secret, allowed=settings.allowed_hosts if own else None,
            within=min(CHECK_TIMEOUT_SECONDS, settings.activity_api_timeout_seconds))
    return verify


@strawberry.type
class ActivitySourceMutations:
    @strawberry.mutation(permission_classes=[RequireAdmin], description=(
        "Point this tenant at its own activity-log API. The source is asked first whether it "
        "takes the client id and secret (one identity call): a refusal is "
        "CREDENTIALS_REFUSED, no usable answer SOURCE_UNREACHABLE, and nothing is saved."))
    async def configure_activity_source(
        self, info: strawberry.Info, input: ConfigureActivitySourceInput
    ) -> ActivitySourcePayload:
        settings = info.context.settings
        async with info.context.work(info) as work:
            change = await sources.configure_source(
                work, base_url=input.base_url, client_id=input.client_id,
                client_secret=input.client_secret, activity_type_ids=input.activity_type_ids,
                allowed=settings.allowed_hosts, box=settings.secrets,
                verify=_verify(settings, own=True) if input.check else None)
        if not change.done:
            return ActivitySourcePayload(activity_sync=None,
                                         user_errors=from_problems(change.problems, "input"))
        return ActivitySourcePayload(activity_sync=await activity_sync(info), user_errors=[])

    @strawberry.mutation(permission_classes=[RequireAdmin], description=(
        "Ask the tenant's activity source (its own, or the service's) whether it takes the "
        "stored credentials now, with one identity call; nothing changes."))
    async def test_activity_source(self, info: strawberry.Info) -> ActivitySourceTestPayload:
        settings = info.context.settings
        tenant_id = info.context.tenant_principal.tenant_id
        async with info.context.read() as conn:
            own = await sync_store.source_settings(conn, tenant_id)
        if own.base_url is None:  # the service's source, with the operator's credentials
            url, client_id = settings.activity_api_url, settings.activity_api_client_id
            secret = settings.activity_api_client_secret
        else:
            url, client_id = own.base_url, own.client_id or ""
            try:
                secret = settings.secrets.open(own.client_secret or "")
            except SecretsUnavailable as exc:
                return ActivitySourceTestPayload(ok=False, base_url=url, user_errors=[
                    user_error(["clientSecret"], ErrorCode.SERVICE_UNAVAILABLE, str(exc))])
        refusal = await _verify(settings, own=own.base_url is not None)(url, client_id, secret)
        if refusal is None:
            return ActivitySourceTestPayload(ok=True, base_url=url, user_errors=[])
        code, why = refusal
        return ActivitySourceTestPayload(ok=False, base_url=url, user_errors=[
            user_error([sources.refusal_field(code)], ErrorCode(code), why)])
