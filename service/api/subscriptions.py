"""Subscriptions (graphql-transport-ws): buying-group change events and job progress, for the
subscriber's tenant only. Nested objects are read fresh for every event, never from a cache that
lives as long as the connection."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any
from uuid import UUID

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from graphql import GraphQLError
from service.api.buying_groups import BuyingGroup
from service.api.jobs import BuyingGroupJob, job_of
from service.api.key_watch import REVOKED_CLOSE_CODE
from service.api.key_watch import close as close_socket
from service.api.nodes import decode_id, parse_uuid
from service.api.people import Person
from service.api.roles import Role
from service.events import EVENTS, JOBS, EventKind, SlowSubscriber
from service.store import buying_groups as group_store
from service.store import jobs as job_store
from service.store.people import people_by_ids
from service.store.roles import roles_by_ids

# The GraphQL enum is the domain's own (named for the schema): one list of kinds.
strawberry.enum(EventKind, name="BuyingGroupEventKind")


@strawberry.type(description="A change to a buying group, after it committed.")
class BuyingGroupEvent:
    kind: EventKind
    buying_group_id: relay.GlobalID
    previous_value: JSON | None
    new_value: JSON | None
    occurred_at: datetime
    raw: strawberry.Private[dict[str, Any]]

    @strawberry.field(description="The group as it is now (null once deleted).")
    async def buying_group(self, info: strawberry.Info) -> BuyingGroup | None:
        group_id = UUID(self.raw["buying_group_id"])
        async with info.context.read() as conn:
            row = (await group_store.groups_by_ids(conn, [group_id])).get(group_id)
        return BuyingGroup.from_row(row) if row else None

    @strawberry.field
    async def person(self, info: strawberry.Info) -> Person | None:
        if not self.raw.get("person_id"):
            return None
        person_id = UUID(self.raw["person_id"])
        async with info.context.read() as conn:
            row = (await people_by_ids(conn, [person_id])).get(person_id)
        return Person.from_row(row) if row else None

    @strawberry.field
    async def role(self, info: strawberry.Info) -> Role | None:
        if not self.raw.get("role_id"):
            return None
        role_id = UUID(self.raw["role_id"])
        async with info.context.read() as conn:
            row = (await roles_by_ids(conn, [role_id])).get(role_id)
        return Role.from_row(row) if row else None


@strawberry.input
class BuyingGroupEventFilter:
    buying_group_ids: list[relay.GlobalID] | None = None
    solution_interest_ids: list[relay.GlobalID] | None = None
    kinds: list[EventKind] | None = None


def _ids(values: list[relay.GlobalID] | None, type_name: str) -> set[str] | None:
    if not values:
        return None
    return {str(i) for v in values if v.type_name == type_name
            and (i := parse_uuid(v.node_id)) is not None}


async def _solution_interest_of(info: strawberry.Info, event: dict[str, Any]) -> str | None:
    if event.get("solution_interest_id"):
        return str(event["solution_interest_id"])
    group_id = UUID(event["buying_group_id"])
    async with info.context.read() as conn:
        row = (await group_store.groups_by_ids(conn, [group_id])).get(group_id)
    return str(row.solution_interest_id) if row else None


SLOW_CONSUMER_CLOSE_CODE = 4410


async def drop_slow(info: strawberry.Info) -> None:
    """Close the connection of a subscriber that fell behind, with a code it can act on."""
    await close_socket(info.context.request, SLOW_CONSUMER_CLOSE_CODE,
                       "slow consumer: events arrived faster than they were read")


async def _key_live(info: strawberry.Info, occurred_at: datetime | None) -> bool:
    """Whether the subscriber's key may still receive what occurred then; a revoked key's
    socket is closed with 4403."""
    watch = info.context.extra.get("key_watch")
    if watch is None or await watch.live(occurred_at):
        return True
    await close_socket(info.context.request, REVOKED_CLOSE_CODE, "API key revoked")
    return False


def _broker(info: strawberry.Info) -> Any:
    broker = info.context.services.broker
    if broker is None:
        raise GraphQLError("subscriptions are not available in this process")
    return broker


@strawberry.type
class Subscription:
    @strawberry.subscription(description="Changes to the tenant's buying groups as they commit, "
                             "from any API process or worker.")
    async def buying_group_events(
        self, info: strawberry.Info, filter: BuyingGroupEventFilter | None = None
    ) -> AsyncGenerator[BuyingGroupEvent, None]:
        f = filter or BuyingGroupEventFilter()
        groups = _ids(f.buying_group_ids, "BuyingGroup")
        interests = _ids(f.solution_interest_ids, "SolutionInterest")
        kinds = {k.value for k in f.kinds} if f.kinds else None
        tenant_id = info.context.tenant_principal.tenant_id
        async with _broker(info).subscribe(EVENTS, tenant_id) as subscription:
            while True:
                try:
                    event = await subscription.next()
                except SlowSubscriber:
                    await drop_slow(info)
                    raise
                if event["tenant_id"] != str(tenant_id):
                    continue
                if kinds is not None and event["kind"] not in kinds:
                    continue
                if groups is not None and event["buying_group_id"] not in groups:
                    continue
                if interests is not None and await _solution_interest_of(info, event) \
                        not in interests:
                    continue
                occurred_at = datetime.fromisoformat(event["occurred_at"])
                if not await _key_live(info, occurred_at):
                    return
                yield BuyingGroupEvent(
                    kind=EventKind(event["kind"]),
                    buying_group_id=relay.GlobalID("BuyingGroup", event["buying_group_id"]),
                    previous_value=event.get("previous_value"),
                    new_value=event.get("new_value"),
                    occurred_at=occurred_at, raw=event)

    @strawberry.subscription(description="The job each time it changes, until it ends.")
    async def job_progress(
        self, info: strawberry.Info, job_id: relay.GlobalID
    ) -> AsyncGenerator[BuyingGroupJob, None]:
        wanted = decode_id(job_id, "BuyingGroupJob", ["jobId"])
        tenant_id = info.context.tenant_principal.tenant_id

        async def current() -> job_store.Job | None:
            async with info.context.read() as conn:
                return await job_store.get_job(conn, wanted)

        async with _broker(info).subscribe(JOBS, tenant_id) as subscription:
            job = await current()
            if job is None:
                raise GraphQLError("no such job", extensions={"code": "NOT_FOUND"})
            yield job_of(info, job)
            while job.status not in job_store.FINISHED:
                try:
                    message = await subscription.next()
                except SlowSubscriber:
                    await drop_slow(info)
                    raise
                if message.get("jobId") != str(wanted):
                    continue
                fresh = await current()
                if fresh is None:
                    return
                if fresh.updated_at != job.updated_at or fresh.status != job.status:
                    job = fresh
                    if not await _key_live(info, job.updated_at):
                        return
                    yield job_of(info, job)
