"""Browsing buying groups through GraphQL: the filter and order inputs and the buyingGroups
connection."""

from __future__ import annotations

import dataclasses
import enum
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import strawberry
from strawberry import relay

from service.api import engagement as engagement_api
from service.api.buying_groups import BuyingGroup, look_ahead
from service.api.conditions import ConditionMatch
from service.api.execution.lookahead import (
    node_paths,
)
from service.api.execution.values import moment
from service.api.nodes import decode_id
from service.api.pagination import (
    Connection,
    check_first,
    cursor_number,
    decode_cursor,
    to_connection,
)
from service.store import group_browse as browse_store
from service.store.paging import Page


@strawberry.input(description="A range of scores; bounds left out are open.")
class ScoreRange:
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None

    def to_store(self) -> browse_store.Range:
        def d(v: float | None) -> Decimal | None:
            return Decimal(str(v)) if v is not None else None
        return browse_store.Range(d(self.gt), d(self.gte), d(self.lt), d(self.lte))


@strawberry.input
class BuyingGroupFilter:
    search: str | None = strawberry.field(default=None, description="Part of the name.")
    solution_interest_ids: list[relay.GlobalID] | None = None
    account_ids: list[relay.GlobalID] | None = None
    stage_ids: list[relay.GlobalID] | None = None
    missing_role_ids: list[relay.GlobalID] | None = strawberry.field(
        default=None,
        description="Groups missing these roles: the template has the role and it has fewer "
        "active members than required. With several ids, missingRoleMatch says whether all "
        "of them (the default) or any of them must be missing.",
    )
    missing_role_match: ConditionMatch = strawberry.field(
        default=ConditionMatch.ALL, description="ALL: every role of missingRoleIds is "
        "missing; ANY: at least one is.")
    completeness_score: ScoreRange | None = None
    engagement_score: ScoreRange | None = None
    engagement_trend: ScoreRange | None = strawberry.field(default=None, description=(
        "The engagement's change over 7 days (`engagement { trend(days: 7) { change } }`; a "
        "group without a snapshot that old counts as 0)."))
    status: list[str] | None = strawberry.field(
        default=None, description="Any of these statuses (case-insensitive)."
    )


@strawberry.enum
class BuyingGroupOrderField(enum.Enum):
    NAME = "NAME"
    COMPLETENESS_SCORE = "COMPLETENESS_SCORE"
    ENGAGEMENT_SCORE = "ENGAGEMENT_SCORE"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    ENGAGEMENT_TREND = strawberry.enum_value("ENGAGEMENT_TREND", description=(
        "The engagement's change over 7 days: DESC puts the groups heating up first."))


@strawberry.enum
class OrderDirection(enum.Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.input
class BuyingGroupOrder:
    field: BuyingGroupOrderField = BuyingGroupOrderField.NAME
    direction: OrderDirection = OrderDirection.ASC


# Browsing sorts and filters by the 7-day trend (the trend field's default window).
BROWSE_TREND_DAYS = 7


def _ids(values: list[relay.GlobalID] | None, type_name: str, field: str) -> list[UUID]:
    return [decode_id(v, type_name, ["filter", field, str(i)]) for i, v in enumerate(values or [])]


def to_group_filter(f: BuyingGroupFilter | None) -> browse_store.GroupFilter:
    if f is None:
        return browse_store.GroupFilter()
    return browse_store.GroupFilter(
        search=f.search,
        solution_interest_ids=_ids(f.solution_interest_ids, "SolutionInterest",
                                   "solutionInterestIds"),
        account_ids=_ids(f.account_ids, "Account", "accountIds"),
        stage_ids=_ids(f.stage_ids, "Stage", "stageIds"),
        missing_role_ids=_ids(f.missing_role_ids, "Role", "missingRoleIds"),
        missing_role_match=f.missing_role_match.value,
        completeness=f.completeness_score.to_store() if f.completeness_score else None,
        engagement=f.engagement_score.to_store() if f.engagement_score else None,
        statuses=f.status or (),
        trend=f.engagement_trend.to_store() if f.engagement_trend else None,
    )


def _cursor_parser(order: str) -> Any:
    def parse(raw: list[Any]) -> tuple[Any, UUID]:
        value, id_ = raw
        if order == "NAME":
            if not isinstance(value, str):
                raise ValueError("name")
            return value, UUID(id_)
        if order in ("CREATED_AT", "UPDATED_AT"):
            return moment(value), UUID(id_)
        return cursor_number(value), UUID(id_)

    return parse


async def buying_groups(
    info: strawberry.Info, filter: BuyingGroupFilter | None = None,
    order_by: BuyingGroupOrder | None = None, first: int = 20, after: str | None = None,
) -> Connection[BuyingGroup]:
    context = info.context
    limit = check_first(first, context.settings.max_page_size)
    order = (order_by or BuyingGroupOrder()).field.value
    descending = order_by is not None and order_by.direction is OrderDirection.DESC
    cursor = decode_cursor(after, _cursor_parser(order))
    tenant_id = context.tenant_principal.tenant_id
    group_filter = to_group_filter(filter)
    if group_filter.trend is not None or order == "ENGAGEMENT_TREND":
        today = (await engagement_api.window(info))[1]
        group_filter = dataclasses.replace(
            group_filter, trend_since=today - timedelta(days=BROWSE_TREND_DAYS))
    async with context.read() as conn:
        groups, keys, has_next, total = await browse_store.list_groups(
            conn, tenant_id, group_filter, order=order, descending=descending,
            limit=limit, after=cursor)
    for group in groups:  # the page is already loaded: spare its nested fields a lookup
        context.loaders.buying_group.prime(group.id, group)
    await look_ahead(context.loaders, groups, node_paths(info))
    key_of = {g.id: k for g, k in zip(groups, keys, strict=True)}
    return to_connection(
        Page(groups, has_next, total), BuyingGroup.from_row,
        lambda g: (str(v) if isinstance(v := key_of[g.id], Decimal) else v, g.id),
        has_previous=cursor is not None,
    )
