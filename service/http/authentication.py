"""Who is calling: the API key of a request or a socket, read from the principal cache or the
database."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from service.api.context import Services
from service.api.errors import OVERLOADED_MESSAGE, RETRY_AFTER_OVERLOAD_SECONDS
from service.http.bodies import json_error, too_many_failures
from service.infra.auth import Principal, bearer_token, hash_api_key
from service.infra.db import PoolExhausted
from service.store import api_keys as key_store

log = logging.getLogger(__name__)

UNAUTHENTICATED = "Missing, invalid or revoked API key; send `Authorization: Bearer <key>`."


async def authenticate(services: Services, authorization: str | None) -> Principal | None:
    token = bearer_token(authorization)
    if token is None:
        return None
    known = services.principals
    key_hash = hash_api_key(token)
    if known is not None and (principal := known.get(key_hash)) is not None:
        return principal
    db = services.db
    # A key's last use is recorded now and then (apiKeys { lastUsedAt }): that write announces
    # itself to the response cache like any other.
    async with db.system() as conn:
        principal = await key_store.authenticate(conn, token)
    if principal is None:
        return None
    if known is not None:
        known.put(key_hash, principal)
    return principal


async def request_principal(services: Services, request: Request,
                            unauthenticated: str = UNAUTHENTICATED) -> Principal | Response:
    """The principal of an HTTP request's key, or the answer that refuses it: 429 for an
    address with too many failed authentications (counting this one), 503 when no database
    connection comes free to look the key up, 401 (`unauthenticated` says what to send)."""
    address = request.client.host if request.client else "-"
    throttle = services.throttle
    if throttle is not None and throttle.address_blocked(address):
        return too_many_failures(throttle)
    try:
        principal = await authenticate(services, request.headers.get("authorization"))
    except PoolExhausted:
        log.warning("no database connection for authentication: overloaded")
        return json_error(503, OVERLOADED_MESSAGE, "SERVICE_UNAVAILABLE",
                          **{"Retry-After": str(RETRY_AFTER_OVERLOAD_SECONDS)})
    if principal is not None:
        return principal
    if throttle is not None and await throttle.authentication_failed(address):
        log.warning("too many failed authentications from %s", address)
        return too_many_failures(throttle)
    return json_error(401, unauthenticated, "UNAUTHENTICATED", **{"WWW-Authenticate": "Bearer"})
