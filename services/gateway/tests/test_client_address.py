"""Who the client is (client_address.py): X-Forwarded-For only from trusted proxies, read from
the right; the setting; and uvicorn, which must not rewrite the address by itself."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import uvicorn
from ck_gateway import main
from ck_gateway.client_address import (
    parse_ip,
    parse_trusted_proxies,
    resolve_client,
    throttle_subject,
)
from ck_gateway.settings import GatewaySettings, get_settings
from ck_testkit import free_port
from pydantic import ValidationError

PROXIES = parse_trusted_proxies("10.9.0.0/16, 192.0.2.1, 2001:db8:ffff::/48")


def test_the_setting_is_a_comma_separated_list_of_addresses_and_networks() -> None:
    assert parse_trusted_proxies("") == ()
    assert parse_trusted_proxies(" , ") == ()
    assert [str(n) for n in PROXIES] == ["10.9.0.0/16", "192.0.2.1/32", "2001:db8:ffff::/48"]
    with pytest.raises(ValueError, match="nonsense"):
        parse_trusted_proxies("10.0.0.0/8, nonsense")
    assert get_settings(trusted_proxies="10.9.0.0/16").trusted_proxy_networks() == PROXIES[:1]
    with pytest.raises(ValidationError):
        GatewaySettings(trusted_proxies="10.0.0.0/8; 10.1.0.0/16")


def test_a_bad_setting_stops_the_gateway_with_its_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GATEWAY_TRUSTED_PROXIES", "10.0.0.0/8, proxy.example")
    with pytest.raises(SystemExit) as stopped:
        main.main()
    assert stopped.value.code == 2
    assert "GATEWAY_TRUSTED_PROXIES" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        # The peer is not a trusted proxy: the header is ignored, whatever it says.
        ("203.0.113.5", ["198.51.100.1"], "203.0.113.5"),
        # The peer is a trusted proxy: the entry it appended is the client.
        ("10.9.0.5", ["198.51.100.1"], "198.51.100.1"),
        # What the client wrote itself (left of the proxy's entry) is not believed.
        ("10.9.0.5", ["1.1.1.1, 8.8.8.8, 198.51.100.1"], "198.51.100.1"),
        # Trusted hops are skipped from the right, across repeated headers too.
        ("10.9.0.5", ["1.1.1.1, 198.51.100.1", "192.0.2.1, 10.9.3.3"], "198.51.100.1"),
        # Every hop trusted: the leftmost.
        ("10.9.0.5", ["10.9.1.1, 192.0.2.1"], "10.9.1.1"),
        # A trusted proxy without the header: the proxy.
        ("10.9.0.5", [], "10.9.0.5"),
        # Something that is no address: stop at the last hop known for sure.
        ("10.9.0.5", ["198.51.100.1, unknown"], "10.9.0.5"),
        ("10.9.0.5", ["198.51.100.1, _hidden, 10.9.0.7"], "10.9.0.7"),
        # Ports, brackets, blanks, IPv6, IPv4-mapped addresses.
        ("10.9.0.5", ["198.51.100.1:4711"], "198.51.100.1"),
        ("10.9.0.5", ["[2001:db8::1]:443"], "2001:db8::1"),
        ("10.9.0.5", ["2001:db8::1, ,"], "2001:db8::1"),
        ("2001:db8:ffff::2", ["::ffff:198.51.100.1"], "198.51.100.1"),
        ("::ffff:10.9.0.5", ["198.51.100.1"], "198.51.100.1"),
        # An untrusted peer that names a trusted proxy: still the peer.
        ("203.0.113.5", ["10.9.0.5"], "203.0.113.5"),
        # No peer, or a peer that is no IP address (a test transport, a unix socket).
        (None, ["198.51.100.1"], "unknown"),
        ("testclient", ["198.51.100.1"], "testclient"),
    ],
)
def test_the_client_is_the_first_untrusted_hop_from_the_right(
    peer: str | None, forwarded: list[str], client: str
) -> None:
    assert resolve_client(peer, forwarded, PROXIES) == client


def test_by_default_no_proxy_is_trusted() -> None:
    assert get_settings().trusted_proxy_networks() == ()
    assert resolve_client("10.9.0.5", ["198.51.100.1"], ()) == "10.9.0.5"
    assert resolve_client("127.0.0.1", ["198.51.100.1"], ()) == "127.0.0.1"


def test_ipv6_clients_are_counted_by_their_network() -> None:
    assert throttle_subject("2001:db8:1:2:3:4:5:6") == "2001:db8:1::/56"
    assert throttle_subject("2001:db8:1:ff:1::") == "2001:db8:1::/56"
    assert throttle_subject("198.51.100.1") == "198.51.100.1"
    assert throttle_subject("testclient") == "testclient"
    assert parse_ip("[2001:db8::1") is None


# --- uvicorn as ck-gateway starts it ----------------------------------------------------------
async def client_seen(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app that answers with the client address uvicorn hands to the app."""
    assert scope["type"] == "http"
    body = str(scope["client"][0]).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def test_uvicorn_never_rewrites_the_client_from_forwarded_headers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uvicorn trusts X-Forwarded-For from FORWARDED_ALLOW_IPS (default 127.0.0.1) unless its
    proxy headers are off: ck-gateway turns them off, so only GATEWAY_TRUSTED_PROXIES counts."""
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    settings = get_settings(host="127.0.0.1", port=free_port())
    config = main.uvicorn_config(client_seen, settings)
    assert config.proxy_headers is False
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(200):  # at most 10 s
            if server.started:
                break
            await asyncio.sleep(0.05)
        assert server.started
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.port}") as http:
            response = await http.get(
                "/", headers={"X-Forwarded-For": "198.51.100.1", "X-Forwarded-Proto": "https"}
            )
        assert response.text == "127.0.0.1"
    finally:
        server.should_exit = True
        await serving
