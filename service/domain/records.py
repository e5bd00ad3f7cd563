"""Checks on account and person input that need no database: required fields, lengths, numbers,
e-mail shape, duplicate keys within one call."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from service.domain import json_values
from service.domain.problems import Problem

MAX_BATCH = 1000
MAX_TEXT = 255
# Deliberately simple: one @, no spaces, a dot in the domain. Deliverability is not our business.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")

ACCOUNT_TEXT_FIELDS = ("name", "parentExternalId", "industry", "region", "country")
PERSON_TEXT_FIELDS = (
    "accountExternalId", "email", "firstName", "lastName", "jobTitle", "department",
    "seniority", "city", "country",
)


def _common(item: Mapping[str, Any], text_fields: Sequence[str]) -> list[Problem]:
    problems = []
    external_id = item.get("externalId")
    if not isinstance(external_id, str) or not external_id.strip():
        problems.append(Problem(("externalId",), "REQUIRED", "externalId is required"))
    elif len(external_id) > MAX_TEXT:
        problems.append(Problem(("externalId",), "TOO_LONG",
                                f"externalId is longer than {MAX_TEXT} characters"))
    for name in text_fields:
        value = item.get(name)
        if isinstance(value, str) and len(value) > MAX_TEXT:
            problems.append(Problem((name,), "TOO_LONG",
                                    f"{name} is longer than {MAX_TEXT} characters"))
    for name in ("externalId", *text_fields):
        value = item.get(name)
        if isinstance(value, str) and "\x00" in value:  # CSV imports; the API refuses it sooner
            problems.append(Problem((name,), "INVALID_VALUE",
                                    f"{name} contains the NUL character (U+0000)"))
    attributes = item.get("attributes")
    if attributes is not None and not isinstance(attributes, dict):
        problems.append(
            Problem(("attributes",), "INVALID_VALUE", "attributes must be a JSON object")
        )
    elif (found := json_values.problem(attributes)) is not None:
        problems.append(Problem(("attributes",), "INVALID_VALUE", f"attributes {found}"))
    return problems


def account_problems(item: Mapping[str, Any]) -> list[Problem]:
    problems = _common(item, ACCOUNT_TEXT_FIELDS)
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(Problem(("name",), "REQUIRED", "name is required"))
    for name in ("annualRevenue", "employeeCount"):
        value = item.get(name)
        if value is not None and value < 0:
            problems.append(Problem((name,), "INVALID_VALUE", f"{name} cannot be negative"))
    return problems


def person_problems(item: Mapping[str, Any]) -> list[Problem]:
    problems = _common(item, PERSON_TEXT_FIELDS)
    account = item.get("accountExternalId")
    if not isinstance(account, str) or not account.strip():
        problems.append(
            Problem(("accountExternalId",), "REQUIRED", "accountExternalId is required")
        )
    email = item.get("email")
    if isinstance(email, str) and email.strip() and not _EMAIL.match(email.strip()):
        problems.append(Problem(("email",), "INVALID_EMAIL", f"{email!r} is not an e-mail address"))
    return problems


def duplicate_keys(items: Sequence[Mapping[str, Any]]) -> dict[int, Problem]:
    """Later items repeating an earlier item's externalId (the first one wins)."""
    seen: set[str] = set()
    duplicates = {}
    for index, item in enumerate(items):
        key = item.get("externalId")
        if not isinstance(key, str):
            continue
        if key in seen:
            duplicates[index] = Problem(("externalId",), "DUPLICATE",
                                        f"externalId {key!r} appears earlier in this call")
        seen.add(key)
    return duplicates


def normalized(item: Mapping[str, Any]) -> dict[str, Any]:
    """Text trimmed; a blank optional text is no value. Keys the caller left out stay out."""
    result: dict[str, Any] = {}
    for key, value in item.items():
        if isinstance(value, str):
            value = value.strip()
            if not value and key not in ("externalId", "name", "accountExternalId"):
                value = None
        result[key] = value
    return result
