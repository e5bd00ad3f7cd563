"""`buying-groups simulator`: an activity-log API speaking the Marketo Engage REST protocol
(docs/guide.md), for development, demos and tests.

Synthetic activity is deterministic: every (lead, calendar day) pair has the same activities on
every run, so a restarted simulator serves the same history. Tests add exact activities and turn
on faults through `/_sim/*` endpoints (never part of the real protocol)."""

from __future__ import annotations

import asyncio
import base64
import bisect
import hashlib
import json
import random
import secrets
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# The catalogue's types with ids as a source might number them, plus two it does not know.
TYPE_NAMES = [
    "Visit Webpage", "Fill Out Form", "Click Link", "Download Asset", "Register for Event",
    "Attend Event", "Open Email", "Click Email", "Open Sales Email", "Click Sales Email",
    "Interesting Moment", "Tap Push Notification", "Mobile App Activity", "Mobile App Session",
    "Fill Out Facebook Lead Ads Form", "Click RTP Call to Action", "View In-App Message",
    "Tap In-App Message", "Subscribe to SMS", "Reply to Sales Email", "Engaged with a Dialogue",
    "Interacted with Document in Dialogue", "Scheduled Meeting in Dialogue",
    "Reached Dialogue Goal", "Responded to Poll in Webinar",
    "Call to Action Clicked in Webinar", "Asset Downloads in Webinar",
    "Asked Questions in Webinar", "Has Attended Event", "Engaged with an Agent in Dialogue",
    "Clicked Link in Chat in Dialogue", "Engaged with a Conversational Flow",
    "Scheduled Meeting in Conversational Flow", "Reached Conversational Flow Goal",
    "Interacted with Document in Conversational Flow",
    "Engaged with an Agent in Conversational Flow",
    "Clicked Link in Chat in Conversational Flow", "Click Link in SMS V2",
    "Sync Lead to CRM", "Change Data Value",
]
TYPES = {i + 1: name for i, name in enumerate(TYPE_NAMES)}
# Web and e-mail activity is common; the rest is rare.
COMMON = [1, 1, 1, 3, 4, 7, 7, 8, 2, 39, 40]


@dataclass
class Faults:
    rate_limit_every: int = 0  # every Nth call answers 606
    # Marketo's real limit: more than this many calls in the sliding window answer 606.
    rate_limit_calls: int = 0
    rate_limit_window_ms: int = 20_000
    token_expire_every: int = 0  # every Nth call answers 602
    http_500_every: int = 0
    empty_page_every: int = 0  # an empty page with moreResult true
    overlap: int = 0  # each next page repeats this many activities of the page before
    slow_ms: int = 0
    concurrency_limit: int = 0  # above this many calls at once: 615
    daily_quota_exceeded: bool = False  # 607
    identity_500: int = 0  # the next this-many identity calls answer HTTP 500
    not_json: bool = False  # activity pages answer 200 with an HTML body


@dataclass
class State:
    synthetic: bool = True
    lead_range: tuple[int, int] = (100_000, 104_000)
    activity_rate: float = 0.25  # expected activities per lead and day
    history_days: int = 45
    injected: list[dict[str, Any]] = field(default_factory=list)
    # Items sent as they are (any shape) with the next activities page served: a broken or
    # hostile source.
    raw: list[Any] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)
    calls: int = 0
    in_flight: int = 0
    recent_calls: deque[float] = field(default_factory=deque)
    refusals: Counter[str] = field(default_factory=Counter)
    tokens: set[str] = field(default_factory=set)
    served: set[str] = field(default_factory=set)
    served_total: int = 0
    client_id: str = "demo-client"
    client_secret: str = "demo-secret"
    cache: dict[date, list[dict[str, Any]]] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    timeline_keys: list[tuple[str, str]] = field(default_factory=list)
    timeline_key: tuple[Any, ...] = ()


def _guid(*parts: Any) -> str:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def synthetic_day(state: State, day: date) -> list[dict[str, Any]]:
    """Every lead's activities on one calendar day (UTC), the same on every run."""
    if day in state.cache:
        return state.cache[day]
    items = []
    for lead in range(*state.lead_range):
        rng = random.Random(f"{lead}:{day.isoformat()}")
        count = 0
        while rng.random() < state.activity_rate / (1 + state.activity_rate) and count < 30:
            count += 1
        for n in range(count):
            type_id = rng.choice(COMMON) if rng.random() < 0.9 else rng.randint(1, len(TYPES))
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
                seconds=rng.randrange(86_400))
            items.append(activity(_guid(lead, day, n), lead, type_id, moment))
    items.sort(key=lambda a: (a["activityDate"], a["marketoGUID"]))
    state.cache[day] = items
    return items


def activity(guid: str, lead: int | str, type_id: int, moment: datetime) -> dict[str, Any]:
    number = int(guid[:8], 16)
    return {
        "id": number, "marketoGUID": guid, "leadId": int(lead) if str(lead).isdigit() else lead,
        "activityDate": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "activityTypeId": type_id, "primaryAttributeValueId": None,
        "primaryAttributeValue": TYPES.get(type_id, "Unknown"),
        "attributes": [{"name": "Source", "value": "simulator"}],
    }


def encode_token(moment: str, guid: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([moment, guid]).encode()).decode()


def decode_token(token: str) -> tuple[str, str]:
    moment, guid = json.loads(base64.urlsafe_b64decode(token.encode()))
    return str(moment), str(guid)


def timeline(state: State, now: datetime) -> list[dict[str, Any]]:
    """Every activity up to today, in (date, guid) order; rebuilt only when something changed."""
    key = (now.date(), len(state.injected), state.synthetic)
    if state.timeline_key != key:
        found: list[dict[str, Any]] = []
        if state.synthetic:
            day = now.date() - timedelta(days=state.history_days)
            while day <= now.date():
                found += synthetic_day(state, day)
                day += timedelta(days=1)
        found += state.injected
        found.sort(key=lambda a: (a["activityDate"], a["marketoGUID"]))
        state.timeline = found
        state.timeline_keys = [(a["activityDate"], a["marketoGUID"]) for a in found]
        state.timeline_key = key
    return state.timeline


def page_after(state: State, moment: str, guid: str, type_ids: set[int], limit: int,
               now: datetime) -> tuple[list[dict[str, Any]], bool]:
    """Up to `limit` activities of the types after the cursor (by date then guid), up to now,
    and whether more follow."""
    items = timeline(state, now)
    horizon = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    page: list[dict[str, Any]] = []
    for index in range(bisect.bisect_right(state.timeline_keys, (moment, guid)), len(items)):
        item = items[index]
        if item["activityDate"] > horizon:
            break
        if item["activityTypeId"] in type_ids:
            if len(page) == limit:
                return page, True
            page.append(item)
    return page, False


def failure(code: str, message: str) -> JSONResponse:
    return JSONResponse({"requestId": secrets.token_hex(4), "success": False,
                         "errors": [{"code": code, "message": message}]})


def create_simulator(state: State | None = None) -> Starlette:
    state = state or State()

    def refuse(code: str, message: str) -> JSONResponse:
        state.refusals[code] += 1
        return failure(code, message)

    def over_rate_limit(f: Faults) -> bool:
        now = time.monotonic()
        while state.recent_calls and state.recent_calls[0] <= now - f.rate_limit_window_ms / 1000:
            state.recent_calls.popleft()
        if len(state.recent_calls) >= f.rate_limit_calls:
            return True
        state.recent_calls.append(now)
        return False

    async def check(request: Request) -> Response | None:
        """The protocol's failure modes, in the order a real instance would hit them."""
        state.calls += 1
        f = state.faults
        if f.slow_ms:
            await asyncio.sleep(f.slow_ms / 1000)
        if f.http_500_every and state.calls % f.http_500_every == 0:
            return Response("simulated server error", status_code=500)
        if f.daily_quota_exceeded:
            return refuse("607", "Daily quota reached")
        if f.concurrency_limit and state.in_flight > f.concurrency_limit:
            return refuse("615", "Concurrent access limit reached")
        if (f.rate_limit_every and state.calls % f.rate_limit_every == 0) or (
                f.rate_limit_calls and over_rate_limit(f)):
            return refuse("606", "Max rate limit '100' exceeded with in '20' secs")
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip() or request.query_params.get(
            "access_token", "")
        if token not in state.tokens:
            return refuse("601", "Access token invalid")
        if f.token_expire_every and state.calls % f.token_expire_every == 0:
            state.tokens.discard(token)
            return refuse("602", "Access token expired")
        return None

    async def identity(request: Request) -> Response:
        if state.faults.identity_500 > 0:
            state.faults.identity_500 -= 1
            return Response("simulated identity outage", status_code=500)
        params = request.query_params
        if (params.get("client_id"), params.get("client_secret")) != (
                state.client_id, state.client_secret):
            return JSONResponse({"error": "unauthorized",
                                 "error_description": "Bad client credentials"},
                                status_code=401)
        token = secrets.token_hex(16)
        state.tokens.add(token)
        return JSONResponse({"access_token": token, "token_type": "bearer",
                             "expires_in": 3599, "scope": "apis@acme"})

    async def types(request: Request) -> Response:
        if (problem := await check(request)) is not None:
            return problem
        return JSONResponse({"requestId": secrets.token_hex(4), "success": True, "result": [
            {"id": i, "name": name, "description": name, "primaryAttribute": {
                "name": "Name", "dataType": "string"}} for i, name in TYPES.items()]})

    async def paging_token(request: Request) -> Response:
        if (problem := await check(request)) is not None:
            return problem
        since = request.query_params.get("sinceDatetime")
        if not since:
            return failure("1003", "sinceDatetime is required")
        moment = datetime.fromisoformat(since.replace("Z", "+00:00")).astimezone(UTC)
        # Just before `since`, so activities at exactly that second are included.
        cursor = (moment - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return JSONResponse({"requestId": secrets.token_hex(4), "success": True,
                             "nextPageToken": encode_token(cursor, "~")})

    async def activities(request: Request) -> Response:
        state.in_flight += 1
        try:
            if (problem := await check(request)) is not None:
                return problem
            params = request.query_params
            try:
                moment, guid = decode_token(params["nextPageToken"])
                type_ids = {int(t) for t in params["activityTypeIds"].split(",") if t}
            except (KeyError, ValueError):
                return failure("1003", "nextPageToken and activityTypeIds are required")
            if len(type_ids) > 10:
                return failure("1003", "at most 10 activityTypeIds")
            batch = min(int(params.get("batchSize", 300)), 300)
            f = state.faults
            if f.not_json:
                return Response("<html><body>Service Unavailable</body></html>",
                                media_type="text/html")
            if f.empty_page_every and state.calls % f.empty_page_every == 0:
                return JSONResponse({"requestId": secrets.token_hex(4), "success": True,
                                     "nextPageToken": params["nextPageToken"],
                                     "moreResult": True})
            page, more = page_after(state, moment, guid, type_ids, batch, datetime.now(UTC))
            if page:
                last = page[-1]
                back = page[max(0, len(page) - 1 - f.overlap)] if f.overlap else last
                token = encode_token(back["activityDate"], back["marketoGUID"]) if f.overlap \
                    and more else encode_token(last["activityDate"], last["marketoGUID"])
            else:
                token = params["nextPageToken"]
            for a in page:
                state.served.add(a["marketoGUID"])
            state.served_total += len(page)
            body: dict[str, Any] = {"requestId": secrets.token_hex(4), "success": True,
                                    "nextPageToken": token, "moreResult": more}
            if state.raw:
                page, state.raw = [*page, *state.raw], []
            if page:
                body["result"] = page
            return JSONResponse(body)
        finally:
            state.in_flight -= 1

    async def sim_activities(request: Request) -> Response:
        """Add exact activities: [{leadId, activityTypeId, activityDate, id?}]."""
        added = []
        for item in await request.json():
            moment = datetime.fromisoformat(item["activityDate"].replace("Z", "+00:00"))
            guid = item.get("marketoGUID") or _guid("injected", len(state.injected),
                                                     secrets.token_hex(4))
            state.injected.append(activity(guid, item["leadId"], item["activityTypeId"],
                                           moment))
            added.append(guid)
        return JSONResponse({"added": len(added), "guids": added})

    async def sim_raw(request: Request) -> Response:
        """Items of any shape, sent as they are with the next activities page."""
        state.raw.extend(await request.json())
        return JSONResponse({"queued": len(state.raw)})

    async def sim_config(request: Request) -> Response:
        body = await request.json()
        if "synthetic" in body:
            state.synthetic = bool(body["synthetic"])
        if "leadRange" in body:
            state.lead_range = (int(body["leadRange"][0]), int(body["leadRange"][1]))
        if "activityRate" in body:
            state.activity_rate = float(body["activityRate"])
        if "historyDays" in body:
            state.history_days = int(body["historyDays"])
        state.cache.clear()
        state.timeline_key = ()
        if body.get("reset"):
            state.injected.clear()
            state.raw.clear()
            state.served.clear()
            state.served_total = 0
            state.calls = 0
            state.faults = Faults()
            state.recent_calls.clear()
            state.refusals.clear()
        return JSONResponse({"ok": True})

    async def sim_faults(request: Request) -> Response:
        try:
            state.faults = Faults(**await request.json())
        except TypeError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        state.recent_calls.clear()
        return JSONResponse({"ok": True})

    async def sim_stats(request: Request) -> Response:
        return JSONResponse({"calls": state.calls, "servedDistinct": len(state.served),
                             "servedTotal": state.served_total,
                             "refusals": dict(state.refusals),
                             "injected": len(state.injected)})

    async def types_list(request: Request) -> Response:
        return JSONResponse({str(k): v for k, v in TYPES.items()})

    return Starlette(routes=[
        Route("/identity/oauth/token", identity),
        Route("/rest/v1/activities/types.json", types),
        Route("/rest/v1/activities/pagingtoken.json", paging_token),
        Route("/rest/v1/activities.json", activities),
        Route("/_sim/activities", sim_activities, methods=["POST"]),
        Route("/_sim/config", sim_config, methods=["POST"]),
        Route("/_sim/raw", sim_raw, methods=["POST"]),
        Route("/_sim/faults", sim_faults, methods=["POST"]),
        Route("/_sim/stats", sim_stats),
        Route("/_sim/types", types_list),
    ])


def run_simulator(host: str, port: int, client_id: str, client_secret: str) -> None:
    import uvicorn

    state = State(client_id=client_id, client_secret=client_secret)
    uvicorn.run(create_simulator(state), host=host, port=port, log_level="warning")
