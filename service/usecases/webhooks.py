"""A tenant's webhook endpoints: where its events are POSTed, signed with a secret shown once;
their kinds, state, and replays of events they missed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from service.domain.problems import Problem
from service.events.changes import cursor_position
from service.events.signing import new_signing_secret
from service.infra.outbound import AllowedHosts, destination_problem, url_problem
from service.infra.secrets import SecretBox
from service.store import event_log, webhook_log
from service.store import webhooks as webhook_store
from service.store.webhooks import Endpoint
from service.usecases.change import Change, applied, refused
from service.usecases.unit_of_work import UnitOfWork

MAX_ENDPOINTS = 20
MAX_URL_LENGTH = 2048
MAX_DESCRIPTION_LENGTH = 1000


@dataclass(frozen=True)
class NewEndpoint:
    endpoint: Endpoint
    signing_secret: str  # shown once


async def _url_problems(url: str, allowed: AllowedHosts) -> list[Problem]:
    if len(url) > MAX_URL_LENGTH:
        return [Problem(("url",), "TOO_LONG", f"url is longer than {MAX_URL_LENGTH} characters")]
    if (problem := url_problem(url)) is not None:
        return [Problem(("url",), "INVALID_VALUE", f"url {problem}")]
    if (problem := await destination_problem(url, allowed)):
        return [Problem(("url",), "ADDRESS_NOT_ALLOWED", f"url may not be called: {problem}")]
    return []


def _description_problems(description: str | None) -> list[Problem]:
    if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
        return [Problem(("description",), "TOO_LONG",
                        f"description is longer than {MAX_DESCRIPTION_LENGTH} characters")]
    return []


def _no_endpoint(field: str = "id") -> Change[Endpoint]:
    return refused(field, "NOT_FOUND", "no such webhook endpoint")


async def create_endpoint(work: UnitOfWork, *, url: str, kinds: Sequence[str],
                          description: str | None, allowed: AllowedHosts, box: SecretBox
                          ) -> Change[NewEndpoint]:
    """Deliver the tenant's events of these kinds (none: every kind) to `url`."""
    url = url.strip()
    problems = await _url_problems(url, allowed) + _description_problems(description)
    if not box.available:
        problems.append(Problem((), "SERVICE_UNAVAILABLE", "this service has no SECRET_KEY to "
                                "encrypt signing secrets with; ask its operator"))
    if problems:
        return applied(work, Change(problems=problems))
    # Serialised per tenant, so two creations cannot both pass the limit.
    await webhook_store.lock_endpoints(work.conn, work.tenant_id)
    if await webhook_store.count_endpoints(work.conn) >= MAX_ENDPOINTS:
        return applied(work, refused((), "LIMIT_REACHED",
                                     f"a tenant has at most {MAX_ENDPOINTS} webhook endpoints"))
    secret = new_signing_secret()
    row = await webhook_store.create_endpoint(
        work.conn, work.tenant_id, url=url, kinds=sorted(set(kinds)), description=description,
        sealed_secret=box.seal(secret))
    return Change(NewEndpoint(row, secret))


async def update_endpoint(work: UnitOfWork, endpoint_id: UUID, *, url: str | None,
                          kinds: Sequence[str] | None, description: str | None,
                          active: bool | None, allowed: AllowedHosts) -> Change[Endpoint]:
    """Change what is given (None: keep); `active=True` enables a disabled endpoint again."""
    url = url.strip() if url is not None else None
    problems = (await _url_problems(url, allowed) if url is not None else []) \
        + _description_problems(description)
    if problems:
        return applied(work, Change(problems=problems))
    current = await webhook_store.get_endpoint(work.conn, endpoint_id, lock=True)
    if current is None:
        return applied(work, _no_endpoint())
    return Change(await webhook_store.update_endpoint(
        work.conn, endpoint_id, url=url if url is not None else current.url,
        kinds=sorted(set(kinds)) if kinds is not None else current.kinds,
        description=description if description is not None else current.description,
        active=active if active is not None else current.status == "ACTIVE"))


async def delete_endpoint(work: UnitOfWork, endpoint_id: UUID) -> Change[UUID]:
    """Stop delivering to the endpoint; deliveries not yet made are dropped."""
    if not await webhook_store.delete_endpoint(work.conn, endpoint_id):
        return applied(work, Change(problems=_no_endpoint().problems))
    return Change(endpoint_id)


def _disabled(field: str) -> Change[Any]:
    return refused(field, "INVALID_VALUE",
                   "the endpoint is disabled: enable it first (updateWebhookEndpoint)")


async def replay_events(work: UnitOfWork, endpoint_id: UUID, after: str | None
                        ) -> Change[int]:
    """Deliver the endpoint's events after the cursor `after` (None: all the log holds)
    again; how many deliveries were queued. The endpoint must be ACTIVE."""
    endpoint = await webhook_store.get_endpoint(work.conn, endpoint_id)
    if endpoint is None:
        return applied(work, Change(problems=_no_endpoint("endpointId").problems))
    if endpoint.status != "ACTIVE":
        return applied(work, _disabled("endpointId"))
    extent = await event_log.extent(work.conn, work.tenant_id)
    position = 0
    if after is not None:
        given = cursor_position(after)
        if given is None or given > extent.last:
            return applied(work, refused("after", "INVALID_CURSOR",
                                         "not a cursor of this tenant's event log"))
        if extent.expired(given):
            return applied(work, refused("after", "CURSOR_EXPIRED",
                                         "events after this cursor were dropped by retention"))
        position = given
    return Change(await webhook_store.replay(work.conn, work.tenant_id, endpoint_id, position))


async def redeliver(work: UnitOfWork, delivery_id: str) -> Change[webhook_log.Delivery]:
    """Send one delivery again now, under its webhook-id, whatever became of it; its endpoint
    must be ACTIVE."""
    delivery = await webhook_log.delivery_by_id(work.conn, work.tenant_id, delivery_id)
    if delivery is None:
        return applied(work, refused("deliveryId", "NOT_FOUND", "no such delivery (it goes "
                                     "with its event, after EVENT_RETENTION_DAYS)"))
    endpoint = await webhook_store.get_endpoint(work.conn, delivery.endpoint_id)
    if endpoint is None or endpoint.status != "ACTIVE":
        return applied(work, _disabled("deliveryId"))
    return Change(await webhook_log.redeliver(work.conn, work.tenant_id, delivery))
