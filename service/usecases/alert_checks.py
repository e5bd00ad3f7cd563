"""The alert check: which of the tenant's alert rules a change's events make fire.

It runs in the unit of work, after the use case and before the events are recorded, so alerts
are decided where scores, stages and members change (not by polling), commit exactly when the
change does, and reach partners as ALERT_TRIGGERED events in the same log. A change whose
events cannot fire any rule costs nothing; one that can costs one read of the enabled rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from service.domain.alerts import AlertCondition, AlertRule, crossed, score_crossing
from service.events.changes import Event, EventKind, global_id, stage_global_id
from service.infra.db import Connection
from service.store import alerts as alert_store
from service.store import engagement as engagement_store
from service.store import tenants as tenant_store
from service.store.alerts import NewAlert

_SCORES = {EventKind.ENGAGEMENT_CHANGED: (AlertCondition.ENGAGEMENT_AT_LEAST,
                                          AlertCondition.ENGAGEMENT_RISE),
           EventKind.COMPLETENESS_CHANGED: (AlertCondition.COMPLETENESS_BELOW,)}
_WATCHED = frozenset({*_SCORES, EventKind.STAGE_CHANGED, EventKind.MEMBER_REMOVED,
                      EventKind.MEMBER_ASSIGNED})


async def alert_events(conn: Connection, tenant_id: UUID, events: Sequence[Event]
                       ) -> list[Event]:
    """Store the alerts the events make fire; an ALERT_TRIGGERED event for each."""
    watched = [e for e in events if e.kind in _WATCHED]
    if not watched:
        return []
    rules = [r.rule for r in await alert_store.rules(conn, enabled_only=True)]
    if not rules:
        return []
    interest_of = await _interests(conn, watched, rules)
    found = [*await _score_alerts(conn, tenant_id, watched, rules, interest_of),
             *_stage_alerts(watched, rules, interest_of),
             *await _role_alerts(conn, tenant_id, watched, rules, interest_of)]
    if not found:
        return []
    stored = await alert_store.insert_alerts(conn, tenant_id, found)
    names = {r.id: r.name for r in rules}
    alerted = {str(a.buying_group_id) for a in found}
    interests = {e.buying_group_id: _interest(e, interest_of) for e in watched
                 if e.buying_group_id in alerted}
    return [_event(tenant_id, a, names[a.alert_rule_id], interests.get(str(a.buying_group_id)))
            for a in stored]


async def _interests(conn: Connection, events: Sequence[Event], rules: Sequence[AlertRule]
                     ) -> dict[UUID, UUID]:
    """The solution interests of the groups whose events do not carry theirs, read only when
    some rule watches some interests only."""
    missing = {e.buying_group_id for e in events if not e.solution_interest_id}
    if not missing or not any(r.interest_ids for r in rules):
        return {}
    return await alert_store.interests_of_groups(conn, sorted(UUID(g) for g in missing))


def _interest(event: Event, interest_of: dict[UUID, UUID]) -> UUID | None:
    if event.solution_interest_id:
        return UUID(event.solution_interest_id)
    return interest_of.get(UUID(event.buying_group_id))


def _watching(rules: Iterable[AlertRule], conditions: Iterable[AlertCondition],
              interest: UUID | None) -> list[AlertRule]:
    wanted = set(conditions)
    return [r for r in rules if r.when.condition in wanted and r.watches(interest)]


async def _score_alerts(conn: Connection, tenant_id: UUID, events: Sequence[Event],
                        rules: Sequence[AlertRule], interest_of: dict[UUID, UUID]
                        ) -> list[NewAlert]:
    """The score conditions, over every score change: a nightly pass brings one per group, so
    the loop stays lean (rules sorted out once per kind and interest, each threshold test a
    chained comparison of the scores as the events carry them)."""
    found: list[NewAlert] = []
    rises: list[tuple[AlertRule, UUID, Decimal, Decimal]] = []
    watching: dict[tuple[EventKind, str | None], list[tuple[AlertRule, Any, float]]] = {}
    for event in events:
        conditions = _SCORES.get(event.kind)
        if conditions is None:
            continue
        key = (event.kind, event.solution_interest_id)
        candidates = watching.get(key)
        if candidates is None:
            candidates = watching[key] = [
                (rule, None if rule.when.condition is AlertCondition.ENGAGEMENT_RISE
                 else score_crossing(rule.when), float(rule.when.threshold or 0))
                for rule in _watching(rules, conditions, _interest(event, interest_of))]
        if not candidates:
            continue
        previous, current = event.previous_value, event.new_value
        for rule, test, threshold in candidates:
            if test is not None:
                if test(previous, current):
                    found.append(NewAlert(rule.id, UUID(event.buying_group_id),
                                          rule.when.condition.value,
                                          previous_value=_decimal(previous),
                                          value=_decimal(current)))
            # Scores are never negative, so neither is the baseline: a rise can start to
            # hold only where the score went up to at least the points.
            elif previous < current and current >= threshold:
                rises.append((rule, UUID(event.buying_group_id), _decimal(previous),
                              _decimal(current)))
    if rises:
        found.extend(await _rise_alerts(conn, tenant_id, rises))
    return found


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value))


async def _rise_alerts(conn: Connection, tenant_id: UUID,
                       rises: Sequence[tuple[AlertRule, UUID, Decimal, Decimal]]
                       ) -> list[NewAlert]:
    """A rise is measured from the group's engagement `days` ago (its daily snapshot on or
    before that day in the tenant's time zone; 0 before the group had one)."""
    tenant = await tenant_store.get_tenant(conn, tenant_id)
    today = engagement_store.tenant_today(tenant.time_zone if tenant else "UTC")
    keys = {(group, today - timedelta(days=rule.when.days or 0))
            for rule, group, _, _ in rises}
    before = await engagement_store.engagement_before(conn, sorted(keys))
    found = []
    for rule, group, previous, current in rises:
        key = (group, today - timedelta(days=rule.when.days or 0))
        baseline = before[key][1] if key in before else Decimal(0)
        if crossed(rule.when, previous, current, baseline):
            found.append(NewAlert(rule.id, group, rule.when.condition.value,
                                  previous_value=previous, value=current, baseline=baseline))
    return found


def _stage_alerts(events: Sequence[Event], rules: Sequence[AlertRule],
                  interest_of: dict[UUID, UUID]) -> list[NewAlert]:
    found = []
    for event in events:
        if event.kind is not EventKind.STAGE_CHANGED:
            continue
        if not event.new_value or event.new_value == event.previous_value:
            continue
        group = UUID(event.buying_group_id)
        for rule in _watching(rules, [AlertCondition.STAGE_ENTERED],
                              _interest(event, interest_of)):
            # The event names stages by global id, as the API does.
            if rule.when.stage_id and stage_global_id(rule.when.stage_id) == event.new_value:
                found.append(NewAlert(rule.id, group, rule.when.condition.value,
                                      stage_id=rule.when.stage_id))
    return found


async def _role_alerts(conn: Connection, tenant_id: UUID, events: Sequence[Event],
                       rules: Sequence[AlertRule], interest_of: dict[UUID, UUID]
                       ) -> list[NewAlert]:
    """A role is emptied when a change took a member out of it (removed, or moved to another
    role) and it has no active member afterwards."""
    if not any(r.when.condition is AlertCondition.ROLE_EMPTIED for r in rules):
        return []
    left: set[tuple[UUID, UUID]] = set()
    interest_of = dict(interest_of)
    for event in events:
        role = None
        if event.kind is EventKind.MEMBER_REMOVED and event.role_id:
            role = UUID(event.role_id)
        elif event.kind is EventKind.MEMBER_ASSIGNED and event.previous_value \
                and event.previous_value != event.role_id:
            role = UUID(str(event.previous_value))
        if role is not None:
            group = UUID(event.buying_group_id)
            left.add((group, role))
            if (interest := _interest(event, interest_of)) is not None:
                interest_of[group] = interest
    if not left:
        return []
    emptied = await alert_store.emptied_roles(conn, tenant_id, sorted(left))
    found = []
    for group, role in sorted(emptied):
        for rule in _watching(rules, [AlertCondition.ROLE_EMPTIED], interest_of.get(group)):
            if rule.when.role_id in (None, role):
                found.append(NewAlert(rule.id, group, rule.when.condition.value, role_id=role))
    return found


def _event(tenant_id: UUID, alert: alert_store.Alert, rule_name: str,
           interest: UUID | None) -> Event:
    def number(value: Decimal | None) -> float | None:
        return None if value is None else float(value)

    values = {"alertId": global_id("Alert", alert.id),
              "alertRuleId": global_id("AlertRule", alert.alert_rule_id),
              "alertRuleName": rule_name, "condition": alert.condition,
              "previousValue": number(alert.previous_value), "value": number(alert.value),
              "baseline": number(alert.baseline),
              "stageId": global_id("Stage", alert.stage_id) if alert.stage_id else None,
              "roleId": global_id("Role", alert.role_id) if alert.role_id else None}
    return Event.of(EventKind.ALERT_TRIGGERED, tenant_id, alert.buying_group_id,
                    solution_interest_id=interest, role_id=alert.role_id,
                    new_value={k: v for k, v in values.items() if v is not None},
                    occurred_at=alert.triggered_at.isoformat())
