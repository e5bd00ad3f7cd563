"""How a group's engagement moved: its score now against its daily snapshot some days ago
(EngagementScore.trend)."""

from __future__ import annotations

from datetime import timedelta

import strawberry

from service.api import engagement as engagement_api
from service.store import buying_groups as group_store

MAX_TREND_DAYS = 365


@strawberry.type(description=(
    "The engagement score now against the group's score `days` ago (its latest snapshot on "
    "or before that day): `change` is the difference, positive when the group heats up."))
class EngagementTrend:
    change: float
    days: int = strawberry.field(description="Days back: the score is compared with the one "
                                 "the group had then.")
    previous_value: float


async def trend(info: strawberry.Info, group: group_store.BuyingGroup, days: int
                ) -> EngagementTrend | None:
    """None when the group has no snapshot that old (it is newer, or history was not kept).
    A snapshot holds until the next one: the one found is the score of that day."""
    days = max(1, min(days, MAX_TREND_DAYS))
    today = (await engagement_api.window(info))[1]
    found = await info.context.loaders.engagement_before.load(
        (group.id, today - timedelta(days=days)))
    if found is None:
        return None
    _, previous = found
    return EngagementTrend(change=float(group.engagement - previous), days=days,
                           previous_value=float(previous))
