"""Which activities from a source are stored (service/domain/activity_screen.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain.activity_screen import screen, screen_page

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
EARLIEST = datetime(2025, 11, 1, tzinfo=UTC)
LATEST = NOW + timedelta(days=1)
GOOD = {"id": 7, "marketoGUID": "g-7", "leadId": 42, "activityTypeId": 1,
        "activityDate": "2026-11-28T10:00:00Z", "primaryAttributeValue": "Home",
        "attributes": [{"name": "Webpage URL", "value": "/"}], "extra": "ignored"}


def test_a_good_activity_is_stored_normalised_with_only_the_fields_read() -> None:
    stored, rejection = screen(GOOD, EARLIEST, LATEST)
    assert rejection is None
    assert stored == {"marketoGUID": "g-7", "leadId": "42", "activityTypeId": 1,
                      "activityDate": "2026-11-28T10:00:00+00:00",
                      "primaryAttributeValue": "Home",
                      "attributes": [{"name": "Webpage URL", "value": "/"}]}


@pytest.mark.parametrize(("change", "reason"), [
    ({"marketoGUID": None, "id": None}, "no usable marketoGUID or id"),
    ({"marketoGUID": "", "id": None}, "no usable marketoGUID or id"),
    ({"leadId": None}, "no usable leadId"),
    ({"leadId": True}, "no usable leadId"),
    ({"leadId": "x" * 256}, "no usable leadId"),
    ({"activityTypeId": "1"}, "no usable activityTypeId"),
    ({"activityTypeId": 2**40}, "no usable activityTypeId"),
    ({"activityDate": "9999-12-31T23:59:59Z"}, "in the future"),
    ({"activityDate": "2026-11-30T12:00:01Z"}, "in the future"),
    ({"activityDate": "2025-10-31T23:59:59Z"}, "older than the retention horizon"),
    ({"activityDate": "yesterday"}, "not an ISO-8601"),
    ({"activityDate": 1700000000}, "not an ISO-8601"),
    ({"primaryAttributeValue": "a\x00b"}, "primaryAttributeValue"),
    ({"attributes": [{"value": 2**70}]}, "attributes cannot be stored"),
    ({"attributes": {"k": "a\x00b"}}, "attributes cannot be stored"),
])
def test_an_unusable_activity_is_rejected_with_its_reason(
    change: dict[str, Any], reason: str
) -> None:
    stored, rejection = screen({**GOOD, **change}, EARLIEST, LATEST)
    assert stored is None and rejection is not None and reason in rejection.reason


def test_the_id_stands_in_for_a_missing_marketo_guid_and_dates_without_zone_are_utc() -> None:
    stored, _ = screen({**GOOD, "marketoGUID": None, "activityDate": "2026-11-28T10:00:00"},
                       EARLIEST, LATEST)
    assert stored is not None and stored["marketoGUID"] == "7"
    assert stored["activityDate"] == "2026-11-28T10:00:00+00:00"


@given(st.lists(st.one_of(
    st.none(), st.integers(), st.text(), st.dictionaries(st.text(), st.one_of(
        st.none(), st.integers(), st.text(), st.floats(allow_nan=False))),
    st.builds(lambda d: {**GOOD, **d}, st.dictionaries(
        st.sampled_from(list(GOOD)), st.one_of(st.none(), st.integers(), st.text()))))))
def test_any_page_is_split_into_stored_and_counted_never_raising(items: list[Any]) -> None:
    result = screen_page(items, EARLIEST, LATEST)
    assert len(result.accepted) + result.rejected == len(items)
    for stored in result.accepted:
        moment = datetime.fromisoformat(stored["activityDate"])
        assert EARLIEST <= moment <= LATEST
        assert "\x00" not in stored["leadId"] + stored["marketoGUID"]
