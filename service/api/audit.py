"""The audit log through GraphQL: who changed what, newest first (ADMIN scope)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from service.api.errors import ClientError, ErrorCode
from service.api.execution.values import moment
from service.api.nodes import parse_uuid, uuid_of
from service.api.pagination import Connection, check_first, decode_cursor, to_connection
from service.events.changes import global_id
from service.infra.auth import Scope
from service.store import audit as audit_store

# The global-id type of each kind of actor that has an object of its own.
_ACTOR_TYPES = {"api_key": "ApiKey", "job": "BuyingGroupJob"}


def actor_id(label: str | None) -> str | None:
    """The global id of an actor label's key or job (`api_key.<id>` → an ApiKey's id)."""
    if not label or "." not in label:
        return None
    kind, _, raw = label.partition(".")
    type_name = _ACTOR_TYPES.get(kind)
    return global_id(type_name, raw) if type_name and parse_uuid(raw) else None


def actor_label(given: str) -> str:
    """A filter's actor: a label as entries show it, or the global id of a key or job."""
    for kind, type_name in _ACTOR_TYPES.items():
        if (found := uuid_of(given, type_name)) is not None:
            return f"{kind}.{found}"
    return given


@strawberry.type(description=(
    "One change: who made it, what it was, what it concerned. A job's transactions add to "
    "its one entry (`units`). Entries hold ids only, never a person's values."))
class AuditEntry:
    at: datetime = strawberry.field(description="When the change (a job's first) committed.")
    last_at: datetime = strawberry.field(description="A job's last change; else `at`.")
    actor: str = strawberry.field(description=(
        "Who: `api_key.<id>`, `job.<id>`, `cli`, `system` (the worker's own schedule)."))
    actor_name: str | None = strawberry.field(description=(
        "The key's name when it made the change, the job's kind, or the actor itself."))
    kind: str = strawberry.field(description=(
        "What: the mutation (`assignBuyingGroupMember`), the command (`import`, `keys "
        "create`), or the job's kind (`CREATE`, `SYNC_ACTIVITIES`)."))
    subjects: list[strawberry.ID] = strawberry.field(description=(
        "The global ids the change named (its arguments'), at most 20."))
    events: int = strawberry.field(description="How many events it recorded.")
    units: int = strawberry.field(description="How many transactions it took.")
    row: strawberry.Private[audit_store.AuditEntry]

    @strawberry.field(description="The global id of the key or job that made it, if any.")
    def actor_id(self) -> strawberry.ID | None:
        found = actor_id(self.actor)
        return strawberry.ID(found) if found else None

    @classmethod
    def from_row(cls, row: audit_store.AuditEntry) -> AuditEntry:
        return cls(at=row.at, last_at=row.last_at, actor=row.actor, actor_name=row.actor_name,
                   kind=row.kind, subjects=[strawberry.ID(s) for s in row.subjects],
                   events=row.events, units=row.units, row=row)


@strawberry.input(description="Which entries; every given condition must hold.")
class AuditLogFilter:
    actor: str | None = strawberry.field(default=None, description=(
        "An actor as entries name it (`api_key.<id>`, `cli`), or the global id of an API key "
        "or a job."))
    kind: str | None = strawberry.field(default=None, description=(
        "A kind as entries name it, exactly (`createRole`)."))
    since: datetime | None = strawberry.field(default=None,
                                              description="At or after this time.")


def _key(raw: list[Any]) -> tuple[datetime, int]:
    at, id_ = raw
    if not isinstance(id_, int) or isinstance(id_, bool):
        raise ValueError("not an entry's cursor")
    return moment(at), id_


async def audit_log(info: strawberry.Info, filter: AuditLogFilter | None = None,
                    first: int = 20, after: str | None = None) -> Connection[AuditEntry]:
    context = info.context
    if not context.allows(Scope.ADMIN):
        raise ClientError("The audit log needs the ADMIN scope.", ErrorCode.FORBIDDEN)
    limit = check_first(first, context.settings.max_page_size)
    cursor = decode_cursor(after, _key)
    given = filter or AuditLogFilter()
    wanted = audit_store.AuditFilter(
        actor=actor_label(given.actor) if given.actor else None, kind=given.kind or None,
        since=given.since)
    async with context.read() as conn:
        page = await audit_store.entries(conn, context.tenant_principal.tenant_id, wanted,
                                         limit=limit, after=cursor)
    return to_connection(page, AuditEntry.from_row, lambda e: (e.at, e.id),
                         has_previous=cursor is not None)
