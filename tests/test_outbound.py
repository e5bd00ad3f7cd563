"""The outbound rule (service/infra/outbound.py): which addresses a tenant-configured URL may reach,
checked at configure time and again on the address dialled; and what messages may say."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import sys

import httpx
import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from service.infra import outbound
from service.infra.logging import RedactingFormatter
from service.infra.outbound import (
    AddressNotAllowed,
    AllowedHosts,
    checked_addresses,
    destination_problem,
    guarded_client,
    is_public,
    redact,
    url_problem,
)
from tests.support import Listener

REFUSED = ["127.0.0.1", "127.0.0.2", "10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1",
           "169.254.169.254", "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255",
           "192.0.2.1", "198.18.0.1", "::1", "::", "fe80::1", "fc00::1", "ff02::1",
           "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::1"]
PUBLIC = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", REFUSED)
def test_local_private_and_special_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_internet_addresses_are_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


PRIVATE_NETWORKS = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4")]


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_an_ipv4_address_wrapped_in_ipv6_is_judged_as_itself(value: int) -> None:
    v4 = ipaddress.IPv4Address(value)
    mapped = ipaddress.IPv6Address(f"::ffff:{v4}")
    nat64 = ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | value)
    assert is_public(mapped) == is_public(v4) == is_public(nat64)
    if any(v4 in network for network in PRIVATE_NETWORKS):
        assert not is_public(v4)


@pytest.mark.parametrize(("url", "problem"), [
    ("ftp://example.com", "http(s)"), ("file:///etc/passwd", "http(s)"),
    ("http://user:pw@example.com", "user name"), ("http://x@example.com", "user name"),
    ("http://example.com/#x", "fragment"), ("http://example.com:0", "port 0"),
    ("http://", "host"), ("http://[::1", "not a valid URL"), ("http://a b.com", "spaces"),
    ("http://example.com:99999", "not a valid URL"),
])
def test_a_url_of_the_wrong_form_is_refused_before_any_lookup(url: str, problem: str) -> None:
    assert problem in (url_problem(url) or "")


def test_allowed_hosts_match_a_host_or_a_host_and_port() -> None:
    allowed = AllowedHosts.parse(" Sim.Local , 127.0.0.1:8100,[::1]:9000")
    assert allowed.allows("sim.local", 1234)
    assert allowed.allows("127.0.0.1", 8100) and not allowed.allows("127.0.0.1", 8101)
    assert allowed.allows("::1", 9000) and not allowed.allows("::1", 9001)
    assert not AllowedHosts.parse("").allows("127.0.0.1", 80)


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """A stub DNS: host -> addresses, changeable during a test (DNS rebinding)."""
    answers: dict[str, list[str]] = {}

    async def resolve(host: str, port: int) -> list[outbound.IPAddress]:
        if host not in answers:
            raise OSError("no such host")
        return [ipaddress.ip_address(a) for a in answers[host]]

    monkeypatch.setattr(outbound, "resolve_host", resolve)
    return answers


async def test_a_name_is_refused_if_any_of_its_addresses_is_not_public(
    resolver: dict[str, list[str]]
) -> None:
    resolver["mixed.test"] = ["93.184.216.34", "10.0.0.7"]
    resolver["public.test"] = ["93.184.216.34"]
    with pytest.raises(AddressNotAllowed, match=r"not public \(10\.0\.0\.7\)"):
        await checked_addresses("mixed.test", 443, AllowedHosts())
    assert await checked_addresses("public.test", 443, AllowedHosts()) == [
        ipaddress.ip_address("93.184.216.34")]
    assert "could not be resolved" in (
        await destination_problem("http://nowhere.test", AllowedHosts()) or "")


async def test_a_name_that_rebinds_to_a_private_address_is_not_dialled(
    resolver: dict[str, list[str]], listener: Listener
) -> None:
    """Public when configured, loopback when called: the connection is refused on the address
    the client would dial, and nothing reaches the listener behind it."""
    port, received = listener.port, listener.received
    resolver["rebind.test"] = ["93.184.216.34"]
    assert await destination_problem(f"http://rebind.test:{port}", AllowedHosts()) is None
    resolver["rebind.test"] = ["127.0.0.1"]
    async with guarded_client(f"http://rebind.test:{port}", AllowedHosts(), timeout=5) as http:
        with pytest.raises(AddressNotAllowed, match="not public"):
            await http.get("/identity/oauth/token", params={"client_secret": "s"})
    assert received == []


async def test_make_runs_loopback_permission_opens_loopback_and_nothing_else() -> None:
    """`make run` lets a receiver on this machine be tried (OUTBOUND_ALLOW_LOOPBACK); it is
    off by default, and private or other local addresses stay refused with it."""
    from service.infra.config import Settings
    assert Settings().outbound_allow_loopback is False
    assert Settings().allowed_hosts.loopback is False
    dev = AllowedHosts.parse("", loopback=True)
    for address in ("127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"):
        assert await checked_addresses(address, 80, dev) == [ipaddress.ip_address(address)]
        with pytest.raises(AddressNotAllowed):
            await checked_addresses(address, 80, AllowedHosts())
    for address in ("10.1.2.3", "192.168.1.1", "169.254.169.254", "0.0.0.0", "fc00::1",
                    "fe80::1", "100.64.0.1"):
        with pytest.raises(AddressNotAllowed):
            await checked_addresses(address, 80, dev)


async def test_an_allowed_host_is_dialled_and_a_literal_private_address_is_not(
    listener: Listener
) -> None:
    port, received = listener.port, listener.received
    allowed = AllowedHosts.parse(f"127.0.0.1:{port}")
    async with guarded_client(f"http://127.0.0.1:{port}", allowed, timeout=5) as http:
        assert (await http.get("/x")).status_code == 500
    async with guarded_client(f"http://127.0.0.2:{port}", allowed, timeout=5) as http:
        with pytest.raises(AddressNotAllowed):
            await http.get("/x")
    assert len(received) == 1


async def test_redirects_are_not_followed(listener: Listener) -> None:
    """The redirect points at another host the client could reach; it is never called."""
    async def redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(f"HTTP/1.1 302 Found\r\nlocation: {listener.url}/\r\n"
                     "content-length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(redirect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, guarded_client(f"http://127.0.0.1:{port}",
                                      AllowedHosts.parse("127.0.0.1"), timeout=5) as http:
        response = await http.get("/")
    assert response.status_code == 302 and not response.history
    assert listener.received == []


def test_messages_lose_url_queries_and_secret_parameters() -> None:
    message = ("Server error '500' for url 'http://h:1/identity/oauth/token?grant_type=x&"
               "client_id=a&client_secret=S3CR3T' then client_secret=OTHER&x=1")
    cleaned = redact(message)
    assert "S3CR3T" not in cleaned and "OTHER" not in cleaned
    assert "http://h:1/identity/oauth/token?…" in cleaned


def test_log_lines_are_redacted_tracebacks_included() -> None:
    formatter = RedactingFormatter(processors=[
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        structlog.processors.format_exc_info, structlog.processors.JSONRenderer()])
    try:
        raise httpx.HTTPError("for url 'https://m.test/identity/oauth/token?client_secret=TOP'")
    except httpx.HTTPError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1,
                                   "calling https://m.test/a?client_secret=TOP", None,
                                   exc_info=sys.exc_info())
    text = formatter.format(record)
    assert "TOP" not in text and "m.test/a?…" in text
