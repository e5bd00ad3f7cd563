"""Who is calling: the API key of a request or a socket, read from the principal cache or the
database."""

from __future__ import annotations

from service.api.context import Services
from service.infra.auth import Principal, bearer_token, hash_api_key
from service.store import api_keys as key_store


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
