"""Alerts through GraphQL: rules that say when a group needs attention, and the alerts they
fired. Firing itself happens where groups change (service/usecases/alert_checks.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import strawberry
from strawberry import UNSET, relay

from service.api.buying_groups import BuyingGroup
from service.api.errors import ClientError, ErrorCode, UserError, from_problems
from service.api.nodes import convert_all, decode_id, load_nodes
from service.api.pagination import (
    Connection,
    check_first,
    created_at_id_key,
    decode_cursor,
    to_connection,
)
from service.api.permissions import RequireWrite
from service.api.roles import Role, role_if_any
from service.api.solution_interests import SolutionInterest
from service.api.stages import Stage, stage_by_id
from service.domain.alerts import AlertCondition, When
from service.store import alerts as alert_store
from service.usecases import alerts as alert_cases
from service.usecases.change import Change

strawberry.enum(AlertCondition, name="AlertCondition", description=(
    "ENGAGEMENT_AT_LEAST: engagement reached the threshold; ENGAGEMENT_RISE: engagement rose "
    "by the threshold's points within `days`; COMPLETENESS_BELOW: completeness fell below the "
    "threshold; ROLE_EMPTIED: a role lost its last member; STAGE_ENTERED: the group entered "
    "the stage."))


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


@strawberry.type(description="When a rule fires.")
class AlertWhen:
    condition: AlertCondition
    threshold: float | None = strawberry.field(description=(
        "The score threshold; for ENGAGEMENT_RISE the points of the rise."))
    days: int | None = strawberry.field(description="ENGAGEMENT_RISE: within how many days.")
    row: strawberry.Private[When]

    @strawberry.field(description="ROLE_EMPTIED: the role (null: any role).")
    async def role(self, info: strawberry.Info) -> Role | None:
        return await role_if_any(info, self.row.role_id)

    @strawberry.field(description="STAGE_ENTERED: the stage.")
    async def stage(self, info: strawberry.Info) -> Stage | None:
        return await stage_by_id(info, self.row.stage_id)

    @classmethod
    def of(cls, when: When) -> AlertWhen:
        return cls(condition=when.condition, threshold=_number(when.threshold), days=when.days,
                   row=when)


@strawberry.type(description=(
    "Fires an alert for a watched group each time its condition starts to hold: once per "
    "crossing, not again while it keeps holding, and again after it stopped holding."))
class AlertRule(relay.Node):
    id: relay.NodeID[str]
    name: str
    enabled: bool = strawberry.field(description="A paused rule (false) fires nothing.")
    when: AlertWhen
    created_by: str | None = strawberry.field(description="The actor that created it.")
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[alert_store.StoredRule]

    @strawberry.field(description="The solution interests whose groups it watches; empty: "
                      "every one.")
    async def solution_interests(self, info: strawberry.Info) -> list[SolutionInterest]:
        found = await info.context.loaders.solution_interest.load_many(
            self.row.solution_interest_ids)
        return [SolutionInterest.from_row(i) for i in found if i is not None]

    @classmethod
    def from_row(cls, row: alert_store.StoredRule) -> AlertRule:
        return cls(id=str(row.id), name=row.name, enabled=row.enabled, when=AlertWhen.of(row.when),
                   created_by=row.created_by, created_at=row.created_at,
                   updated_at=row.updated_at, row=row)

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str],
                            required: bool = False) -> list[Any]:
        return convert_all(await load_nodes(info.context.loaders.alert_rule, node_ids),
                           cls.from_row)


@strawberry.type(description="A group crossed a rule's condition.")
class Alert(relay.Node):
    id: relay.NodeID[str]
    condition: AlertCondition
    previous_value: float | None = strawberry.field(description=(
        "The score before the change (score conditions)."))
    value: float | None = strawberry.field(description="The score after the change.")
    baseline: float | None = strawberry.field(description=(
        "ENGAGEMENT_RISE: the engagement the rise is measured from (the group's score `days` "
        "ago)."))
    triggered_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None = strawberry.field(description="The actor that acknowledged it.")
    row: strawberry.Private[alert_store.Alert]

    @strawberry.field
    async def rule(self, info: strawberry.Info) -> AlertRule | None:
        found = await info.context.loaders.alert_rule.load(self.row.alert_rule_id)
        return AlertRule.from_row(found) if found else None

    @strawberry.field
    async def buying_group(self, info: strawberry.Info) -> BuyingGroup | None:
        found = await info.context.loaders.buying_group.load(self.row.buying_group_id)
        return BuyingGroup.from_row(found) if found else None

    @strawberry.field(description="ROLE_EMPTIED: the role emptied.")
    async def role(self, info: strawberry.Info) -> Role | None:
        return await role_if_any(info, self.row.role_id)

    @strawberry.field(description="STAGE_ENTERED: the stage entered.")
    async def stage(self, info: strawberry.Info) -> Stage | None:
        return await stage_by_id(info, self.row.stage_id)

    @classmethod
    def from_row(cls, row: alert_store.Alert) -> Alert:
        return cls(id=str(row.id), condition=AlertCondition(row.condition),
                   previous_value=_number(row.previous_value), value=_number(row.value),
                   baseline=_number(row.baseline), triggered_at=row.triggered_at,
                   acknowledged_at=row.acknowledged_at, acknowledged_by=row.acknowledged_by,
                   row=row)

    @classmethod
    async def resolve_nodes(cls, *, info: strawberry.Info, node_ids: Iterable[str],
                            required: bool = False) -> list[Any]:
        return convert_all(await load_nodes(info.context.loaders.alert, node_ids), cls.from_row)


@strawberry.input
class EngagementRiseInput:
    points: float = strawberry.field(description="How many points engagement must rise.")
    days: int = strawberry.field(description="Within how many days (1 to 366).")


@strawberry.input
class RoleEmptiedInput:
    role_id: relay.GlobalID | None = strawberry.field(
        default=None, description="The role; null: any role.")


@strawberry.input(one_of=True, description="Exactly one condition.")
class AlertWhenInput:
    engagement_at_least: float | None = strawberry.field(default=UNSET, description=(
        "Engagement reaches this score."))
    engagement_rise: EngagementRiseInput | None = strawberry.field(default=UNSET)
    completeness_below: float | None = strawberry.field(default=UNSET, description=(
        "Completeness falls below this score (a new group, incomplete from the start, does "
        "not fire)."))
    role_emptied: RoleEmptiedInput | None = strawberry.field(default=UNSET)
    stage_entered: relay.GlobalID | None = strawberry.field(default=UNSET, description=(
        "The id of a Stage the group enters."))


@strawberry.input
class CreateAlertRuleInput:
    name: str
    solution_interest_ids: list[relay.GlobalID] = strawberry.field(
        default_factory=list, description="The interests whose groups it watches; empty: all.")
    when: AlertWhenInput


@strawberry.input
class UpdateAlertRuleInput:
    id: relay.GlobalID
    name: str | None = None
    enabled: bool | None = strawberry.field(default=None, description="false pauses it.")


@strawberry.input
class AlertRuleIdInput:
    id: relay.GlobalID


@strawberry.input
class AcknowledgeAlertInput:
    id: relay.GlobalID


@strawberry.type
class AlertRulePayload:
    alert_rule: AlertRule | None
    user_errors: list[UserError]


@strawberry.type
class DeleteAlertRulePayload:
    deleted_alert_rule_id: relay.GlobalID | None
    user_errors: list[UserError]


@strawberry.type
class AlertPayload:
    alert: Alert | None
    user_errors: list[UserError]


@strawberry.input
class AlertFilter:
    alert_rule_id: relay.GlobalID | None = None
    buying_group_id: relay.GlobalID | None = None
    acknowledged: bool | None = strawberry.field(default=None, description=(
        "false: only those not acknowledged yet."))
    since: datetime | None = strawberry.field(default=None,
                                              description="Triggered at or after this time.")


async def alert_rules(info: strawberry.Info) -> list[AlertRule]:
    async with info.context.read() as conn:
        return [AlertRule.from_row(r) for r in await alert_store.rules(conn)]


async def alerts(info: strawberry.Info, filter: AlertFilter | None = None, first: int = 20,
                 after: str | None = None) -> Connection[Alert]:
    context = info.context
    limit = check_first(first, context.settings.max_page_size)
    cursor = decode_cursor(after, created_at_id_key)
    given = filter or AlertFilter()
    rule_id = (decode_id(given.alert_rule_id, "AlertRule", ["filter", "alertRuleId"])
               if given.alert_rule_id else None)
    group_id = (decode_id(given.buying_group_id, "BuyingGroup", ["filter", "buyingGroupId"])
                if given.buying_group_id else None)
    async with context.read() as conn:
        page = await alert_store.list_alerts(
            conn, context.tenant_principal.tenant_id, rule_id=rule_id, group_id=group_id,
            acknowledged=given.acknowledged, since=given.since, limit=limit, after=cursor)
    return to_connection(page, Alert.from_row, lambda a: (a.triggered_at, a.id),
                         has_previous=cursor is not None)


def _decimal(value: float, path: list[str]) -> Decimal:
    try:
        number = Decimal(repr(value))
    except InvalidOperation:  # pragma: no cover - GraphQL's Float is finite
        number = Decimal("NaN")
    if not number.is_finite():
        raise ClientError(f"`{'.'.join(path)}` must be a finite number", ErrorCode.INVALID_VALUE,
                          field=path)
    return number


def _when(given: AlertWhenInput) -> When:
    path = ["input", "when"]
    if given.engagement_at_least is not None and given.engagement_at_least is not UNSET:
        return When(AlertCondition.ENGAGEMENT_AT_LEAST,
                    _decimal(given.engagement_at_least, [*path, "engagementAtLeast"]))
    if given.completeness_below is not None and given.completeness_below is not UNSET:
        return When(AlertCondition.COMPLETENESS_BELOW,
                    _decimal(given.completeness_below, [*path, "completenessBelow"]))
    if given.engagement_rise:
        rise = given.engagement_rise
        return When(AlertCondition.ENGAGEMENT_RISE,
                    _decimal(rise.points, [*path, "engagementRise", "points"]), days=rise.days)
    if given.role_emptied:
        role = given.role_emptied.role_id
        return When(AlertCondition.ROLE_EMPTIED, role_id=decode_id(
            role, "Role", [*path, "roleEmptied", "roleId"]) if role else None)
    if given.stage_entered:
        return When(AlertCondition.STAGE_ENTERED, stage_id=decode_id(
            given.stage_entered, "Stage", [*path, "stageEntered"]))
    raise ClientError("`input.when` needs one condition", ErrorCode.REQUIRED, field=path)


def _rule(change: Change[alert_store.StoredRule]) -> AlertRulePayload:
    if change.value is None:
        return AlertRulePayload(alert_rule=None,
                                user_errors=from_problems(change.problems, "input"))
    return AlertRulePayload(alert_rule=AlertRule.from_row(change.value), user_errors=[])


@strawberry.type
class AlertMutations:
    @strawberry.mutation(permission_classes=[RequireWrite], description=(
        "Be told when groups need attention: an ALERT_TRIGGERED event (subscriptions, the "
        "event log, webhooks) and an entry in `alerts` each time a watched group crosses the "
        "condition."))
    async def create_alert_rule(self, info: strawberry.Info, input: CreateAlertRuleInput
                                ) -> AlertRulePayload:
        interests = [decode_id(g, "SolutionInterest", ["input", "solutionInterestIds", str(i)])
                     for i, g in enumerate(input.solution_interest_ids)]
        when = _when(input.when)
        async with info.context.work(info) as work:
            return _rule(await alert_cases.create_rule(work, input.name, interests, when))

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Rename a rule, or pause and resume it.")
    async def update_alert_rule(self, info: strawberry.Info, input: UpdateAlertRuleInput
                                ) -> AlertRulePayload:
        rule_id = decode_id(input.id, "AlertRule", ["input", "id"])
        async with info.context.work(info) as work:
            return _rule(await alert_cases.update_rule(work, rule_id, name=input.name,
                                                       enabled=input.enabled))

    @strawberry.mutation(permission_classes=[RequireWrite],
                         description="Delete a rule and the alerts it fired.")
    async def delete_alert_rule(self, info: strawberry.Info, input: AlertRuleIdInput
                                ) -> DeleteAlertRulePayload:
        rule_id = decode_id(input.id, "AlertRule", ["input", "id"])
        async with info.context.work(info) as work:
            change = await alert_cases.delete_rule(work, rule_id)
        if change.value is None:
            return DeleteAlertRulePayload(deleted_alert_rule_id=None,
                                          user_errors=from_problems(change.problems, "input"))
        return DeleteAlertRulePayload(deleted_alert_rule_id=input.id, user_errors=[])

    @strawberry.mutation(permission_classes=[RequireWrite], description=(
        "Mark an alert seen (by the caller's key); again: no change."))
    async def acknowledge_alert(self, info: strawberry.Info, input: AcknowledgeAlertInput
                                ) -> AlertPayload:
        alert_id = decode_id(input.id, "Alert", ["input", "id"])
        async with info.context.work(info) as work:
            change = await alert_cases.acknowledge(work, alert_id)
        if change.value is None:
            return AlertPayload(alert=None, user_errors=from_problems(change.problems, "input"))
        return AlertPayload(alert=Alert.from_row(change.value), user_errors=[])
