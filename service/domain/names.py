"""The one rule for names of catalogue objects (roles, templates, models, lists, …)."""

from __future__ import annotations

from collections.abc import Sequence

from service.domain.problems import Problem

MAX_NAME = 100


def name_problems(name: str | None, path: Sequence[str | int] = ("name",)) -> list[Problem]:
    """None: not given (nothing to check); blank: REQUIRED; too long: TOO_LONG."""
    if name is None:
        return []
    if not name.strip():
        return [Problem(tuple(path), "REQUIRED", "name is required")]
    # Measured as PostgreSQL's btrim does (spaces only), which the columns' CHECKs use.
    if len(name.strip(" ")) > MAX_NAME:
        return [Problem(tuple(path), "TOO_LONG", f"name is longer than {MAX_NAME} characters")]
    return []
