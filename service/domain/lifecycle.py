"""The DRAFT → LIVE lifecycle that role templates and stage models share: a draft may change,
be published or be deleted; a LIVE one is fixed (copy it, or make a new version, to change)."""

from __future__ import annotations

from typing import Protocol

from service.domain.problems import Problem


class Versioned(Protocol):
    @property
    def status(self) -> str: ...


def draft_problem(found: Versioned | None, what: str, action: str, advice: str = ""
                  ) -> Problem | None:
    """Why `found` may not be `action` ("edited", "published again", "deleted"), or None
    when it is a draft: NOT_FOUND when it does not exist, IMMUTABLE when it is LIVE."""
    if found is None:
        return Problem(("id",), "NOT_FOUND", f"no such {what}")
    if found.status != "DRAFT":
        return Problem(("id",), "IMMUTABLE",
                       f"a {found.status} {what} cannot be {action}" + (f"; {advice}"
                                                                        if advice else ""))
    return None
