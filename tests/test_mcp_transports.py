"""``vt-agent-mcp`` as a subprocess: stdio and streamable HTTP on 127.0.0.1 (fake backend, real clip)."""

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
import httpx
import pytest
from mcp import Client, StdioServerParameters

ROOT = Path(__file__).resolve().parent.parent
VIDEOS = ROOT / "tests" / "data" / "videos"
BBB = str(VIDEOS / "bigbuckbunny.mp4")
TOKEN = "test-token-abcdef0123456789"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VT_AGENT_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_stdio_subprocess_call() -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_server", "--backend", "fake", "--allow", str(VIDEOS)],
        env=_env(),
        cwd=str(ROOT),
    )

    async def go() -> tuple[Any, Any, Any]:
        async with Client(params) as client:
            tools = await client.list_tools()
            bad = await client.call_tool("video_reason", {"videos": ["/etc/passwd"], "question": "q"})
            good = await client.call_tool(
                "video_reason",
                {"videos": [BBB], "question": "What does the rabbit do?", "options": ["a", "b"]},
            )
            return tools, bad, good

    tools, bad, good = anyio.run(go)
    assert [t.name for t in tools.tools] == ["video_reason"]
    assert bad.is_error and "outside the folders" in bad.content[0].text
    assert not good.is_error
    assert good.structured_content["status"] == "done" and good.structured_content["answer"] in {"A", "B"}
    assert any(c.type == "image" for c in good.content)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture()
def http_server() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mcp_server",
            "--transport",
            "http",
            "--port",
            str(port),
            "--backend",
            "fake",
            "--allow",
            str(VIDEOS),
            "--token",
            TOKEN,
        ],
        env=_env(),
        cwd=str(ROOT),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"server did not start: {err}") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_streamable_http_with_token(http_server: str) -> None:
    # no token, or a wrong one: 401 before any MCP processing
    assert httpx.post(http_server, json={}).status_code == 401
    assert httpx.post(http_server, json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401

    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    async def go() -> Any:
        progress: list[str] = []

        async def on_progress(p: float, total: float | None, message: str | None) -> None:
            progress.append(message or "")

        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as http,
            Client(streamable_http_client(http_server, http_client=http)) as client,
        ):
            res = await client.call_tool(
                "video_reason", {"videos": [BBB], "question": "What happens?"}, progress_callback=on_progress
            )
            return res, progress

    res, progress = anyio.run(go)
    assert not res.is_error
    assert res.structured_content["status"] == "done" and res.structured_content["segments"]
    assert any(m.startswith("segment") for m in progress)


@pytest.mark.slow
def test_stdio_subprocess_with_the_tiny_real_checkpoint(tmp_path: Path) -> None:
    """The real transformers path end to end (tiny random weights: the text is noise, the pipeline is real)."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    env = _env()
    env["XDG_CACHE_HOME"] = str(tmp_path)
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_server", "--backend", "auto", "--max-tokens", "16", "--allow", str(VIDEOS)],
        env=env,
        cwd=str(ROOT),
    )

    async def go() -> Any:
        async with Client(params, read_timeout_seconds=300) as client:
            return await client.call_tool(
                "video_reason",
                {"videos": [BBB], "question": "What happens?", "options": ["a", "b"], "wait_s": 240},
            )

    res = anyio.run(go)
    assert not res.is_error, res.content
    data = res.structured_content
    assert data["backend"] == "transformers" and "tiny" in data["model"]
    assert data["finish_reason"] == "length" and data["timings"]["generated_chars"] > 0
    assert data["videos"][0]["video_tokens"] > 0 and data["scripted"] is False


@pytest.mark.parametrize("wait", ["45", "0"])
def test_example_client_runs(wait: str) -> None:
    """examples/mcp_client.py, direct answer and through the job handle (wait 0)."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "mcp_client.py"), "--wait", wait],
        env=_env(),
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "answer: B (scripted fake backend)" in out.stdout
    assert "evidence images: 2" in out.stdout
    assert ("polling job" in out.stdout) == (wait == "0")


def test_cli_refuses_non_loopback_http_without_a_token() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mcp_server", "--transport", "http", "--host", "0.0.0.0", "--backend", "fake"],
        env=_env(),
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "needs a bearer token" in out.stderr and "--token" in out.stderr


def test_cli_names_bad_roots_and_settings_met_at_startup_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mcp_server.cli import main

    a_file = tmp_path / "clip.mp4"
    a_file.write_bytes(b"x")
    assert main(["--allow", str(tmp_path / "absent"), "--backend", "fake"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["--allow", str(a_file), "--backend", "fake"]) == 2
    assert "is not a folder" in capsys.readouterr().err
    # an unknown preset is met while the server starts (its lifespan): one line, exit 2
    out = subprocess.run(
        [sys.executable, "-m", "mcp_server", "--allow", str(tmp_path), "--backend", "fake", "--preset", "nope"],
        env=_env(), cwd=str(ROOT), capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert "unknown preset 'nope'" in out.stderr and "Traceback" not in out.stderr


def test_stdio_cancellation_from_the_client_stops_the_job(tmp_path: Path) -> None:
    """notifications/cancelled over the wire: the server cancels the job (and so the generation)."""
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_server", "--backend", "fake", "--allow", str(VIDEOS),
              "--backend-option", "delay_s=0.05", "--backend-option", "chunk_chars=1"],
        env=_env(),
        cwd=str(ROOT),
    )  # fmt: skip
    log_path = tmp_path / "server.log"

    async def go() -> Any:
        with log_path.open("w") as errlog:
            async with Client(stdio_client(params, errlog=errlog)) as client:
                generating = anyio.Event()

                async def on_progress(p: float, total: float | None, message: str | None) -> None:
                    if (message or "").startswith("generate"):
                        generating.set()

                async with anyio.create_task_group() as tg:

                    async def call() -> None:
                        await client.call_tool(
                            "video_reason",
                            {"videos": [BBB], "question": "What happens?"},
                            progress_callback=on_progress,
                        )

                    tg.start_soon(call)
                    with anyio.fail_after(60):
                        await generating.wait()
                    tg.cancel_scope.cancel()
                await anyio.sleep(0.5)
                return await client.call_tool("video_reason", {"videos": [BBB], "question": "q", "wait_s": 0})

    after = anyio.run(go)
    assert not after.is_error and after.structured_content["status"] == "running"
    log = log_path.read_text()
    assert "cancelled by the client" in log, log
