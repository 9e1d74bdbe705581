"""``vt-agent-mcp --transport http``: bind problems are one line naming the flag and what to do."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

pytest.importorskip("mcp")

from mcp_server.cli import main

VIDEOS = Path(__file__).resolve().parent / "data" / "videos"
TOKEN = "test-token-abcdef0123456789"
NOT_PLAIN = ("Errno", "Input should", "Value error", "pydantic", "Traceback", "validation error")


def _run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    for name in ("VT_AGENT_MCP_TOKEN", "VT_AGENT_MCP_PORT", "VT_AGENT_MCP_HOST", "VT_AGENT_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    code = main(
        ["--transport", "http", "--backend", "fake", "--allow", str(VIDEOS), "--log-level", "ERROR", *args]
    )
    err = capsys.readouterr().err.strip()
    return code, err


def test_port_in_use(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, err = _run(capsys, monkeypatch, "--port", str(port))
    assert code == 2 and err.count("\n") == 0, err
    assert f"port {port} is already in use on 127.0.0.1" in err and "--port 0" in err
    assert not any(word in err for word in NOT_PLAIN), err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--port", "99999"), "--port 99999 (or VT_AGENT_MCP_PORT): must be at most 65535"),
        (("--port", "-5"), "--port -5 (or VT_AGENT_MCP_PORT): must be at least 0"),
        (
            ("--host", "10.255.255.1", "--token", TOKEN, "--port", "0"),
            "--host 10.255.255.1 is not an address of",
        ),
        (("--host", "no-such-host.invalid", "--token", TOKEN), "--host no-such-host.invalid: not an address"),
        (("--host", "0.0.0.0"), "binding HTTP to 0.0.0.0 needs a bearer token"),
        (
            ("--token", "short"),
            "--token (or VT_AGENT_MCP_TOKEN): the bearer token must be at least 16 characters",
        ),
    ],
)
def test_bad_bind_settings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], expected: str
) -> None:
    code, err = _run(capsys, monkeypatch, *args)
    assert code == 2 and expected in err, err
    assert err.startswith("vt-agent-mcp: ") and err.count("\n") == 0
    assert not any(word in err for word in NOT_PLAIN), err
    assert "short" not in err.split(":", 1)[1].replace("at least", "")  # a token is never echoed
