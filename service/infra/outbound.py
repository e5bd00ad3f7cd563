"""Where the service may send a request on a tenant's behalf: the one rule against server-side
request forgery, shared by every outbound client (activity sources; later webhooks).

A tenant-configured URL must be http(s), carry no user info or fragment, and every address its
host resolves to must be public — unless the operator lists the host (or host:port) in
OUTBOUND_ALLOWED_HOSTS. The rule is checked when the URL is configured and again on the address
actually dialled (a name that resolved to a public address then and to a private one now must
not be called: DNS rebinding); the connection goes to the address that was checked. Redirects
are never followed. (OWASP's SSRF prevention cheat sheet.)
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressNotAllowed(Exception):
    """The destination is not one the service may call for a tenant."""


@dataclass(frozen=True)
class AllowedHosts:
    """OUTBOUND_ALLOWED_HOSTS: hosts (any port) and host:port pairs the operator trusts."""

    entries: frozenset[str] = frozenset()
    # Development only (`make run`): loopback addresses too, so a receiver on this machine
    # can be tried. Never private or other local addresses.
    loopback: bool = False

    @classmethod
    def parse(cls, text: str | Iterable[str], *, loopback: bool = False) -> AllowedHosts:
        items = text.split(",") if isinstance(text, str) else text
        return cls(frozenset(item.strip().lower() for item in items if item.strip()),
                   loopback)

    def allows(self, host: str, port: int) -> bool:
        host = host.lower().strip("[]")
        return host in self.entries or f"{host}:{port}" in self.entries or (
            f"[{host}]:{port}" in self.entries)


def is_public(address: IPAddress) -> bool:
    """Whether an address is on the public internet: not loopback, private, link-local, CGNAT,
    multicast, reserved or unspecified, and not one of those wrapped in IPv6."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        if address in _NAT64:
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None and not is_public(address.sixtofour):
            return False
        if address.teredo is not None and not is_public(address.teredo[1]):
            return False
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_unspecified
        or address.is_loopback or address.is_link_local or address.is_private)


def url_problem(url: str) -> str | None:
    """What is wrong with the URL's form, or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must be an http(s) URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "must not carry a user name or password"
    if parts.fragment or url.endswith("#"):
        return "must not carry a fragment"
    if port == 0:
        return "must not use port 0"
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        return "must not contain spaces or control characters"
    return None


def default_port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]


async def system_resolve(host: str, port: int) -> list[IPAddress]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address not in found:
            found.append(address)
    return found


# Looked up at each call, so a test can put a stub resolver in its place.
resolve_host: Resolver = system_resolve


async def checked_addresses(host: str, port: int, allowed: AllowedHosts) -> list[IPAddress]:
    """The addresses to dial for host:port, each one checked; raises AddressNotAllowed. An
    allowed host is dialled by name (the operator vouches for it)."""
    bare = host.strip("[]")
    try:
        literal: IPAddress | None = ipaddress.ip_address(bare)
    except ValueError:
        literal = None
    if allowed.allows(bare, port):
        return [literal] if literal is not None else []
    if literal is not None:
        addresses = [literal]
    else:
        try:
            addresses = await resolve_host(bare, port)
        except (OSError, UnicodeError) as exc:
            raise AddressNotAllowed(f"the host {bare!r} could not be resolved") from exc
    if not addresses:
        raise AddressNotAllowed(f"the host {bare!r} has no address")
    refused = [a for a in addresses if not is_public(a)
               and not (allowed.loopback and _is_loopback(a))]
    if refused:
        raise AddressNotAllowed(
            f"{bare!r} resolves to an address that is not public ({refused[0]}); the operator "
            "can allow it in OUTBOUND_ALLOWED_HOSTS")
    return addresses


def _is_loopback(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


async def destination_problem(url: str, allowed: AllowedHosts) -> str | None:
    """At configure time: why the service may not call this URL, or None."""
    if (problem := url_problem(url)) is not None:
        return problem
    parts = urlsplit(url)
    assert parts.hostname is not None
    try:
        await checked_addresses(parts.hostname, default_port(parts), allowed)
    except AddressNotAllowed as exc:
        return str(exc)
    return None


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves and checks the host itself, then dials the checked address (TLS still verifies
    the name: httpcore passes the request's host as server_hostname)."""

    def __init__(self, allowed: AllowedHosts) -> None:
        self._allowed = allowed
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,  # noqa: ASYNC109
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None
                          ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await checked_addresses(host, port, self._allowed)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host!r} timed out") from exc
        if not addresses:  # an allowed host: by name
            return await self._inner.connect_tcp(host, port, timeout, local_address,
                                                 socket_options)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(str(address), port, timeout,
                                                     local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, path: str, timeout: float | None = None,  # noqa: ASYNC109
                                  socket_options: Iterable[Any] | None = None
                                  ) -> httpcore.AsyncNetworkStream:
        raise AddressNotAllowed("unix sockets are never called")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """An httpx transport that connects only where the rule allows; no proxy from the
    environment (it would be dialled instead of the checked address)."""

    def __init__(self, allowed: AllowedHosts) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(),
            network_backend=_GuardedBackend(allowed))


def guarded_client(base_url: str, allowed: AllowedHosts, *, timeout: float) -> httpx.AsyncClient:
    """An httpx client for a tenant-configured URL: guarded dialling, no redirects followed, no
    proxy or credentials from the environment."""
    return httpx.AsyncClient(base_url=base_url, timeout=timeout, follow_redirects=False,
                             trust_env=False, transport=GuardedTransport(allowed))


_URL_QUERY = re.compile(r"(https?://[^\s?#'\"<>]*)\?[^\s'\"<>]*", re.IGNORECASE)
_SECRET_PARAM = re.compile(r"((?:client_secret|access_token)=)[^&\s'\"<>]+", re.IGNORECASE)


def redact(text: str) -> str:
    """A message with the query string of every URL in it cut off, and any secret parameter
    blanked (the identity call sends the client secret in its query string)."""
    return _SECRET_PARAM.sub(r"\1…", _URL_QUERY.sub(r"\1?…", text))
