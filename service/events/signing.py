"""Webhook signatures the Standard Webhooks way: a signing secret (shown once), and the headers
that sign one delivery."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

USER_AGENT = "buying-groups-webhooks/1"
SECRET_PREFIX = "whsec_"


def new_signing_secret() -> str:
    """A signing secret as Standard Webhooks writes one: whsec_ and 32 random bytes, base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signed_headers(signing_secret: str, message_id: str, body: bytes,
                   at: datetime | None = None) -> dict[str, str]:
    moment = at or datetime.now(UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(signing_secret).sign(message_id, moment, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
