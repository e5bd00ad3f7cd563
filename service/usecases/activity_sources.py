"""A tenant's own activity-log source (a Marketo-protocol API): where it is, its credentials
(the secret sealed at rest, and only ever sent where it was given), which activity types to
read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from service.domain.problems import Problem
from service.infra.outbound import AllowedHosts, destination_problem, url_problem
from service.infra.secrets import SecretBox, SecretsUnavailable
from service.store import activity_sync as sync_store
from service.usecases.change import Change, applied, refused
from service.usecases.unit_of_work import UnitOfWork

MAX_URL_LENGTH = 2048
MAX_CREDENTIAL_LENGTH = 1024


async def _address_problems(base_url: str, allowed: AllowedHosts) -> list[Problem]:
    if len(base_url) > MAX_URL_LENGTH:
        return [Problem(("baseUrl",), "TOO_LONG",
                        f"baseUrl is longer than {MAX_URL_LENGTH} characters")]
    if (problem := url_problem(base_url)) is not None:
        return [Problem(("baseUrl",), "INVALID_VALUE", f"baseUrl {problem}")]
    if (problem := await destination_problem(base_url, allowed)) is not None:
        return [Problem(("baseUrl",), "ADDRESS_NOT_ALLOWED",
                        f"baseUrl may not be called: {problem}")]
    return []


def _credential_problems(client_id: str, secret: str | None) -> list[Problem]:
    problems = []
    if not client_id:
        problems.append(Problem(("clientId",), "REQUIRED", "clientId is required"))
    elif len(client_id) > MAX_CREDENTIAL_LENGTH or "\x00" in client_id:
        problems.append(Problem(("clientId",), "INVALID_VALUE",
                                "clientId is too long or holds a NUL character"))
    if secret is not None and (len(secret) > MAX_CREDENTIAL_LENGTH or "\x00" in secret):
        problems.append(Problem(("clientSecret",), "INVALID_VALUE",
                                "clientSecret is too long or holds a NUL character"))
    return problems


# Asks the source whether it takes these credentials: None, or (code, why).
Verify = Callable[[str, str, str], Awaitable[tuple[str, str] | None]]


def refusal_field(code: str) -> str:
    """The input field a source's refusal points at: the secret it refused, else the URL."""
    return "clientSecret" if code == "CREDENTIALS_REFUSED" else "baseUrl"


async def configure_source(work: UnitOfWork, *, base_url: str, client_id: str,
                           client_secret: str | None, activity_type_ids: Sequence[int] | None,
                           allowed: AllowedHosts, box: SecretBox, verify: Verify | None = None
                           ) -> Change[sync_store.SourceSettings]:
    """Point the tenant at its own source. Without a secret the stored one stays, but only
    while the base URL and client id stay the same (SECRET_REQUIRED otherwise). With `verify`,
    the source is asked first whether it takes the credentials: a refusal
    (CREDENTIALS_REFUSED) or no usable answer (SOURCE_UNREACHABLE) saves nothing."""
    base_url, client_id = base_url.strip().rstrip("/"), client_id.strip()
    secret = client_secret or None
    problems = await _address_problems(base_url, allowed) + _credential_problems(client_id,
                                                                                 secret)
    stored = await sync_store.source_settings(work.conn, work.tenant_id)
    if secret is None and not problems:
        if not stored.client_secret:
            problems.append(Problem(("clientSecret",), "REQUIRED", "clientSecret is required: "
                                    "a source of your own needs its own secret"))
        elif (stored.base_url, stored.client_id) != (base_url, client_id):
            problems.append(Problem(("clientSecret",), "SECRET_REQUIRED",
                                    "a new baseUrl or clientId needs its clientSecret again: "
                                    "a secret is only ever sent where it was given"))
    if secret is not None and not box.available and not problems:
        problems.append(Problem(("clientSecret",), "SERVICE_UNAVAILABLE",
                                "this service has no SECRET_KEY to encrypt secrets with; ask "
                                "its operator"))
    if not problems and verify is not None:
        try:
            given = secret if secret is not None else box.open(stored.client_secret or "")
        except SecretsUnavailable as exc:
            return applied(work, refused("clientSecret", "SERVICE_UNAVAILABLE", str(exc)))
        if (refusal := await verify(base_url, client_id, given)) is not None:
            code, why = refusal
            problems.append(Problem((refusal_field(code),), code, why))
    if problems:
        return applied(work, Change(problems=problems))
    settings = sync_store.SourceSettings(
        base_url, client_id, box.seal(secret) if secret is not None else None,
        list(activity_type_ids) if activity_type_ids is not None else None)
    await sync_store.configure_source(work.conn, work.tenant_id, settings)
    return Change(settings)
