"""A client of an activity-log API speaking the Marketo Engage REST protocol (docs/guide.md):
token handling, paging, and the protocol's errors — re-authentication on 601/602, exponential
backoff with jitter on rate limits, concurrency limits, 5xx and timeouts (the identity call's too),
a clear failure on a spent daily quota (after which the instance is left alone until its quota
day turns), bad credentials, redirects or a body that is not JSON."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from service.domain import json_values
from service.infra.outbound import AddressNotAllowed, AllowedHosts, guarded_client
from service.sources.call_rate import BudgetSpent, CallRate

log = logging.getLogger(__name__)

REAUTHENTICATE = {"601", "602"}
RETRY = {"606", "615", "604", "608", "611", "713"}
QUOTA_SPENT = "607"
MAX_TYPES_PER_CALL = 10


class SourceError(Exception):
    """The source refused in a way retrying will not fix (credentials, quota, bad request), or
    could not be called at all."""


class SourceUnavailable(SourceError):
    """The source did not answer usefully within the attempts or the time a sync has (5xx,
    timeouts, broken connections): another attempt later may succeed."""


class Refused(SourceError):
    """The source answered with an HTTP status that retrying will not change."""

    def __init__(self, status: int, path: str, detail: str = "") -> None:
        super().__init__(f"HTTP {status} from {path}{detail}")
        self.status = status


class _Transient(Exception):
    """Worth another attempt after a backoff: 5xx, 429, timeouts, broken connections."""


@dataclass(frozen=True)
class Page:
    activities: list[Any]
    next_page_token: str
    more: bool


class ActivityApi:
    """One source instance. `allowed` set: the URL is a tenant's, and every connection goes
    through the outbound rule (service/infra/outbound.py); None: the operator's own source."""

    def __init__(self, base_url: str, client_id: str, client_secret: str, *,
                 timeout: float = 30.0, max_attempts: int = 8, backoff_base: float = 0.5,
                 backoff_cap: float = 20.0, concurrency: int = 4,
                 rate: CallRate | None = None, allowed: AllowedHosts | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        base = base_url.rstrip("/")
        if allowed is not None and transport is None:
            self._http = guarded_client(base, allowed, timeout=timeout)
        else:
            self._http = httpx.AsyncClient(base_url=base, timeout=timeout, transport=transport,
                                           follow_redirects=False)
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

    async def _get(self, path: str, params: dict[str, Any],
                   headers: dict[str, str] | None = None, *, counted: bool = True
                   ) -> dict[str, Any]:
        """One GET within the instance's limits (identity calls are not REST calls: they take
        no slot of the window or budget); its JSON object, or _Transient / SourceError. Messages
        never carry the URL's query (the identity call's holds the secret)."""
        async with self._slots:
            if self._rate is not None and counted:
                try:
                    await self._rate.acquire()
                except BudgetSpent as exc:
                    raise SourceError(str(exc)) from exc
            self.calls += 1
            try:
                response = await self._http.get(path, params=params, headers=headers)
            except AddressNotAllowed as exc:
                raise SourceError(f"the activity source may not be called: {exc}") from exc
            except httpx.TransportError as exc:
                # One text for every way a connection fails: no port-scanning through lastError.
                raise _Transient(f"the activity source could not be reached ({path})") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise _Transient(f"HTTP {response.status_code} from {path}")
        if 300 <= response.status_code < 400:
            raise Refused(response.status_code, path,
                          ": redirects are not followed; configure the final URL")
        if response.status_code >= 400:
            raise Refused(response.status_code, path)
        try:
            # Exact integers: the screen then refuses what cannot be stored as it is.
            body = json_values.loads(response.content)
        except ValueError:
            raise SourceError(f"the activity source answered {path} with something that is "
                              "not JSON") from None
        if not isinstance(body, dict):
            raise SourceError(f"the activity source answered {path} with JSON that is not an "
                              "object")
        return body

    async def authenticate(self) -> str:
        try:
            body = await self._get("/identity/oauth/token", {
                "grant_type": "client_credentials", "client_id": self._client_id,
                "client_secret": self._client_secret}, counted=False)
        except Refused as exc:
            if exc.status in (400, 401, 403):
                raise SourceError("the activity source refused the client id and secret") \
                    from None
            raise
        token = body.get("access_token")
        if not token or not isinstance(token, str):
            raise SourceError("the activity source gave no access token")
        self._token = token
        return token

    async def _backoff(self, attempt: int) -> None:
        # Full jitter: a random wait up to an exponentially growing ceiling.
        await asyncio.sleep(random.uniform(0, min(self._backoff_cap,
                                                  self._backoff_base * 2 ** attempt)))

    async def call(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """A REST call with the protocol's retries (the identity call's included); the JSON
        body of a successful answer."""
        last_problem = "no attempt made"
        for attempt in range(self._max_attempts):
            try:
                token = self._token or await self.authenticate()
                body = await self._get(path, params, {"Authorization": f"Bearer {token}"})
            except _Transient as exc:
                last_problem = str(exc)
                await self._backoff(attempt)
                continue
            if body.get("success", False) is True:
                return body
            errors = body.get("errors")
            first = errors[0] if isinstance(errors, list) and errors and isinstance(
                errors[0], dict) else {"code": "?", "message": "unknown error"}
            code, message = str(first.get("code"))[:20], str(first.get("message"))[:200]
            last_problem = f"{code} {message}"
            if code in REAUTHENTICATE:
                self._token = None
                continue
            if code == QUOTA_SPENT:
                if self._rate is not None:
                    await self._rate.quota_spent()
                raise SourceError("the activity source's daily API quota is used up (607); no "
                                  "call goes to it until its quota day turns (midnight US "
                                  "Central time)")
            if code in RETRY:
                await self._backoff(attempt)
                continue
            raise SourceError(f"the activity source answered {code}: {message}")
        raise SourceUnavailable(f"gave up after {self._max_attempts} attempts: {last_problem}")

    async def activity_types(self) -> list[dict[str, Any]]:
        body = await self.call("/rest/v1/activities/types.json", {})
        result = body.get("result") or []
        if not isinstance(result, list):
            raise SourceError("the activity types are not a list")
        return [t for t in result if isinstance(t, dict) and isinstance(t.get("id"), int)
                and not isinstance(t.get("id"), bool) and 0 < t["id"] < 2**31
                and isinstance(t.get("name"), str) and "\x00" not in t["name"]]

    async def paging_token(self, since: datetime) -> str:
        body = await self.call("/rest/v1/activities/pagingtoken.json",
                               {"sinceDatetime": since.strftime("%Y-%m-%dT%H:%M:%SZ")})
        return _token(body.get("nextPageToken"))

    async def activities(self, next_page_token: str, type_ids: list[int],
                         batch_size: int = 300) -> Page:
        if len(type_ids) > MAX_TYPES_PER_CALL:
            raise ValueError("at most 10 activity type ids per call")
        body = await self.call("/rest/v1/activities.json", {
            "nextPageToken": next_page_token, "batchSize": batch_size,
            "activityTypeIds": ",".join(map(str, type_ids))})
        result = body.get("result") or []
        if not isinstance(result, list):
            raise SourceError("the activities page's result is not a list")
        token = body.get("nextPageToken", next_page_token)
        return Page(result, _token(token), body.get("moreResult", False) is True)


def _token(value: Any) -> str:
    """A paging token as the protocol sends it: an opaque string we can store."""
    if not isinstance(value, str) or not value or len(value) > 2048 or "\x00" in value:
        raise SourceError("the activity source sent an unusable nextPageToken")
    return value


async def check_credentials(base_url: str, client_id: str, client_secret: str, *,
                            allowed: AllowedHosts | None, within: float
                            ) -> tuple[str, str] | None:
    """One identity call with these credentials, through the outbound rule: None when the
    source gives a token, else (code, why): CREDENTIALS_REFUSED (the source said no) or
    SOURCE_UNREACHABLE (no usable answer: down, timed out, not the protocol, not allowed)."""
    async with ActivityApi(base_url, client_id, client_secret, timeout=within,
                           allowed=allowed) as api:
        try:
            await api.authenticate()
        except SourceError as exc:
            refused = "refused the client id and secret" in str(exc)
            return ("CREDENTIALS_REFUSED" if refused else "SOURCE_UNREACHABLE", str(exc))
        except _Transient as exc:
            return "SOURCE_UNREACHABLE", f"the activity source did not answer usefully: {exc}"
    return None
