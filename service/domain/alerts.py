"""Alert rules: when a change of a group's scores, stage or members fires one.

A rule's condition either holds for a group's values or not. A rule fires when a change makes
it hold where it did not hold just before (a crossing): it does not fire again while the
condition keeps holding, and re-arms once it stops holding. So the decision needs only the
values before and after the change, never a remembered state.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from service.domain.problems import Problem

MAX_RISE_DAYS = 366


class AlertCondition(enum.StrEnum):
    ENGAGEMENT_AT_LEAST = "ENGAGEMENT_AT_LEAST"
    ENGAGEMENT_RISE = "ENGAGEMENT_RISE"
    COMPLETENESS_BELOW = "COMPLETENESS_BELOW"
    ROLE_EMPTIED = "ROLE_EMPTIED"
    STAGE_ENTERED = "STAGE_ENTERED"


# The conditions over a score, and the score each watches.
ENGAGEMENT_CONDITIONS = frozenset({AlertCondition.ENGAGEMENT_AT_LEAST,
                                   AlertCondition.ENGAGEMENT_RISE})


@dataclass(frozen=True)
class When:
    """A rule's condition: `threshold` for the score conditions (points for a rise), `days` for
    a rise, `role_id` for a role emptied (None: any role), `stage_id` for a stage entered."""

    condition: AlertCondition
    threshold: Decimal | None = None
    days: int | None = None
    role_id: UUID | None = None
    stage_id: UUID | None = None


@dataclass(frozen=True)
class AlertRule:
    id: UUID
    name: str
    interest_ids: frozenset[UUID]  # empty: every solution interest
    when: When

    def watches(self, interest_id: UUID | None) -> bool:
        return not self.interest_ids or interest_id in self.interest_ids


def holds(when: When, value: Decimal, baseline: Decimal = Decimal(0)) -> bool:
    """Whether a score condition holds for a score (a rise: measured from `baseline`, the
    engagement `days` ago)."""
    assert when.threshold is not None, "a score condition has a threshold"
    match when.condition:
        case AlertCondition.ENGAGEMENT_AT_LEAST:
            return value >= when.threshold
        case AlertCondition.ENGAGEMENT_RISE:
            return value - baseline >= when.threshold
        case AlertCondition.COMPLETENESS_BELOW:
            return value < when.threshold
    raise ValueError(f"{when.condition} is not a score condition")


def crossed(when: When, previous: Decimal, current: Decimal,
            baseline: Decimal = Decimal(0)) -> bool:
    """Whether a score's change from `previous` to `current` makes the condition hold."""
    return holds(when, current, baseline) and not holds(when, previous, baseline)


def score_crossing(when: When) -> Callable[[float, float], bool]:
    """`crossed` for a threshold condition (not a rise) as one chained comparison of the scores
    an event carries: the alert check runs it for every group of a nightly pass."""
    assert when.threshold is not None
    threshold = float(when.threshold)
    match when.condition:
        case AlertCondition.ENGAGEMENT_AT_LEAST:
            return lambda previous, current: previous < threshold <= current
        case AlertCondition.COMPLETENESS_BELOW:
            return lambda previous, current: current < threshold <= previous
    raise ValueError(f"{when.condition} is not a threshold condition")


def problems(when: When) -> list[Problem]:
    """What makes a condition invalid or unable ever to fire (paths under `when`). Whether its
    role or stage can occur in the watched groups needs the catalogue: the use case checks."""
    found: list[Problem] = []
    threshold = when.threshold
    match when.condition:
        case AlertCondition.ENGAGEMENT_AT_LEAST:
            assert threshold is not None
            if threshold <= 0:
                found.append(Problem(("engagementAtLeast",), "NEVER_FIRES",
                                     "every engagement is at least 0, so it would always hold "
                                     "and never cross: give a threshold above 0"))
        case AlertCondition.COMPLETENESS_BELOW:
            assert threshold is not None
            if threshold <= 0 or threshold > 100:
                found.append(Problem(("completenessBelow",), "NEVER_FIRES",
                                     "completeness is between 0 and 100: give a threshold "
                                     "above 0 and at most 100"))
        case AlertCondition.ENGAGEMENT_RISE:
            assert threshold is not None and when.days is not None
            if threshold <= 0:
                found.append(Problem(("engagementRise", "points"), "NEVER_FIRES",
                                     "a rise is a positive number of points"))
            if not 1 <= when.days <= MAX_RISE_DAYS:
                found.append(Problem(("engagementRise", "days"), "INVALID_VALUE",
                                     f"days is between 1 and {MAX_RISE_DAYS}"))
    return found
