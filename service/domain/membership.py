"""Who may change a buying-group membership: MANUAL (a user) > API (an integration) > SYSTEM
(the generation and maintenance jobs). A lower source never undoes a higher one."""

from __future__ import annotations

import enum

RANK = {"SYSTEM": 0, "API": 1, "MANUAL": 2}
MAX_STATUS = 50


def may_change(current_source: str | None, caller_source: str) -> bool:
    """Can `caller_source` change a membership last set by `current_source` (None: no row)?"""
    return current_source is None or RANK[caller_source] >= RANK[current_source]


class MemberScope(enum.StrEnum):
    """Whose people a template's groups take: their account's, or also its sub-accounts'."""
    ACCOUNT = "ACCOUNT"
    ACCOUNT_AND_DESCENDANTS = "ACCOUNT_AND_DESCENDANTS"
