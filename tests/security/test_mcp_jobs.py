"""Attack: another MCP session polls, collects or cancels a job it did not start.

One HTTP server process, two clients with their own MCP sessions (the same token: the session
tells them apart).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp")

from mcp import Client
from mcp_types import CallToolResult

ROOT = Path(__file__).resolve().parent.parent.parent
VIDEOS = ROOT / "tests" / "data" / "videos"
BBB = str(VIDEOS / "bigbuckbunny.mp4")
TOKEN = "jobs-token-0123456789abcdef"


@pytest.fixture()
def server_url() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VT_AGENT_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcp_server", "--transport", "http", "--port", str(port), "--token", TOKEN,
         "--backend", "fake", "--allow", str(VIDEOS), "--backend-option", "delay_s=0.01",
         "--backend-option", "chunk_chars=4"],
        env=env, cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _no_job_text(res: CallToolResult) -> str:
    assert res.is_error
    text = res.content[0].text  # type: ignore[union-attr]
    job_id = text.split("No job ")[1].split(" ")[0]
    return text.replace(job_id, "<ID>")


def test_a_job_belongs_to_the_session_that_started_it(server_url: str) -> None:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    def client(http: Any) -> Client:
        return Client(streamable_http_client(server_url, http_client=http), mode="legacy")

    async def main() -> tuple[CallToolResult, ...]:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as http_a,
            httpx2.AsyncClient(headers=headers, timeout=60) as http_m,
            client(http_a) as alice,
            client(http_m) as mallory,
        ):
            started = await alice.call_tool("video_reason", {"videos": [BBB], "question": "q", "wait_s": 0})
            assert started.structured_content is not None
            job_id = started.structured_content["job_id"]
            unknown = await mallory.call_tool("video_reason", {"job_id": "0123456789abcdef"})
            polled = await mallory.call_tool("video_reason", {"job_id": job_id, "wait_s": 5})
            cancelled = await mallory.call_tool("video_reason", {"job_id": job_id, "cancel": True})
            mine = await alice.call_tool("video_reason", {"job_id": job_id, "wait_s": 60})
            return unknown, polled, cancelled, mine

    unknown, polled, cancelled, mine = anyio.run(main)
    assert _no_job_text(polled) == _no_job_text(cancelled) == _no_job_text(unknown)
    assert not mine.is_error and mine.structured_content is not None
    assert mine.structured_content["status"] == "done"  # neither collected nor cancelled by the other
