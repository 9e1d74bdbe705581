"""Attack on resources: closing the HTTP request mid-call left its generation running to the end."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("mcp")

ROOT = Path(__file__).resolve().parent.parent.parent
VIDEOS = ROOT / "tests" / "data" / "videos"
BBB = str(VIDEOS / "bigbuckbunny.mp4")
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def test_closing_the_http_request_cancels_its_job(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VT_AGENT_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mcp_server", "--transport", "http", "--port", str(port), "--backend", "fake",
             "--allow", str(VIDEOS), "--backend-option", "delay_s=0.05", "--backend-option", "chunk_chars=1"],
            env=env, cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18",
                "capabilities": {}, "clientInfo": {"name": "dropper", "version": "1"}}}  # fmt: skip
        with httpx.Client(timeout=30) as http:
            answer = http.post(url, json=init, headers=HEADERS)
            assert answer.status_code == 200, answer.text
            session = {**HEADERS, "mcp-session-id": answer.headers["mcp-session-id"],
                       "mcp-protocol-version": "2025-06-18"}  # fmt: skip
            http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session)
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "video_reason",
                "arguments": {"videos": [BBB], "question": "What happens?", "wait_s": 120},
                "_meta": {"progressToken": "p"}}}  # fmt: skip
        with (
            httpx.Client(timeout=60) as http,
            http.stream("POST", url, json=call, headers=session) as response,
        ):
            for line in response.iter_lines():
                if line.startswith("data:") and "generate" in json.dumps(json.loads(line[5:])):
                    break  # generation has started: drop the connection
        deadline = time.monotonic() + 10
        while "closed the HTTP request" not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    text = log_path.read_text()
    assert "cancelled: the client closed the HTTP request" in text, text
    assert "done in" not in text  # the generation did not run to its end
