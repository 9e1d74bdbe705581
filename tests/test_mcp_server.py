"""The MCP server in-process (``mcp.Client(server)``) with the fake backend on the real clips."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import time
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp")

from mcp import Client
from mcp_types import CallToolResult, ListRootsResult, Root

from mcp_server.server import MAX_RESULT_BYTES, create_server, result_size
from mcp_server.settings import ServerSettings, load_settings
from vt_agent.backends.base import Backend
from vt_agent.backends.fake_backend import FakeBackend

VIDEOS = Path(__file__).resolve().parent / "data" / "videos"
BBB = str(VIDEOS / "bigbuckbunny.mp4")
CITY = str(VIDEOS / "cityCC0.mpg")


def _settings(**values: Any) -> ServerSettings:
    values.setdefault("backend", "fake")
    values.setdefault("allowed_roots", [str(VIDEOS)])
    return load_settings(values, environ={})


def _with_client(
    fn: Callable[[Client], Awaitable[Any]],
    settings: ServerSettings | None = None,
    backend: Backend | None = None,
    **client_kwargs: Any,
) -> Any:
    server = create_server(settings or _settings(), backend=backend)

    async def main() -> Any:
        async with Client(server, **client_kwargs) as client:
            return await fn(client)

    return anyio.run(main)


def _call(args: dict[str, Any], **kw: Any) -> CallToolResult:
    async def go(c: Client) -> CallToolResult:
        return await c.call_tool("video_reason", args)

    result: CallToolResult = _with_client(go, **kw)
    return result


def _error_text(res: CallToolResult) -> str:
    assert res.is_error, res
    text = res.content[0]
    assert text.type == "text"
    return text.text


def test_schema_has_descriptions_and_bounds() -> None:
    async def go(c: Client) -> Any:
        return (await c.list_tools()).tools

    tools = _with_client(go, settings=_settings(max_videos=3, max_question_chars=500, max_options=6))
    assert [t.name for t in tools] == ["video_reason"]
    tool = tools[0]
    assert "cites the spans" in (tool.description or "")
    props = tool.input_schema["properties"]
    assert set(props) == {
        "videos",
        "question",
        "options",
        "preset",
        "thumbnails",
        "wait_s",
        "job_id",
        "cancel",
    }
    for name, prop in props.items():
        assert prop.get("description"), name
    videos = props["videos"]
    assert videos["minItems"] == 1 and videos["maxItems"] == 3
    assert props["question"]["maxLength"] == 500
    assert props["options"]["maxItems"] == 6
    assert props["thumbnails"]["minimum"] == 0 and props["thumbnails"]["maximum"] == 4
    assert "video-thinker-16f" in props["preset"]["enum"]
    assert tool.output_schema is not None
    assert {"answer", "segments", "format", "videos", "timings", "status", "job_id"} <= set(
        tool.output_schema["properties"]
    )
    assert tool.annotations is not None and tool.annotations.read_only_hint


def test_good_call_structured_text_images_progress() -> None:
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(p: float, total: float | None, message: str | None) -> None:
        progress.append((p, total, message))

    async def go(c: Client) -> CallToolResult:
        return await c.call_tool(
            "video_reason",
            {
                "videos": [BBB],
                "question": "What does the rabbit do?",
                "options": ["sleeps", "eats", "runs"],
                "thumbnails": 3,
            },
            progress_callback=on_progress,
        )

    res = _with_client(go)
    assert not res.is_error
    data = res.structured_content
    assert data is not None
    assert data["status"] == "done" and data["job_id"] is None
    assert data["answer"] in {"A", "B", "C"}
    assert data["options"] == ["A. sleeps", "B. eats", "C. runs"]
    assert data["scripted"] is True and data["backend"] == "fake"
    assert data["source"] == "scripted" and data["answer_fallback"] is False  # provenance, as in Result
    segs = data["segments"]
    assert segs and all(s["start_s"] is not None and ":" in s["start"] for s in segs)
    assert all(s["caption"] for s in segs)
    assert data["format"]["ok"] is True
    assert data["videos"][0]["path"] == BBB and len(data["videos"][0]["timestamps_s"]) == 16
    assert data["timings"]["total_s"] > 0
    texts = [c for c in res.content if c.type == "text"]
    images = [c for c in res.content if c.type == "image"]
    option = data["options"][ord(data["answer"]) - ord("A")]  # e.g. "B. eats": letter and option text
    assert texts[0].text.startswith(f"Answer: {option}")
    assert "scripted" in texts[0].text
    assert 1 <= len(images) <= 3 and len(images) == len(data["thumbnails"])
    from PIL import Image

    for img in images:
        assert img.mime_type == "image/jpeg"
        pic = Image.open(io.BytesIO(base64.b64decode(img.data)))
        assert pic.format == "JPEG" and max(pic.size) <= 256
    assert result_size(res) < MAX_RESULT_BYTES
    # progress: decoding, then one step per grounded segment, increasing, ending at 100
    messages = [m or "" for _, _, m in progress]
    assert any(m.startswith("decode") for m in messages)
    assert sum(m.startswith("segment") for m in messages) == len(segs)
    values = [p for p, _, _ in progress]
    assert values == sorted(values) and values[-1] == 100.0
    assert all(t == 100.0 for _, t, _ in progress)


def test_result_stays_under_one_mib_with_four_thumbnails_and_many_videos() -> None:
    res = _call(
        {
            "videos": [BBB, CITY],
            "question": "Which video shows a city street?",
            "options": ["video 1", "video 2"],
            "thumbnails": 4,
            "preset": "fps-2",
        }
    )
    assert not res.is_error, res.content
    assert len(json.dumps(res.model_dump(mode="json", by_alias=True))) < MAX_RESULT_BYTES
    assert len(res.structured_content["videos"]) == 2  # type: ignore[index]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"videos": ["/etc/hostname"], "question": "q"}, "outside the folders"),
        ({"videos": [str(VIDEOS / ".." / "videos" / "bigbuckbunny.mp4")], "question": "q"}, "'..'"),
        ({"videos": [str(VIDEOS)], "question": "q"}, "is a directory"),
        ({"videos": ["/dev/null"], "question": "q"}, "outside the folders"),
        ({"videos": [str(VIDEOS / "missing.mp4")], "question": "q"}, "no such file"),
        ({"videos": [BBB], "question": "x" * 2001}, "at most 2000 characters"),
        ({"videos": [BBB], "question": "q", "options": [f"o{i}" for i in range(11)]}, "at most 10 items"),
        ({"videos": [BBB], "question": "q", "preset": "ultra"}, "Unknown preset 'ultra'"),
        ({"videos": [BBB] * 5, "question": "q"}, "at most 4 items"),
        ({"videos": [], "question": "q"}, "at least 1 item"),
        ({"videos": [BBB], "question": "q", "thumbnails": 9}, "less than or equal to 4"),
        ({"videos": ["https://example.com/clip.mp4"], "question": "q"}, "does not fetch URLs"),
        ({"videos": ["http://127.0.0.1/clip.mp4"], "question": "q"}, "does not fetch URLs"),
        ({"videos": ["ftp://example.com/clip.mp4"], "question": "q"}, "not ftp:// URLs"),
        ({"question": "q"}, "'videos' is missing"),
        ({"videos": [BBB]}, "'question' is missing"),
        ({"videos": [BBB], "question": "  "}, "'question' is empty"),
        ({"videos": [BBB], "question": ""}, "'question' is empty"),
        ({"videos": [BBB], "question": "q", "options": ["a", " "]}, "option is empty"),
        ({"job_id": "0123456789abcdef"}, "No job 0123456789abcdef"),
        ({"job_id": "nope"}, "should match pattern"),
        ({"videos": [BBB], "question": "q", "cancel": True}, "nothing to cancel"),
    ],
)
def test_bad_input_is_a_tool_error_with_advice(args: dict[str, Any], expected: str) -> None:
    assert expected in _error_text(_call(args))


def test_symlink_escape_and_devices_and_corrupt_files(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside.mp4"
    shutil.copy(BBB, outside)
    (root / "link.mp4").symlink_to(outside)
    (root / "inner.mp4").symlink_to(BBB)  # inside a root? no: BBB is outside this server's root
    (root / "devnull.mp4").symlink_to("/dev/null")
    (root / "text.mp4").write_text("this is not a video\n" * 50)
    data = Path(BBB).read_bytes()
    (root / "truncated.mp4").write_bytes(data[:4096])
    (root / "empty.mp4").write_bytes(b"")
    os.mkfifo(root / "fifo.mp4")
    (root / "big.mp4").write_bytes(b"\0" * (2 * 1024 * 1024))
    good = root / "good.mp4"
    shutil.copy(BBB, good)
    settings = _settings(allowed_roots=[str(root)], max_file_mb=1.5)

    async def go(c: Client) -> dict[str, CallToolResult]:
        out: dict[str, CallToolResult] = {}
        for name in ["link", "inner", "devnull", "text", "truncated", "empty", "fifo", "big", "good"]:
            out[name] = await c.call_tool(
                "video_reason", {"videos": [str(root / f"{name}.mp4")], "question": "q"}
            )
        return out

    res = _with_client(go, settings=settings)
    assert "outside the folders" in _error_text(res["link"]) and str(outside) not in _error_text(res["link"])
    assert "outside the folders" in _error_text(res["inner"])
    assert "outside the folders" in _error_text(res["devnull"])
    assert "cannot be used as a video" in _error_text(res["text"])
    assert "cannot be used as a video" in _error_text(res["truncated"])
    assert "empty file" in _error_text(res["empty"])
    assert "not a regular file" in _error_text(res["fifo"])
    assert "larger than this server's limit" in _error_text(res["big"])
    assert not res["good"].is_error  # and the server still answers after every refusal


def test_bad_call_then_good_call_on_the_same_connection() -> None:
    async def go(c: Client) -> tuple[CallToolResult, CallToolResult]:
        bad = await c.call_tool("video_reason", {"videos": ["/etc/passwd"], "question": "q"})
        good = await c.call_tool("video_reason", {"videos": [BBB], "question": "What happens?"})
        return bad, good

    bad, good = _with_client(go)
    assert bad.is_error and not good.is_error
    assert good.structured_content is not None and good.structured_content["status"] == "done"


def test_cancellation_stops_generation() -> None:
    backend = FakeBackend(chunk_chars=2, delay_s=0.05)

    async def go(c: Client) -> tuple[int, int, CallToolResult]:
        async with anyio.create_task_group() as tg:

            async def call() -> None:
                await c.call_tool("video_reason", {"videos": [BBB], "question": "What happens?"})

            tg.start_soon(call)
            with anyio.fail_after(30):
                while backend.chunks_sent < 5:
                    await anyio.sleep(0.02)
            tg.cancel_scope.cancel()
        at_cancel = backend.chunks_sent
        await anyio.sleep(0.5)
        later = backend.chunks_sent
        again = await c.call_tool(
            "video_reason", {"videos": [BBB], "question": "What happens?", "wait_s": 0.1}
        )
        return at_cancel, later, again

    at_cancel, later, again = _with_client(go, backend=backend)
    assert later == at_cancel  # no chunk generated after the cancel
    assert not again.is_error  # the server goes on (this call returns a job handle)
    assert backend.closed  # closed by the lifespan on exit


def test_timeout_is_a_tool_error_saying_what_to_do() -> None:
    backend = FakeBackend(chunk_chars=1, delay_s=0.2)
    t0 = time.perf_counter()
    res = _call(
        {"videos": [BBB], "question": "What happens?"}, settings=_settings(timeout_s=1.5), backend=backend
    )
    assert time.perf_counter() - t0 < 20
    text = _error_text(res)
    assert "limit of 2 s" in text or "limit of 1 s" in text
    assert "shorter video" in text and "--timeout" in text


def test_job_handle_poll_and_pickup() -> None:
    backend = FakeBackend(chunk_chars=8, delay_s=0.01)

    async def go(c: Client) -> tuple[CallToolResult, list[CallToolResult], CallToolResult]:
        first = await c.call_tool("video_reason", {"videos": [BBB], "question": "What happens?", "wait_s": 0})
        job_id = first.structured_content["job_id"]  # type: ignore[index]
        polls = []
        for _ in range(50):
            res = await c.call_tool("video_reason", {"job_id": job_id, "wait_s": 2})
            polls.append(res)
            if res.is_error or res.structured_content["status"] == "done":  # type: ignore[index]
                break
        gone = await c.call_tool("video_reason", {"job_id": job_id})
        return first, polls, gone

    first, polls, gone = _with_client(go, backend=backend)
    assert not first.is_error
    data = first.structured_content
    assert data is not None and data["status"] == "running" and len(data["job_id"]) == 16
    assert data["job_id"] in data["next_step"] and "job_id" in first.content[0].text  # type: ignore[union-attr]
    final = polls[-1]
    assert not final.is_error and final.structured_content["status"] == "done"  # type: ignore[index]
    assert final.structured_content["segments"] and final.structured_content["answer_text"]  # type: ignore[index]
    assert "No job" in _error_text(gone)  # picked up once


def test_job_cancel_by_handle() -> None:
    backend = FakeBackend(chunk_chars=1, delay_s=0.05)

    async def go(c: Client) -> tuple[CallToolResult, int, int]:
        first = await c.call_tool("video_reason", {"videos": [BBB], "question": "What happens?", "wait_s": 0})
        job_id = first.structured_content["job_id"]  # type: ignore[index]
        with anyio.fail_after(30):
            while backend.chunks_sent < 3:
                await anyio.sleep(0.02)
        stopped = await c.call_tool("video_reason", {"job_id": job_id, "cancel": True})
        at = backend.chunks_sent
        await anyio.sleep(0.4)
        return stopped, at, backend.chunks_sent

    stopped, at, later = _with_client(go, backend=backend)
    assert stopped.structured_content["status"] == "cancelled"  # type: ignore[index]
    assert later == at


def test_client_roots_replace_the_server_roots(tmp_path: Path) -> None:
    """Valid MCP roots replace the server's for the call; none valid (or none sent) keep the server's."""
    data_dir = VIDEOS.parent
    settings = _settings(allowed_roots=[str(data_dir)])
    bench_file = data_dir / "bench" / "README.md"
    workspace = tmp_path / "ws"
    workspace.mkdir()
    shutil.copy(BBB, workspace / "clip.mp4")

    def roots_cb(uris: list[str]) -> Any:
        async def cb(context: Any) -> ListRootsResult:
            return ListRootsResult(roots=[Root(uri=u) for u in uris])  # type: ignore[arg-type]

        return cb

    def call(video: str, uris: list[str]) -> CallToolResult:
        return _with_client(  # type: ignore[no-any-return]
            lambda c: c.call_tool("video_reason", {"videos": [video], "question": "What happens?"}),
            settings=settings,
            list_roots_callback=roots_cb(uris),
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert not call(BBB, [VIDEOS.as_uri()]).is_error
        # allowed by the server, but outside the client's root
        other = _error_text(call(str(bench_file), [VIDEOS.as_uri()]))
        assert "outside the folders" in other and str(VIDEOS) in other
        # a client root outside the server's replaces it (the IDE's workspace)
        assert not call(str(workspace / "clip.mp4"), [workspace.as_uri()]).is_error
        assert "outside the folders" in _error_text(call(BBB, [workspace.as_uri()]))
        # declared but empty, or nothing valid (/ is too broad, a missing folder): the server's roots
        assert not call(BBB, []).is_error
        assert not call(BBB, ["file:///", (tmp_path / "absent").as_uri()]).is_error
        assert "outside the folders" in _error_text(call("/etc/hostname", ["file:///"]))


def test_twenty_concurrent_calls_all_answered() -> None:
    backend = FakeBackend(chunk_chars=16, delay_s=0.001)

    async def go(c: Client) -> list[CallToolResult]:
        results: list[CallToolResult] = []

        async def one(i: int) -> None:
            results.append(
                await c.call_tool(
                    "video_reason", {"videos": [BBB], "question": f"What happens? ({i})", "thumbnails": 0}
                )
            )

        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(one, i)
        return results

    results = _with_client(go, settings=_settings(max_concurrency=3, wait_s=120), backend=backend)
    assert len(results) == 20
    assert all(not r.is_error and r.structured_content["status"] == "done" for r in results)  # type: ignore[index]
    assert len(backend.requests) == 20


def test_lifespan_builds_and_closes_the_backend_once() -> None:
    backend = FakeBackend()

    async def go(c: Client) -> None:
        for _ in range(2):
            await c.call_tool("video_reason", {"videos": [BBB], "question": "What happens?", "thumbnails": 0})
        assert not backend.closed

    _with_client(go, backend=backend)
    assert backend.closed and len(backend.requests) == 2


class _FailingBackend(FakeBackend):
    """Fails the first calls with the given errors, then streams normally."""

    def __init__(self, errors: list[BaseException]) -> None:
        super().__init__()
        self.errors = errors

    def stream(self, request: Any) -> Any:
        if self.errors:
            raise self.errors.pop(0)
        return super().stream(request)


def test_backend_failures_are_tool_errors_and_the_server_goes_on() -> None:
    from vt_agent.errors import BackendUnavailableError, ContextLengthError

    backend = _FailingBackend(
        [
            RuntimeError("engine exploded"),
            BackendUnavailableError("cannot reach http://gpu:8000/v1"),
            ContextLengthError("prompt of 40000 tokens exceeds 32768"),
        ]
    )

    async def go(c: Client) -> list[CallToolResult]:
        return [
            await c.call_tool("video_reason", {"videos": [BBB], "question": "What happens?", "thumbnails": 0})
            for _ in range(4)
        ]

    crash, unavailable, context, ok = _with_client(go, backend=backend)
    assert "server failed" in _error_text(crash) and "engine exploded" not in _error_text(crash)
    assert "server configuration problem" in _error_text(unavailable) and "--base-url" in _error_text(
        unavailable
    )
    assert "fewer frames" in _error_text(context)
    assert not ok.is_error
