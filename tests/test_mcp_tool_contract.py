"""The ``video_reason`` tool as a host model sees it: schema, description, errors, job handles, result.

In-process ``mcp.Client(server)`` (protocol 2026-07-28, and the handshake era with
``mode="legacy"``), fake backend, real clips. The same contract over stdio and streamable HTTP
is in ``tests/test_mcp_resources.py``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

pytest.importorskip("mcp")

import jsonschema
from mcp import Client
from mcp_types import CallToolResult, ListRootsResult, Root

from mcp_server.jobs import JobStore
from mcp_server.output import MAX_RESULT_BYTES, result_size
from mcp_server.server import create_server
from mcp_server.settings import ServerSettings, load_settings
from vt_agent.backends.base import Backend
from vt_agent.backends.fake_backend import FakeBackend

VIDEOS = Path(__file__).resolve().parent / "data" / "videos"
BBB = str(VIDEOS / "bigbuckbunny.mp4")
YAWN = ["Eats a flower", "Stretches his arms and yawns", "Jumps into a river", "Waves at a bird"]
PYDANTIC_WORDS = ("pydantic", "validation error for", "input_value", "type=", "Arguments\n")


def _settings(**values: Any) -> ServerSettings:
    values.setdefault("backend", "fake")
    values.setdefault("allowed_roots", [str(VIDEOS)])
    return load_settings(values, environ={})


def _run(
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


def _text(res: CallToolResult) -> str:
    block = res.content[0]
    assert block.type == "text"
    return block.text


# ------------------------------------------------------------------ schema and description


def test_published_schema_requires_videos_and_question_with_no_top_level_combinators() -> None:
    tools = _run(lambda c: c.list_tools()).tools
    assert [t.name for t in tools] == ["video_reason"]  # still exactly one tool
    schema = tools[0].input_schema
    assert schema["type"] == "object" and schema["required"] == ["videos", "question"]
    assert not {"oneOf", "anyOf", "allOf"} & set(schema)  # Anthropic's API refuses these at the top
    for name, prop in schema["properties"].items():  # optional arguments are plain types, not null unions
        assert "anyOf" not in prop and prop.get("default", "") is not None, name
    assert (
        schema["properties"]["videos"]["type"] == "array"
        and schema["properties"]["question"]["type"] == "string"
    )
    assert None not in schema["properties"]["preset"]["enum"]
    jsonschema.Draft202012Validator.check_schema(schema)
    ok = jsonschema.Draft202012Validator(schema)
    assert ok.is_valid({"videos": [BBB], "question": "What happens?"})
    assert ok.is_valid({"videos": [BBB], "question": "What happens?", "job_id": "0123456789abcdef"})
    assert not ok.is_valid({"question": "What happens?"}) and not ok.is_valid({"videos": [BBB]})
    assert not ok.is_valid({"videos": [BBB], "question": ""})


def test_description_names_the_readable_folders_and_what_comes_back(tmp_path: Path) -> None:
    tool = _run(lambda c: c.list_tools()).tools[0]
    text = tool.description or ""
    assert f"Readable folders (allowed by the server): {VIDEOS}." in text
    assert "listed as MCP resources" in text
    for returned in ("answer letter with its option text", "segments", "JPEG", "source", "job_id"):
        assert returned in text, returned
    # no root: the description says how to set one
    bare = _run(lambda c: c.list_tools(), settings=_settings(allowed_roots=[])).tools[0]
    assert "No folder is readable" in (bare.description or "") and "--allow" in (bare.description or "")


def test_description_names_the_client_roots_on_a_handshake_era_connection(tmp_path: Path) -> None:
    async def roots(context: Any) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri=tmp_path.as_uri())])  # type: ignore[arg-type]

    tool = _run(lambda c: c.list_tools(), mode="legacy", list_roots_callback=roots).tools[0]
    text = tool.description or ""
    assert f"Readable folders (shared by your client as MCP roots): {tmp_path}." in text
    assert str(VIDEOS) not in text


# ------------------------------------------------------------------ errors a model can act on


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"video": [BBB], "question": "q"}, "Unknown argument 'video' (did you mean 'videos'?)"),
        ({"videos": [BBB], "qestion": "q"}, "Unknown argument 'qestion' (did you mean 'question'?)"),
        (
            {"videos": [BBB], "question": "q", "colour": 1},
            "Unknown argument 'colour': video_reason takes videos",
        ),
        ({"videos": [BBB], "question": ""}, "'question' is empty: give the question"),
        ({"videos": [BBB], "question": "   "}, "'question' is empty: give the question"),
        ({"videos": [BBB]}, "'question' is missing"),
        ({"question": "q"}, "'videos' is missing"),
        (
            {"videos": [BBB], "question": "x" * 2001},
            "'question' is too long: at most 2000 characters (got 2001)",
        ),
        ({"videos": [BBB], "question": "q", "thumbnails": 9}, "'thumbnails' must be less than or equal to 4"),
        ({"videos": [BBB], "question": "q", "options": ["a"]}, "'options' needs at least 2 item(s)"),
        ({"videos": [BBB], "question": "q", "job_id": "nope"}, "'job_id' should match pattern"),
    ],
)
def test_bad_arguments_get_one_plain_sentence(args: dict[str, Any], expected: str) -> None:
    res = _run(lambda c: c.call_tool("video_reason", args))
    assert res.is_error
    text = _text(res)
    assert expected in text
    assert not any(word in text for word in PYDANTIC_WORDS), text


def test_missing_file_is_one_sentence() -> None:
    res = _run(
        lambda c: c.call_tool("video_reason", {"videos": [str(VIDEOS / "missing.mp4")], "question": "q"})
    )
    text = _text(res)
    assert text.endswith("missing.mp4: no such file; check the path and the name.")
    assert "cannot be used as a video" not in text


def test_one_path_as_a_string_is_taken_as_a_list_of_one() -> None:
    res = _run(
        lambda c: c.call_tool("video_reason", {"videos": BBB, "question": "What happens?", "thumbnails": 0})
    )
    assert not res.is_error and res.structured_content["videos"][0]["path"] == BBB  # type: ignore[index]


# ------------------------------------------------------------------ one job per question


@pytest.mark.parametrize("mode", ["auto", "legacy"])  # protocol 2026-07-28, and a handshake-era session
def test_repeating_a_running_call_waits_on_its_job_instead_of_starting_another(mode: str) -> None:
    backend = FakeBackend(chunk_chars=2, delay_s=0.01)
    ask = {"videos": [BBB], "question": "What does the rabbit do?", "options": YAWN, "thumbnails": 0}

    async def go(c: Client) -> dict[str, Any]:
        first = await c.call_tool("video_reason", {**ask, "wait_s": 0})
        again = await c.call_tool("video_reason", {**ask, "wait_s": 0})  # same arguments, no job_id
        other = await c.call_tool("video_reason", {**ask, "question": "Another question?", "wait_s": 0})
        job = first.structured_content["job_id"]  # type: ignore[index]
        mixed = await c.call_tool("video_reason", {**ask, "question": "Another question?", "job_id": job})
        done = await c.call_tool("video_reason", {**ask, "job_id": job, "wait_s": 60})
        stop = await c.call_tool("video_reason", {**ask, "question": "Another question?", "cancel": True})
        # the job was collected: its id alone is gone; with the whole question it is asked anew
        gone = await c.call_tool("video_reason", {"job_id": job})
        anew = await c.call_tool("video_reason", {**ask, "job_id": job, "wait_s": 60})
        return {
            "first": first, "again": again, "other": other, "mixed": mixed, "done": done, "stop": stop,
            "gone": gone, "anew": anew,
        }  # fmt: skip

    out = _run(go, backend=backend, mode=mode)
    first, again, done = out["first"].structured_content, out["again"].structured_content, out["done"]
    assert first["status"] == "running" and again["status"] == "running"
    assert again["job_id"] == first["job_id"]  # the repeated call found the running job
    assert "same arguments" in first["next_step"] and first["job_id"] in first["next_step"]
    assert out["other"].structured_content["job_id"] != first["job_id"]  # another question: another job
    assert "started with other arguments" in _text(out["mixed"])
    assert not done.is_error and done.structured_content["status"] == "done"
    assert done.structured_content["answer"] in {"A", "B", "C", "D"}
    assert out["stop"].structured_content["status"] == "cancelled"  # cancelled by repeating its arguments
    assert "No job" in _text(out["gone"])
    assert out["anew"].structured_content["status"] == "done"
    assert len(backend.requests) == 3  # the question, the other one, the question after collection


def test_jobs_are_found_by_what_was_asked_and_by_whom() -> None:
    async def go() -> None:
        async with anyio.create_task_group() as tg:
            store: JobStore[int] = JobStore(tg)

            async def work(job: Any) -> int:
                await anyio.sleep(10)
                return 1

            mine = store.start(work, owner="a", key=("v", "q"))
            assert store.find(("v", "q"), "a") is mine
            assert store.find(("v", "q"), "b") is None  # another caller never sees it
            assert store.find(("v", "other"), "a") is None and store.find(None, "a") is None
            mine.cancel()
            assert store.find(("v", "q"), "a") is None  # being cancelled
            assert await mine.wait(5) and mine.status == "cancelled"
            assert store.find(("v", "q"), "a") is None  # cancelled: asking again starts anew
            tg.cancel_scope.cancel()

    anyio.run(go)


def test_polling_continues_the_progress_instead_of_replaying_it_from_zero() -> None:
    backend = FakeBackend(chunk_chars=1, delay_s=0.004)
    ask = {"videos": [BBB], "question": "What happens?", "thumbnails": 0}
    first: list[tuple[float, str]] = []
    polls: list[list[tuple[float, str]]] = []

    async def go(c: Client) -> CallToolResult:
        async def on_first(p: float, total: float | None, message: str | None) -> None:
            first.append((p, message or ""))

        res = await c.call_tool("video_reason", {**ask, "wait_s": 1.5}, progress_callback=on_first)
        while res.structured_content and res.structured_content["status"] == "running":
            seen: list[tuple[float, str]] = []
            polls.append(seen)

            async def on_poll(p: float, total: float | None, message: str | None, seen: Any = seen) -> None:
                seen.append((p, message or ""))

            job = res.structured_content["job_id"]
            res = await c.call_tool(
                "video_reason", {**ask, "job_id": job, "wait_s": 1.0}, progress_callback=on_poll
            )
        return res

    res = _run(go, backend=backend)
    assert not res.is_error and res.structured_content["status"] == "done"  # type: ignore[index]
    assert polls and first, "the first call should have returned a job handle"
    last = first[-1][0]
    assert polls[0] and polls[0][0][0] >= last > 0  # the poll starts where the job is
    assert not any(m.startswith(("decode", "starting", "queued")) for p in polls for _, m in p)
    values = [v for p in polls for v, _ in p]
    assert values == sorted(values)


# ------------------------------------------------------------------ the result


def test_result_stays_under_one_mib_with_thumbnails_at_max_and_a_huge_trace() -> None:
    long_think = "The rabbit stands still and looks around. " * 40_000  # about 1.7 MB of reasoning
    trace = (
        f"{long_think}<time>00:01-00:03</time><caption>He stretches and yawns.</caption>"
        "<think>so B</think><answer>B</answer>"
    )
    backend = FakeBackend([trace], chunk_chars=65536)
    res = _run(
        lambda c: c.call_tool(
            "video_reason",
            {
                "videos": [BBB],
                "question": "What does he do?",
                "options": YAWN,
                "thumbnails": 4,
                "preset": "fps-2",
            },
        ),
        backend=backend,
        settings=_settings(max_tokens=8192),
    )
    assert not res.is_error, _text(res)
    assert result_size(res) < MAX_RESULT_BYTES
    assert len(json.dumps(res.model_dump(mode="json", by_alias=True))) < MAX_RESULT_BYTES
    data = res.structured_content
    assert data is not None and data["answer"] == "B" and data["reasoning"].endswith("...[truncated]")
    assert _text(res).startswith("Answer: B. Stretches his arms and yawns")


def test_structured_output_says_where_the_answer_came_from() -> None:
    class Unscripted(FakeBackend):
        name = "transformers"
        scripted = False

    res = _run(
        lambda c: c.call_tool(
            "video_reason",
            {"videos": [BBB], "question": "What does he do?", "options": YAWN, "thumbnails": 0},
        ),
        backend=Unscripted("no-tags"),
    )
    data = res.structured_content
    assert data is not None and data["source"] == "model" and data["scripted"] is False
    assert data["answer_fallback"] is True and data["answer_text"] is None
    assert "fallback rules" in _text(res)
