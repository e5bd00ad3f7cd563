"""Secrets at rest (activity sources' client secrets): encrypted with Fernet (AES-128-CBC with an
HMAC-SHA256, from the `cryptography` package) under SECRET_KEY. Keys listed in
SECRET_KEY_PREVIOUS still decrypt, so a key is rotated by making the old one previous, running
`buying-groups secrets rotate` (which re-encrypts every stored secret with the new key), and then
dropping the old one. A database dump alone gives no secret away."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

PREFIX = "fernet:"  # stored values carry it: plain text from before encryption is told apart


class SecretsUnavailable(Exception):
    """No SECRET_KEY is configured, or a stored secret was encrypted with a key not listed."""


def new_key() -> str:
    return Fernet.generate_key().decode()


class SecretBox:
    def __init__(self, key: str | None, previous: str = "") -> None:
        keys = [k.strip() for k in [key or "", *previous.split(",")] if k.strip()]
        try:
            self._fernet = MultiFernet([Fernet(k) for k in keys]) if keys and key else None
        except ValueError as exc:  # the key is not 32 url-safe base64 bytes
            raise SecretsUnavailable(f"SECRET_KEY or SECRET_KEY_PREVIOUS is malformed: {exc}") \
                from None

    @property
    def available(self) -> bool:
        return self._fernet is not None

    def _box(self) -> MultiFernet:
        if self._fernet is None:
            raise SecretsUnavailable("SECRET_KEY is not set: secrets cannot be stored or read")
        return self._fernet

    def seal(self, secret: str) -> str:
        return PREFIX + self._box().encrypt(secret.encode()).decode()

    def open(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # stored before encryption; `secrets rotate` seals it
        try:
            return self._box().decrypt(stored[len(PREFIX):].encode()).decode()
        except InvalidToken as exc:
            raise SecretsUnavailable("a stored secret was encrypted with a key that is neither "
                                     "SECRET_KEY nor in SECRET_KEY_PREVIOUS") from exc

    def reseal(self, stored: str) -> str:
        """The stored value under the current key (plain text from before is sealed too)."""
        if not stored.startswith(PREFIX):
            return self.seal(stored)
        try:
            token = self._box().rotate(stored[len(PREFIX):].encode())
        except InvalidToken as exc:
            raise SecretsUnavailable("a stored secret was encrypted with a key that is neither "
                                     "SECRET_KEY nor in SECRET_KEY_PREVIOUS") from exc
        return PREFIX + token.decode()
