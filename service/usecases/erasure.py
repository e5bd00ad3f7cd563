"""Erasure on request: a person, or an account with its people, removed with everything kept
about them; the groups they were in are rescored in the same transaction, and a tombstone keeps
a later sync or import from bringing them back (service/store/erasure.py)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from service.events.changes import Event, EventKind, global_id
from service.store import erasure as erasure_store
from service.usecases.change import Change, applied, refused
from service.usecases.groups import settle
from service.usecases.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Erasure:
    person_ids: list[UUID]
    groups_rescored: int
    groups_deleted: int
    activities_deleted: int


def _erased_events(work: UnitOfWork, erased: erasure_store.ErasedPeople) -> list[Event]:
    """One PERSON_ERASED per person, with their id only (for partners to erase their
    copies): nothing a person could be recognised by."""
    return [Event.of(EventKind.PERSON_ERASED, work.tenant_id, None, person_id=person_id)
            for person_id in erased.person_ids]


async def erase_person(work: UnitOfWork, person_id: UUID) -> Change[Erasure]:
    erased = await erasure_store.erase_people(work.conn, work.tenant_id, [person_id])
    if not erased.person_ids:
        return applied(work, refused("id", "NOT_FOUND", "no such person"))
    work.subjects.append(global_id("Person", person_id))
    events = await settle(work.conn, work.tenant_id, erased.groups)
    return applied(work, Change(
        Erasure(erased.person_ids, len(erased.groups), 0, erased.activities),
        events=[*_erased_events(work, erased), *events]))


async def erase_account(work: UnitOfWork, account_id: UUID) -> Change[Erasure]:
    """The account, its people (each erased as erasePerson does), its buying groups (DELETED
    events, without their names), and a tombstone for the account itself. Groups of other
    accounts its people belonged to (a parent's, through memberScope) are rescored."""
    found = await erasure_store.lock_account(work.conn, work.tenant_id, account_id)
    if found is None:
        return applied(work, refused("id", "NOT_FOUND", "no such account"))
    external_id, people = found
    erased = await erasure_store.erase_people(work.conn, work.tenant_id, people)
    deleted = await erasure_store.erase_account(work.conn, work.tenant_id, account_id,
                                                external_id)
    gone = {g.id for g in deleted}
    others = [g for g in erased.groups if g not in gone]
    events = await settle(work.conn, work.tenant_id, others)
    work.subjects.append(global_id("Account", account_id))
    return applied(work, Change(
        Erasure(erased.person_ids, len(others), len(deleted), erased.activities),
        events=[*_erased_events(work, erased),
                *(Event.of(EventKind.DELETED, work.tenant_id, g.id,
                           solution_interest_id=g.solution_interest_id) for g in deleted),
                *events]))
