"""A client of an activity-log API speaking the Marketo Engage REST protocol (SPEC.md §4):
token handling, paging, and the protocol's errors — re-authentication on 601/602, exponential
backoff with jitter on rate limits, concurrency limits, 5xx and timeouts, a clear failure on a
spent daily quota or bad credentials."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import orjson

from jobs.call_rate import BudgetSpent, CallRate

log = logging.getLogger(__name__)

REAUTHENTICATE = {"601", "602"}
RETRY = {"606", "615", "604", "608", "611", "713"}
FATAL = {"607": "the activity source's daily API quota is used up; sync resumes tomorrow"}
MAX_TYPES_PER_CALL = 10


class SourceError(Exception):
    """The source refused in a way retrying will not fix (credentials, quota, bad request)."""


@dataclass(frozen=True)
class Page:
    activities: list[dict[str, Any]]
    next_page_token: str
    more: bool


class ActivityApi:
    def __init__(self, base_url: str, client_id: str, client_secret: str, *,
                 timeout: float = 30.0, max_attempts: int = 8, backoff_base: float = 0.5,
                 backoff_cap: float = 20.0, concurrency: int = 4,
                 rate: CallRate | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout,
                                       transport=transport)
        self._client_id = client_id
        self._client_secret = client_secret
        self._token: str | None = None
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        # The protocol allows 10 concurrent calls per instance; stay well below.
        self._slots = asyncio.Semaphore(concurrency)
        self._rate = rate
        self.calls = 0

    async def __aenter__(self) -> ActivityApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    async def _authenticate(self) -> str:
        response = await self._http.get("/identity/oauth/token", params={
            "grant_type": "client_credentials", "client_id": self._client_id,
            "client_secret": self._client_secret})
        if response.status_code in (400, 401, 403):
            raise SourceError("the activity source refused the client id and secret")
        response.raise_for_status()
        token = orjson.loads(response.content).get("access_token")
        if not token:
            raise SourceError("the activity source gave no access token")
        self._token = str(token)
        return self._token

    async def _backoff(self, attempt: int) -> None:
        # Full jitter: a random wait up to an exponentially growing ceiling.
        await asyncio.sleep(random.uniform(0, min(self._backoff_cap,
                                                  self._backoff_base * 2 ** attempt)))

    async def call(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """A REST call with the protocol's retries; the JSON body of a successful answer."""
        last_problem = "no attempt made"
        for attempt in range(self._max_attempts):
            token = self._token or await self._authenticate()
            try:
                async with self._slots:
                    if self._rate is not None:
                        try:
                            await self._rate.acquire()
                        except BudgetSpent as exc:
                            raise SourceError(str(exc)) from exc
                    self.calls += 1
                    response = await self._http.get(
                        path, params=params, headers={"Authorization": f"Bearer {token}"})
            except httpx.TransportError as exc:  # timeouts and broken connections
                last_problem = f"{type(exc).__name__} calling {path}"
                await self._backoff(attempt)
                continue
            if response.status_code >= 500 or response.status_code == 429:
                last_problem = f"HTTP {response.status_code} from {path}"
                await self._backoff(attempt)
                continue
            if response.status_code >= 400:
                raise SourceError(f"HTTP {response.status_code} from {path}")
            body: dict[str, Any] = orjson.loads(response.content)
            if body.get("success", False):
                return body
            errors = body.get("errors") or [{"code": "?", "message": "unknown error"}]
            code, message = str(errors[0].get("code")), str(errors[0].get("message"))
            last_problem = f"{code} {message}"
            if code in REAUTHENTICATE:
                self._token = None
                continue
            if code in FATAL:
                raise SourceError(FATAL[code])
            if code in RETRY:
                await self._backoff(attempt)
                continue
            raise SourceError(f"the activity source answered {code}: {message}")
        raise SourceError(f"gave up after {self._max_attempts} attempts: {last_problem}")

    async def activity_types(self) -> list[dict[str, Any]]:
        body = await self.call("/rest/v1/activities/types.json", {})
        return list(body.get("result") or [])

    async def paging_token(self, since: datetime) -> str:
        body = await self.call("/rest/v1/activities/pagingtoken.json",
                               {"sinceDatetime": since.strftime("%Y-%m-%dT%H:%M:%SZ")})
        return str(body["nextPageToken"])

    async def activities(self, next_page_token: str, type_ids: list[int],
                         batch_size: int = 300) -> Page:
        if len(type_ids) > MAX_TYPES_PER_CALL:
            raise ValueError("at most 10 activity type ids per call")
        body = await self.call("/rest/v1/activities.json", {
            "nextPageToken": next_page_token, "batchSize": batch_size,
            "activityTypeIds": ",".join(map(str, type_ids))})
        return Page(list(body.get("result") or []), str(body.get("nextPageToken",
                                                                 next_page_token)),
                    bool(body.get("moreResult", False)))
