"""Signed download links of exports: a link names the export, the API key it was made for and
when it expires, signed with a key derived from SECRET_KEY, so that it can be opened without
the API key (a browser, a spreadsheet's "import from URL") until it expires, and not after the
key is revoked."""

from __future__ import annotations

import hashlib
import hmac
from uuid import UUID


def link_key(secret_key: str) -> bytes:
    """The signing key of links, derived from SECRET_KEY (never the encryption key itself)."""
    return hmac.new(secret_key.encode(), b"bg export links v1", hashlib.sha256).digest()


def signature(key: bytes, job_id: UUID, api_key_id: UUID, expires: int) -> str:
    message = f"{job_id}:{api_key_id}:{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def valid(key: bytes, job_id: UUID, api_key_id: UUID, expires: int, given: str) -> bool:
    """Whether `given` is the signature of this link (whether it expired is the caller's to
    tell, after: a tampered link is refused as such even when its time is past)."""
    return hmac.compare_digest(signature(key, job_id, api_key_id, expires), given)
