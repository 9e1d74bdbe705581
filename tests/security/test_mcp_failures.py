"""Attacks through failures: inputs that crashed the tool with an empty error, and leaked secrets."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp")

from mcp import Client
from mcp_types import CallToolResult

from mcp_server.redact import RedactingFilter, Redactor
from mcp_server.server import create_server
from mcp_server.settings import ServerSettings, load_settings
from vt_agent.backends.fake_backend import FakeBackend
from vt_agent.errors import BackendUnavailableError

VIDEOS = Path(__file__).resolve().parent.parent / "data" / "videos"
BBB = str(VIDEOS / "bigbuckbunny.mp4")
BASE_URL = "http://vtuser:hunter2-pass@gpu-box:8000/v1"
API_KEY = "sk-api-key-0123456789"
TOKEN = "mcp-token-0123456789abcdef"


def _calls(settings: ServerSettings, videos: list[list[str]], backend: Any = None) -> list[CallToolResult]:
    async def main() -> list[CallToolResult]:
        async with Client(create_server(settings, backend=backend)) as client:
            return [
                await client.call_tool("video_reason", {"videos": v, "question": "What happens?"})
                for v in videos
            ]

    return anyio.run(main)


@pytest.mark.parametrize(
    ("video", "expected"),
    [
        ("file:///videos/a%00b.mp4", "NUL"),
        ("file://" + BBB + "%00", "NUL"),
        ("~nosuchuser0xdead/clip.mp4", "outside the folders"),
        ("~/clip.mp4", "outside the folders"),
    ],
)
def test_inputs_that_crashed_are_tool_errors_with_advice_and_one_log_line(
    video: str, expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mcp_server")
    settings = load_settings({"backend": "fake", "allowed_roots": [str(VIDEOS)]}, environ={})
    bad, good = _calls(settings, [[video], [BBB]])
    assert bad.is_error
    text = bad.content[0].text  # type: ignore[union-attr]
    assert expected in text and text.strip() != "Error executing tool video_reason"
    assert not good.is_error  # the server goes on
    lines = [r for r in caplog.records if r.name == "mcp_server" and "refused" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None and "Traceback" not in caplog.text


class _Unreachable(FakeBackend):
    def stream(self, request: Any) -> Any:
        raise BackendUnavailableError(
            f"cannot reach the OpenAI-compatible server at {BASE_URL} (ConnectError)"
        )


def _secret_settings() -> ServerSettings:
    return load_settings(
        {"backend": "openai", "base_url": BASE_URL, "api_key": API_KEY, "token": TOKEN,
         "allowed_roots": [str(VIDEOS)]},
        environ={},
    )  # fmt: skip


def test_secrets_never_appear_in_repr_tool_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    settings = _secret_settings()
    for shown in (repr(settings), str(settings), repr(settings.backend)):
        for secret in ("hunter2-pass", API_KEY, TOKEN):
            assert secret not in shown
    (res,) = _calls(settings, [[BBB]], backend=_Unreachable())
    text = res.content[0].text  # type: ignore[union-attr]
    assert res.is_error and "gpu-box:8000" in text and "--base-url" in text
    assert "hunter2-pass" not in text and "vtuser" not in text
    # the CLI's log handler filter
    handler = logging.Handler()
    records: list[str] = []
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    handler.addFilter(RedactingFilter(Redactor.from_settings(settings)))
    log = logging.getLogger("vt_agent.test_redaction")
    log.addHandler(handler)
    try:
        log.warning("connecting to %s with key %s (token %s)", BASE_URL, API_KEY, TOKEN)
    finally:
        log.removeHandler(handler)
    assert records and all(s not in records[0] for s in ("hunter2-pass", API_KEY, TOKEN))
