"""Subscriptions (graphql-transport-ws): buying-group change events and job progress, for the
subscriber's tenant only. Nested objects are read fresh for every event, never from a cache that
lives as long as the connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any
from uuid import UUID

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from graphql import GraphQLError
from service.api.buying_groups import BuyingGroup
from service.api.errors import ClientError, ErrorCode
from service.api.execution.lookahead import selects
from service.api.execution.multiplex import share
from service.api.jobs import BuyingGroupJob, job_of
from service.api.key_watch import REVOKED_CLOSE_CODE
from service.api.key_watch import close as close_socket
from service.api.nodes import decode_id, parse_uuid, uuid_of
from service.api.pagination import Connection, check_first, make_connection
from service.api.people import Person
from service.api.roles import Role, role_if_any
from service.api.stages import Stage, stage_by_id
from service.events.changes import (
    EVENTS,
    JOBS,
    RESYNC,
    EventKind,
    SlowSubscriber,
    cursor_position,
    event_cursor,
    shown_value,
)
from service.store import buying_groups as group_store
from service.store import event_log
from service.store import jobs as job_store
from service.store.paging import NOT_COUNTED
from service.store.people import people_by_ids
from service.store.roles import roles_by_ids

# The GraphQL enum is the domain's own (named for the schema): one list of kinds.
strawberry.enum(EventKind, name="BuyingGroupEventKind")


@strawberry.type(description="A change to a buying group, after it committed.")
class BuyingGroupEvent:
    kind: EventKind
    buying_group_id: relay.GlobalID | None = strawberry.field(description=(
        "The group it happened to; null for PERSON_ERASED, which concerns a person."))
    previous_value: JSON | None
    new_value: JSON | None
    occurred_at: datetime
    cursor: str = strawberry.field(description=(
        "Where this event stands in the tenant's event log (opaque): give it as `after` to "
        "buyingGroupEvents or buyingGroupEventLog to go on from here after a disconnect."))
    actor: str | None = strawberry.field(description=(
        "Who made the change: `api_key.<id>`, `job.<id>`, `cli`, `system`; null for changes "
        "made before actors were recorded."))
    raw: strawberry.Private[dict[str, Any]]

    @property
    def multiplex_key(self) -> tuple[str, int]:
        """What the event is, for executions shared by its subscribers (api/multiplex.py)."""
        return self.raw["tenant_id"], int(self.raw["position"])

    @classmethod
    def of(cls, event: dict[str, Any]) -> BuyingGroupEvent:
        """From the relay's payload (service/store/event_log.py: payload); one instance per
        event for all its subscribers in this process."""
        if event.get("position") is None:
            return cls._of(event)
        key = (event["tenant_id"], event["position"])
        made = _EVENTS.get(key)
        if made is None:
            made = _EVENTS[key] = cls._of(event)
            if len(_EVENTS) > 4096:
                del _EVENTS[next(iter(_EVENTS))]
        return made

    @classmethod
    def _of(cls, event: dict[str, Any]) -> BuyingGroupEvent:
        return cls(kind=EventKind(event["kind"]),
                   buying_group_id=relay.GlobalID("BuyingGroup", event["buying_group_id"])
                   if event.get("buying_group_id") else None,
                   previous_value=shown_value(event["kind"], event.get("previous_value")),
                   new_value=shown_value(event["kind"], event.get("new_value")),
                   occurred_at=datetime.fromisoformat(event["occurred_at"]),
                   cursor=event_cursor(int(event["position"])), actor=event.get("actor"),
                   raw=event)

    async def _shared(self, info: strawberry.Info, what: str, read: Any) -> Any:
        """One read per event and process, whatever the number of subscribers that select it
        (a thousand subscribers of one group would otherwise read it a thousand times). The
        tenant is part of the key: row-level security binds the read to it."""
        key = (self.raw["tenant_id"], self.raw.get("position"), what)
        task = _SHARED.get(key)
        if task is None:
            async def load() -> Any:
                async with info.context.read() as conn:
                    return await read(conn)

            task = share(_SHARED, key, load(), SHARED_READ_SECONDS)
        return await asyncio.shield(task)

    @strawberry.field(description="The group as it is now (null once deleted).")
    async def buying_group(self, info: strawberry.Info) -> BuyingGroup | None:
        if not self.raw.get("buying_group_id"):
            return None
        group_id = UUID(self.raw["buying_group_id"])

        async def read(conn: Any) -> Any:
            return (await group_store.groups_by_ids(conn, [group_id])).get(group_id)

        row = await self._shared(info, "group", read)
        return BuyingGroup.from_row(row) if row else None

    @strawberry.field
    async def person(self, info: strawberry.Info) -> Person | None:
        if not self.raw.get("person_id"):
            return None
        person_id = UUID(self.raw["person_id"])

        async def read(conn: Any) -> Any:
            return (await people_by_ids(conn, [person_id])).get(person_id)

        row = await self._shared(info, "person", read)
        return Person.from_row(row) if row else None

    @strawberry.field(description=(
        "MEMBER_ASSIGNED: the role the person held before (null: none); MEMBER_REMOVED: the "
        "role they left."))
    async def previous_role(self, info: strawberry.Info) -> Role | None:
        raw = self.raw.get("previous_value")
        role_id = parse_uuid(raw) if self.kind in (EventKind.MEMBER_ASSIGNED,
                                                   EventKind.MEMBER_REMOVED) and \
            isinstance(raw, str) else None
        return await role_if_any(info, role_id)

    @strawberry.field(description="CREATED and STAGE_CHANGED: the stage the group entered.")
    async def stage(self, info: strawberry.Info) -> Stage | None:
        if self.kind not in (EventKind.CREATED, EventKind.STAGE_CHANGED):
            return None
        return await stage_by_id(info, uuid_of(self.new_value, "Stage"))

    @strawberry.field(description="STAGE_CHANGED: the stage the group left.")
    async def previous_stage(self, info: strawberry.Info) -> Stage | None:
        if self.kind is not EventKind.STAGE_CHANGED:
            return None
        return await stage_by_id(info, uuid_of(self.previous_value, "Stage"))

    @strawberry.field
    async def role(self, info: strawberry.Info) -> Role | None:
        if not self.raw.get("role_id"):
            return None
        role_id = UUID(self.raw["role_id"])

        async def read(conn: Any) -> Any:
            return (await roles_by_ids(conn, [role_id])).get(role_id)

        row = await self._shared(info, "role", read)
        return Role.from_row(row) if row else None


_EVENTS: dict[tuple[Any, ...], BuyingGroupEvent] = {}
# Reads shared by the subscribers of one event (see BuyingGroupEvent._shared); kept a few
# seconds, long enough for every subscriber of the event to have asked.
SHARED_READ_SECONDS = 5.0
_SHARED: dict[tuple[Any, ...], asyncio.Future[Any]] = {}


@strawberry.input
class BuyingGroupEventFilter:
    buying_group_ids: list[relay.GlobalID] | None = None
    solution_interest_ids: list[relay.GlobalID] | None = None
    kinds: list[EventKind] | None = None


def _ids(values: list[relay.GlobalID] | None, type_name: str) -> list[UUID] | None:
    if not values:
        return None
    return [i for v in values if v.type_name == type_name
            and (i := parse_uuid(v.node_id)) is not None]


def event_filter(f: BuyingGroupEventFilter | None) -> event_log.EventFilter:
    f = f or BuyingGroupEventFilter()
    return event_log.EventFilter(
        kinds=[k.value for k in f.kinds] if f.kinds else None,
        buying_group_ids=_ids(f.buying_group_ids, "BuyingGroup"),
        solution_interest_ids=_ids(f.solution_interest_ids, "SolutionInterest"))


def _matches(event: dict[str, Any], where: event_log.EventFilter) -> bool | None:
    """Whether a published event matches; None when only the database can tell (a filter on
    solution interests, and an event that does not name its group's)."""
    if where.kinds is not None and event["kind"] not in where.kinds:
        return False
    if where.buying_group_ids is not None and (
            not event.get("buying_group_id")
            or UUID(event["buying_group_id"]) not in where.buying_group_ids):
        return False
    if where.solution_interest_ids is not None:
        if not event.get("solution_interest_id"):
            return None
        return UUID(event["solution_interest_id"]) in where.solution_interest_ids
    return True


def resume_position(after: str, extent: event_log.Extent) -> int:
    """The position a client's cursor carries, checked against what the log still holds."""
    position = cursor_position(after)
    if position is None or position > extent.last:
        raise ClientError("`after` is not a cursor of this event log; use the `cursor` of an "
                          "event you received.", ErrorCode.INVALID_CURSOR)
    if extent.expired(position):
        raise ClientError(
            "Events after this cursor were dropped (the event log keeps "
            "EVENT_RETENTION_DAYS); read the current state again, then subscribe without "
            "`after`.", ErrorCode.CURSOR_EXPIRED)
    return position


REPLAY_BATCH = 500


async def buying_group_event_log(
    info: strawberry.Info, filter: BuyingGroupEventFilter | None = None, first: int = 100,
    after: str | None = None,
) -> Connection[BuyingGroupEvent]:
    """The event log for partners that poll: oldest first, from the oldest event kept or after
    a cursor; `pageInfo.endCursor` is where the next poll goes on (an empty page keeps the
    cursor given). Counted only when a totalCount is selected: a count walks every event
    kept, and a poll is a page after a cursor."""
    limit = check_first(first, info.context.settings.max_page_size)
    where = event_filter(filter)
    tenant_id = info.context.tenant_principal.tenant_id
    async with info.context.read() as conn:
        extent = await event_log.extent(conn, tenant_id)
        position = 0 if after is None else resume_position(after, extent)
        rows = await event_log.events_after(conn, tenant_id, position, limit + 1, where)
        total = (await event_log.count_events(conn, tenant_id, where)
                 if selects(info, "buyingGroupEventLog", "totalCount") else NOT_COUNTED)
    events = [BuyingGroupEvent.of(event_log.payload(r)) for r in rows[:limit]]
    return make_connection(events, [e.cursor for e in events], has_next=len(rows) > limit,
                           has_previous=position > 0, total_count=total, cursor_of=str,
                           end_cursor=after)


async def _solution_interest_of(info: strawberry.Info, event: dict[str, Any]) -> str | None:
    if not event.get("buying_group_id"):
        return None
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
    @strawberry.subscription(description=(
        "Changes to the tenant's buying groups as they commit, from any API process or "
        "worker. With `after` (an event's cursor), first every matching event committed since "
        "then, oldest first, then live ones: no gap and no repeat at the seam. A cursor older "
        "than the event log keeps is refused with CURSOR_EXPIRED."))
    async def buying_group_events(
        self, info: strawberry.Info, filter: BuyingGroupEventFilter | None = None,
        after: str | None = None,
    ) -> AsyncGenerator[BuyingGroupEvent, None]:
        where = event_filter(filter)
        tenant_id = info.context.tenant_principal.tenant_id

        async def stored(seen: int, upto: int) -> list[dict[str, Any]]:
            async with info.context.read() as conn:
                rows = await event_log.events_after(conn, tenant_id, seen, REPLAY_BATCH, where,
                                                    upto)
            return [event_log.payload(r) for r in rows]

        async def interest_matches(event: dict[str, Any]) -> bool:
            return await _solution_interest_of(info, event) in {
                str(i) for i in where.solution_interest_ids or ()}

        # Subscribed before the log is read: an event committed meanwhile is in both, and the
        # position tells the repeat.
        async with _broker(info).subscribe(EVENTS, tenant_id) as subscription:
            async with info.context.read() as conn:
                extent = await event_log.extent(conn, tenant_id)
            seen = extent.last if after is None else resume_position(after, extent)
            upto = extent.last
            while True:
                # From the log: the replay, or events the live stream lost (a gap).
                while seen < upto:
                    batch = await stored(seen, upto)
                    for event in batch:
                        if not await _key_live(info, datetime.fromisoformat(event["occurred_at"])):
                            return
                        yield BuyingGroupEvent.of(event)
                    seen = batch[-1]["position"] if len(batch) == REPLAY_BATCH else upto
                try:
                    event = await subscription.next()
                except SlowSubscriber:
                    await drop_slow(info)
                    raise
                if event is RESYNC:  # the live stream was away: the log has what it missed
                    async with info.context.read() as conn:
                        upto = max(upto, (await event_log.extent(conn, tenant_id)).last)
                    continue
                if event["tenant_id"] != str(tenant_id) or event["position"] <= seen:
                    continue
                if event["position"] > seen + 1:  # published events went missing: the log has
                    upto = event["position"] - 1  # them (and this one after them)
                    while seen < upto:
                        batch = await stored(seen, upto)
                        for missed in batch:
                            yield BuyingGroupEvent.of(missed)
                        seen = batch[-1]["position"] if len(batch) == REPLAY_BATCH else upto
                seen = upto = event["position"]
                match = _matches(event, where)
                if match is None:
                    match = await interest_matches(event)
                if not match:
                    continue
                occurred_at = datetime.fromisoformat(event["occurred_at"])
                if not await _key_live(info, occurred_at):
                    return
                yield BuyingGroupEvent.of(event)

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
                if message is not RESYNC and message.get("jobId") != str(wanted):
                    continue  # (after a RESYNC the row is read again: it may have moved)
                fresh = await current()
                if fresh is None:
                    return
                if fresh.updated_at != job.updated_at or fresh.status != job.status:
                    job = fresh
                    if not await _key_live(info, job.updated_at):
                        return
                    yield job_of(info, job)
