"""Change events. A change records its events in the tenant's event log in its own transaction
(`record`, service/store/event_log.py); the relay (service/delivery/relay.py) publishes what
committed over Redis pub/sub, and every API process delivers them to its own subscribers.

Each subscriber has a bounded queue; one that falls behind is dropped (its subscription ends
with a clear error) instead of slowing the others."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import enum
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from redis.asyncio import Redis

from service.infra.db import Connection
from service.store import event_log
from service.store.buying_groups import ScoreChange

log = logging.getLogger(__name__)

EVENTS = "bg:events"
JOBS = "bg:jobs"


class EventKind(enum.StrEnum):
    """What happened to a buying group; the API's BuyingGroupEventKind is this enum."""

    CREATED = "CREATED"
    DELETED = "DELETED"
    MEMBER_ASSIGNED = "MEMBER_ASSIGNED"
    MEMBER_REMOVED = "MEMBER_REMOVED"
    STAGE_CHANGED = "STAGE_CHANGED"
    STATUS_CHANGED = "STATUS_CHANGED"
    COMPLETENESS_CHANGED = "COMPLETENESS_CHANGED"
    ENGAGEMENT_CHANGED = "ENGAGEMENT_CHANGED"
    ALERT_TRIGGERED = "ALERT_TRIGGERED"
    PERSON_ERASED = "PERSON_ERASED"  # concerns a person: no group


@dataclass(frozen=True)
class Event:
    kind: EventKind
    tenant_id: str
    buying_group_id: str | None
    solution_interest_id: str | None = None
    person_id: str | None = None
    role_id: str | None = None
    previous_value: Any = None
    new_value: Any = None
    occurred_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @classmethod
    def of(cls, kind: EventKind, tenant_id: UUID, buying_group_id: UUID | None,
           **values: Any) -> Event:
        plain = {k: str(v) if isinstance(v, UUID) else v for k, v in values.items()}
        return cls(kind, str(tenant_id), str(buying_group_id) if buying_group_id else None,
                   **plain)


def global_id(type_name: str, value: UUID | str) -> str:
    """An object's global id as the API writes it (base64 of "<Type>:<uuid>")."""
    return base64.b64encode(f"{type_name}:{value}".encode()).decode()


def stage_global_id(stage_id: UUID | None) -> str | None:
    """A stage's global id: the values of STAGE_CHANGED events."""
    return global_id("Stage", stage_id) if stage_id else None


_CURSOR_PREFIX = "event:"


def event_cursor(position: int) -> str:
    """The opaque cursor of the event at this position of its tenant's log."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{position}".encode()).decode()


def cursor_position(cursor: str) -> int | None:
    """The position an event cursor carries, or None when it is not one."""
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii")
    except (ValueError, UnicodeError):
        return None
    digits = text.removeprefix(_CURSOR_PREFIX)
    if not text.startswith(_CURSOR_PREFIX) or not digits.isdigit() or len(digits) > 18:
        return None
    return int(digits)


# Kinds whose values are a role's id. The log stores it raw (the alert checks read it so); the
# API, webhooks and exports show it as the global id node(id:) resolves.
ROLE_VALUED = frozenset({EventKind.MEMBER_ASSIGNED.value, EventKind.MEMBER_REMOVED.value})


def shown_value(kind: str, value: Any) -> Any:
    """An event's previous or new value as clients see it: every id a global id."""
    if kind in ROLE_VALUED and isinstance(value, str) and len(value) == 36:
        try:
            return global_id("Role", UUID(value))
        except ValueError:
            return value
    return value


def webhook_body(event: Mapping[str, Any]) -> bytes:
    """An event (the relay's payload) as a webhook POSTs it: the Standard Webhooks envelope
    around the fields of the API's BuyingGroupEvent, ids as the API writes them."""
    def gid(type_name: str, key: str) -> str | None:
        value = event.get(key)
        return global_id(type_name, value) if value else None

    data = {"cursor": event_cursor(int(event["position"])), "kind": event["kind"],
            "buyingGroupId": gid("BuyingGroup", "buying_group_id"),
            "solutionInterestId": gid("SolutionInterest", "solution_interest_id"),
            "personId": gid("Person", "person_id"), "roleId": gid("Role", "role_id"),
            "previousValue": shown_value(event["kind"], event.get("previous_value")),
            "newValue": shown_value(event["kind"], event.get("new_value")),
            "occurredAt": event["occurred_at"], "actor": event.get("actor")}
    return orjson.dumps({"type": f"buying_group.{str(event['kind']).lower()}",
                         "timestamp": event["occurred_at"], "data": data})


def ping_body(endpoint_id: UUID, at: str) -> bytes:
    """The test event pingWebhookEndpoint sends: the envelope of every event, type
    `webhook.ping`, no change in it."""
    return orjson.dumps({"type": "webhook.ping", "timestamp": at, "data": {
        "endpointId": global_id("WebhookEndpoint", endpoint_id),
        "message": "A test event from pingWebhookEndpoint: nothing changed."}})


def stage_changes(tenant_id: UUID, moves: Iterable[tuple[UUID, UUID | None, UUID]],
                  interest_of: Mapping[UUID, UUID | None] | None = None) -> list[Event]:
    """STAGE_CHANGED for each (group, from stage, to stage) an entry rule made; `interest_of`
    gives the groups' solution interests where the caller knows them."""
    interests = interest_of or {}
    return [Event.of(EventKind.STAGE_CHANGED, tenant_id, group,
                     solution_interest_id=interests.get(group),
                     previous_value=stage_global_id(old), new_value=stage_global_id(new))
            for group, old, new in moves]


def score_changes(kind: EventKind, tenant_id: UUID, changes: Iterable[ScoreChange]
                  ) -> list[Event]:
    """COMPLETENESS_CHANGED or ENGAGEMENT_CHANGED for each score that moved."""
    return [Event.of(kind, tenant_id, c.buying_group_id,
                     solution_interest_id=c.solution_interest_id,
                     previous_value=float(c.previous), new_value=float(c.current))
            for c in changes if c.previous != c.current]


_COLUMNS = tuple(f.name for f in fields(Event) if f.name != "tenant_id")


async def record(conn: Connection, tenant_id: UUID, events: Sequence[Event]) -> int | None:
    """Append the change's events to the tenant's log, in the change's own transaction: the
    events commit exactly when the change does. Call it last, just before the commit (it holds
    the tenant's log position until then, see service/store/event_log.py). The position of the
    last event (None: no events)."""
    if not events:
        return None
    # The columns by name: dataclasses.asdict copies every value deeply, 10 µs an event, a
    # fifth of a nightly rescoring's writing of 100,000 score changes.
    rows = [{name: getattr(e, name) for name in _COLUMNS} for e in events]
    if any(e.tenant_id != str(tenant_id) for e in events):
        raise ValueError("an event of another tenant")
    return await event_log.append(conn, tenant_id, rows)


async def publish(redis: Redis, tenant_id: UUID, payloads: Sequence[bytes]) -> None:
    """Send committed events (the relay's JSON) to every API process; raises when Redis does
    not take them, so the relay tries again instead of marking them published."""
    async with redis.pipeline(transaction=False) as pipe:
        for payload in payloads:
            pipe.publish(f"{EVENTS}:{tenant_id}", payload)
        await pipe.execute()


async def publish_job(redis: Redis | None, tenant_id: UUID, job_id: UUID) -> None:
    if redis is None:
        return
    try:
        await redis.publish(f"{JOBS}:{tenant_id}", orjson.dumps({"jobId": str(job_id)}))
    except Exception:
        log.warning("could not publish job progress", exc_info=True)


# What a subscription receives when the broker was away: read the database for what it lost.
RESYNC: dict[str, Any] = {"resync": True}


class SlowSubscriber(Exception):
    """The subscriber's queue overflowed: it reads slower than events arrive."""


@dataclass(eq=False)  # compared and hashed by identity: subscribers live in sets
class Subscription:
    channel: str
    queue: asyncio.Queue[dict[str, Any]]
    overflowed: bool = False

    async def next(self) -> dict[str, Any]:
        if self.overflowed:
            raise SlowSubscriber
        item = await self.queue.get()
        if self.overflowed and self.queue.empty():
            raise SlowSubscriber
        return item


class Broker:
    """One pub/sub connection per API process, fanning messages out to local subscribers."""

    def __init__(self, redis: Redis, queue_size: int) -> None:
        self._redis = redis
        self._queue_size = queue_size
        self._subscribers: dict[str, set[Subscription]] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen())
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _listen(self) -> None:
        while True:
            try:
                pubsub = self._redis.pubsub()
                await pubsub.psubscribe(f"{EVENTS}:*", f"{JOBS}:*")
                if self._ready.is_set():
                    self._resync()
                self._ready.set()
                async for message in pubsub.listen():
                    if message.get("type") == "pmessage":
                        self._dispatch(message["channel"], message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("event subscription lost; reconnecting", exc_info=True)
                await asyncio.sleep(1)

    def _resync(self) -> None:
        """Back after a lost connection: what was published meanwhile never came, so every
        subscription is told to read what it missed from the database (the event log, the
        job's row). Without it a subscriber would learn of the gap only at the next event."""
        for subscriptions in self._subscribers.values():
            for subscription in list(subscriptions):
                try:
                    subscription.queue.put_nowait(RESYNC)
                except asyncio.QueueFull:
                    subscription.overflowed = True

    def _dispatch(self, channel: bytes | str, data: bytes | str) -> None:
        name = channel.decode() if isinstance(channel, bytes) else channel
        payload = orjson.loads(data)
        for subscription in list(self._subscribers.get(name, ())):
            try:
                subscription.queue.put_nowait(payload)
            except asyncio.QueueFull:
                subscription.overflowed = True
                self._subscribers[name].discard(subscription)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str, tenant_id: UUID) -> AsyncIterator[Subscription]:
        name = f"{channel}:{tenant_id}"
        subscription = Subscription(name, asyncio.Queue(maxsize=self._queue_size))
        self._subscribers.setdefault(name, set()).add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers.get(name, set()).discard(subscription)

    @property
    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subscribers.values())
