"""The three graphs served by ``langgraph dev`` (blocking calls refused, as users run it), driven
with ``langgraph-sdk``: JSON contexts, ``values``/``custom`` streams, a step at a time, interrupts
between steps, an edit, resuming, thread history. Fake backend, bundled clips."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("langgraph_sdk")
pytest.importorskip("langgraph_api")
pytest.importorskip("av")

from langgraph_sdk import get_client

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
Q = "What animal is the main character of this clip?"
OPTIONS = ["A fox", "A rabbit", "A bear", "A squirrel"]
CONTEXT = {"backend": "fake"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _langgraph() -> str:
    found = Path(sys.executable).parent / "langgraph"
    if found.exists():
        return str(found)
    which = shutil.which("langgraph")
    if which is None:
        pytest.skip("the langgraph CLI is not installed (pip install 'vt-agent[dev]')")
    return which


@contextlib.contextmanager
def _serve(log: Path, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """``langgraph dev`` on a free port, as users run it; its log checked for blocking calls."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LANGGRAPH_NO_BROWSER": "1", **(extra_env or {})}
    env.pop("BG_JOB_ISOLATION", None)
    args = [_langgraph(), "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"langgraph dev exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"langgraph dev did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
        text = log.read_text()
        assert "BlockingError" not in text, text[text.index("BlockingError") - 2000 :][:4000]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _serve(tmp_path_factory.mktemp("langgraph") / "server.log") as url:
        yield url


def _bbb() -> str:
    return str(ROOT / "tests" / "data" / "videos" / "bigbuckbunny.mp4")


async def _stream(client: Any, thread: str | None, graph: str, **kw: Any) -> list[tuple[str, Any]]:
    parts = []
    async for part in client.runs.stream(thread, graph, stream_mode=["values", "custom"], **kw):
        assert part.event != "error", part.data
        parts.append((part.event, part.data))
    return parts


def test_schemas_studio_renders(server: str) -> None:
    async def go() -> None:
        client = get_client(url=server)
        for a in await client.assistants.search(limit=10):
            schemas = await client.assistants.get_schemas(a["assistant_id"])
            ctx = schemas["context_schema"]
            assert ctx and {"backend", "model", "base_url", "preset", "max_tokens"} <= set(ctx["properties"])

    asyncio.run(go())


def test_video_thinker_steps_interrupt_edit_resume_history(server: str) -> None:
    async def go() -> None:
        client = get_client(url=server)
        inputs = {"videos": [_bbb()], "question": Q, "options": OPTIONS}
        # a whole run: the values stream shows the steps one at a time
        parts = await _stream(client, None, "video_thinker", input=inputs, context=CONTEXT)
        counts = [len(d.get("segments", [])) for e, d in parts if e == "values"]
        grown = [c for i, c in enumerate(counts) if i == 0 or c != counts[i - 1]]
        assert grown == [0, 1, 2]
        custom = [d for e, d in parts if e == "custom"]
        assert [d["index"] for d in custom if d["type"] == "segment"] == [0, 1]
        assert [d["letter"] for d in custom if d["type"] == "answer"] == ["B"]
        assert [d for e, d in parts if e == "values"][-1]["answer"] == "B"

        # interrupts between steps: read the step, edit it, resume, keep the next one
        thread = (await client.threads.create())["thread_id"]
        review = {**CONTEXT, "interrupt_steps": True}
        await _stream(client, thread, "video_thinker", input=inputs, context=review)
        state = await client.threads.get_state(thread)
        assert state["next"] == ["review"]
        (pause,) = state["tasks"][0]["interrupts"]
        assert pause["value"]["index"] == 0 and pause["value"]["step"]["caption"]
        edit = {"caption": "A grey rabbit climbs out of its burrow.", "start_s": 0.0, "end_s": 3.0}
        await _stream(client, thread, "video_thinker", command={"resume": edit}, context=review)
        state = await client.threads.get_state(thread)
        assert state["values"]["segments"][0]["caption"] == edit["caption"]
        assert state["tasks"][0]["interrupts"][0]["value"]["index"] == 1
        parts = await _stream(client, thread, "video_thinker", command={"resume": "keep"}, context=review)
        final = [d for e, d in parts if e == "values"][-1]
        assert final["answer"] == "B" and final["segments"][0]["caption"] == edit["caption"]
        assert (final["segments"][0]["start_s"], final["segments"][0]["end_s"]) == (0.0, 3.0)
        history = await client.threads.get_history(thread, limit=50)
        paused = sorted({len(h["values"]["segments"]) for h in history if h["values"].get("paused")})
        assert paused == [1, 2]  # a checkpoint after each step

        # a context without a model: the error names the JSON fields to send
        bad = [
            p async for p in client.runs.stream(None, "video_thinker", input=inputs, context={"bakend": "x"})
        ]
        errors = [p.data for p in bad if p.event == "error"]
        assert errors and "backend, model, base_url" in str(errors[0])

    asyncio.run(go())


def test_multi_video_and_triage(server: str) -> None:
    async def go() -> None:
        client = get_client(url=server)
        videos = str(ROOT / "tests" / "data" / "videos")
        parts = await _stream(
            client,
            None,
            "multi_video",
            input={
                "videos": [f"{videos}/bigbuckbunny.mp4", f"{videos}/vtest.avi"],
                "question": "Which video shows a rabbit?",
                "options": ["Video 1", "Video 2", "None of them"],
            },
            context=CONTEXT,
        )
        types = {d["type"] for e, d in parts if e == "custom"}
        assert {"plan", "video_start", "video_done"} <= types
        assert "kind" in [d for e, d in parts if e == "values"][-1]
        thread = (await client.threads.create())["thread_id"]
        parts = await _stream(
            client,
            thread,
            "triage",
            input={"video": f"{videos}/vtest.avi", "query": "people walk by", "window_s": 30.0},
            context={**CONTEXT, "concurrency": 2},
        )
        windows = [d for e, d in parts if e == "custom" and d["type"] == "window"]
        report = [d for e, d in parts if e == "values"][-1]["report"]
        assert len(windows) == len(report["windows"]) >= 3
        assert len(await client.threads.get_history(thread, limit=50)) >= 3

    asyncio.run(go())


def test_video_thinker_on_the_tiny_model(server: str) -> None:
    """A real engine on the server: transformers with the tiny random checkpoint, loaded from a
    JSON context (in a worker thread: the log must hold no BlockingError)."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from vt_agent.tiny import build_tiny_checkpoint

    context = {"backend": "transformers", "model": str(build_tiny_checkpoint()), "device": "cpu"}
    context |= {"max_tokens": 24, "max_repairs": 0}

    async def go() -> None:
        client = get_client(url=server)
        inputs = {"videos": [_bbb()], "question": Q, "options": OPTIONS}
        parts = await _stream(client, None, "video_thinker", input=inputs, context=context)
        final = [d for e, d in parts if e == "values"][-1]
        assert final["result"]["backend"] == "transformers" and final["result"]["scripted"] is False
        assert final["attempts"] == 1 and isinstance(final["segments"], list)
        stages = {d["stage"] for e, d in parts if e == "custom" and d["type"] == "progress"}
        assert {"decode", "load", "generate"} <= stages
        assert any(d["type"] == "token" for e, d in parts if e == "custom")

    asyncio.run(go())


def test_allowed_roots_of_the_server(tmp_path: Path) -> None:
    """VT_AGENT_ALLOWED_ROOTS in the server's environment: clients read videos beneath it only
    (relative paths beneath the first folder), whatever their JSON context says; a path outside
    fails the run with one message whatever exists there, and nothing blocks the server's loop."""
    videos = str(ROOT / "tests" / "data" / "videos")

    async def go(url: str) -> None:
        client = get_client(url=url)
        parts = await _stream(
            client, None, "video_thinker", input={"videos": ["bigbuckbunny.mp4"], "question": Q, "options": OPTIONS},
            context=CONTEXT,
        )  # fmt: skip
        assert [d for e, d in parts if e == "values"][-1]["answer"] == "B"
        for outside in ("/etc/hostname", "/no/such/file.mp4", "../../pyproject.toml"):
            errors = [
                part.data
                async for part in client.runs.stream(
                    None, "video_thinker", input={"videos": [outside], "question": Q}, context=CONTEXT
                )
                if part.event == "error"
            ]
            assert errors and "is not inside the allowed folders" in str(errors[0]), errors
            assert "No such file" not in str(errors[0]) and "hostname" not in str(errors[0]).replace(
                outside, ""
            )

    with _serve(tmp_path / "server.log", {"VT_AGENT_ALLOWED_ROOTS": videos}) as url:
        asyncio.run(go(url))
