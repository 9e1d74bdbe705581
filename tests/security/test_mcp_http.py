"""Attacks on the HTTP transport: loopback is not one address; forged Host/Origin; no token."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("mcp")
from starlette.testclient import TestClient

from mcp_server.server import create_server
from mcp_server.settings import load_settings
from mcp_server.transports import http_app
from vt_agent.errors import ConfigError

VIDEOS = Path(__file__).resolve().parent.parent / "data" / "videos"
TOKEN = "tok-0123456789abcdef0123"
BODY = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.mark.parametrize("host", ["127.0.0.2", "127.255.255.254", "0.0.0.0", "::", "192.168.1.10"])
def test_any_address_but_the_three_loopback_names_needs_a_token(host: str) -> None:
    with pytest.raises(ConfigError, match=r"needs a bearer token.*--token.*VT_AGENT_MCP_TOKEN"):
        load_settings({"transport": "http", "host": host}, environ={})


def _post(host: str, port: int, token: str | None, headers: dict[str, str]) -> int:
    settings = load_settings(
        {"transport": "http", "host": host, "port": port, "token": token, "backend": "fake",
         "allowed_roots": [str(VIDEOS)]},
        environ={},
    )  # fmt: skip
    app = http_app(create_server(settings), settings)
    all_headers = {**HEADERS, **headers}
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    with TestClient(app, base_url=f"http://{host}:{port}") as client:
        return client.post("/mcp", json=BODY, headers=all_headers).status_code


@pytest.mark.parametrize(
    ("bound", "token", "good_host"),
    [
        ("127.0.0.2", TOKEN, "127.0.0.2:8765"),
        ("0.0.0.0", TOKEN, "localhost:8765"),
        ("192.168.1.10", TOKEN, "192.168.1.10:8765"),
        ("127.0.0.1", None, "127.0.0.1:8765"),
    ],
)
def test_forged_host_and_origin_are_refused_on_every_address(
    bound: str, token: str | None, good_host: str
) -> None:
    """DNS rebinding: a page on evil.example resolves its name to the bound address."""
    assert _post(bound, 8765, token, {"Host": "evil.example:8765"}) == 421
    assert _post(bound, 8765, token, {"Host": good_host, "Origin": "http://evil.example:8765"}) == 403
    assert _post(bound, 8765, token, {"Host": good_host, "Origin": f"http://{good_host}"}) == 200


def test_wrong_or_missing_token_is_refused_before_any_mcp_processing() -> None:
    assert _post("127.0.0.2", 8765, TOKEN, {"Host": "127.0.0.2:8765"}) == 200
    settings = load_settings(
        {"transport": "http", "host": "127.0.0.2", "port": 8765, "token": TOKEN, "backend": "fake"},
        environ={},
    )
    with TestClient(http_app(create_server(settings), settings), base_url="http://127.0.0.2:8765") as client:
        assert client.post("/mcp", json=BODY, headers=HEADERS).status_code == 401
        wrong = {**HEADERS, "Authorization": "Bearer " + TOKEN[:-1] + "x"}
        assert client.post("/mcp", json=BODY, headers=wrong).status_code == 401
