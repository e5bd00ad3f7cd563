"""Which activities from a source may be stored: every one is checked before it reaches the
database, so a hostile or broken source can neither fail a sync nor make the database create
partitions at will. Rejected activities are counted and skipped; the cursor moves on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.domain import json_values

MAX_ID_LENGTH = 255
MAX_TEXT_LENGTH = 10_000
MAX_ATTRIBUTES_BYTES = 64 * 1024
INT32 = 2**31


@dataclass(frozen=True)
class Rejection:
    reason: str
    source_id: str | None


def _identifier(value: Any) -> str | None:
    """A lead or activity id as text: a non-empty string or an integer, within bounds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        return None
    if not text or len(text) > MAX_ID_LENGTH or "\x00" in text:
        return None
    return text


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    # Marketo sends UTC ("Z"); a time without a zone is read as UTC too.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def screen(item: Any, earliest: datetime, latest: datetime
           ) -> tuple[dict[str, Any] | None, Rejection | None]:
    """The activity as it is stored (only the fields we read, normalised), or why not."""
    if not isinstance(item, dict):
        return None, Rejection("not an object", None)
    raw_id = item.get("marketoGUID")
    source_id = _identifier(raw_id if raw_id is not None else item.get("id"))
    if source_id is None:
        return None, Rejection("no usable marketoGUID or id", None)
    lead_id = _identifier(item.get("leadId"))
    if lead_id is None:
        return None, Rejection("no usable leadId", source_id)
    type_id = item.get("activityTypeId")
    if isinstance(type_id, bool) or not isinstance(type_id, int) or not 0 < type_id < INT32:
        return None, Rejection("no usable activityTypeId", source_id)
    moment = _moment(item.get("activityDate"))
    if moment is None:
        return None, Rejection("activityDate is not an ISO-8601 date and time", source_id)
    if moment > latest:
        return None, Rejection("activityDate is in the future", source_id)
    if moment < earliest:
        return None, Rejection("activityDate is older than the retention horizon", source_id)
    primary = item.get("primaryAttributeValue")
    if isinstance(primary, int | float) and not isinstance(primary, bool):
        primary = str(primary)
    if primary is not None and (not isinstance(primary, str) or len(primary) > MAX_TEXT_LENGTH
                                or "\x00" in primary):
        return None, Rejection("unusable primaryAttributeValue", source_id)
    attributes = item.get("attributes")
    if attributes is not None:
        data, _ = json_values.encoded(attributes)
        if data is None or len(data) > MAX_ATTRIBUTES_BYTES:
            return None, Rejection("attributes cannot be stored", source_id)
    return {"marketoGUID": source_id, "leadId": lead_id, "activityTypeId": type_id,
            "activityDate": moment.astimezone(UTC).isoformat(),
            "primaryAttributeValue": primary, "attributes": attributes}, None


@dataclass
class Screened:
    accepted: list[dict[str, Any]]
    rejected: int
    last_rejection: Rejection | None


def screen_page(items: list[Any], earliest: datetime, latest: datetime) -> Screened:
    result = Screened([], 0, None)
    for item in items:
        stored, rejection = screen(item, earliest, latest)
        if stored is not None:
            result.accepted.append(stored)
        else:
            result.rejected += 1
            result.last_rejection = rejection
    return result
