"""graphs.tools: the video_reason LangChain tool inside agents driven by a scripted chat model.

Both agent builders run the same tests: ``langchain.agents.create_agent`` (LangChain 1.x, what
users build agents with) and the older ``langgraph.prebuilt.create_react_agent``.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langgraph")
pytest.importorskip("langchain_core")
pytest.importorskip("av")

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from graphs import GraphContext
from graphs.tools import make_video_reason_tool, video_reason
from vt_agent.backends.fake_backend import FakeBackend
from vt_agent.errors import ConfigError

QUESTION = "What animal is the main character of this clip?"
OPTIONS = ["A fox", "A rabbit", "A bear", "A squirrel"]
FINAL = "The main character is a rabbit (answer B), seen at 00:00-00:02."
ASK = {"messages": [HumanMessage("What animal is in this clip?")]}


class ToolCallingFake(FakeMessagesListChatModel):
    """A scripted chat model that accepts tools (the agent binds them) and replays its messages."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return self


def ctx(backend: Any, **kw: Any) -> GraphContext:
    from vt_agent.reasoner import VideoReasoner

    return GraphContext(reasoner=VideoReasoner(backend), **kw)


def tool_call(n: int, **args: Any) -> dict[str, Any]:
    return {"name": "video_reason", "args": args, "id": f"call-{n}", "type": "tool_call"}


def good_args(video: Path | str) -> dict[str, Any]:
    return {"videos": [str(video)], "question": QUESTION, "options": OPTIONS}


def agent_model(bbb: Path | str, *bad_calls: dict[str, Any]) -> ToolCallingFake:
    """Calls video_reason with each of ``bad_calls`` (reading each error), then correctly, then answers."""
    calls = [*bad_calls, good_args(bbb)]
    turns = [AIMessage(content="", tool_calls=[tool_call(n, **args)]) for n, args in enumerate(calls, 1)]
    return ToolCallingFake(responses=[*turns, AIMessage(content=FINAL)])


def _create_agent(model: Any, tools: list[Any], **kw: Any) -> Any:
    from langchain.agents import create_agent

    return create_agent(model, tools, **kw)


def _create_react_agent(model: Any, tools: list[Any], **kw: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated in favour of langchain.agents.create_agent
        from langgraph.prebuilt import create_react_agent

        return create_react_agent(model, tools, **kw)


@pytest.fixture(params=["create_agent", "create_react_agent"])
def make_agent(request: pytest.FixtureRequest) -> Callable[..., Any]:
    if request.param == "create_agent":
        pytest.importorskip("langchain.agents")
        return _create_agent
    return _create_react_agent


def check_tool_message(messages: list[Any]) -> dict[str, Any]:
    tool_messages = [m for m in messages if isinstance(m, ToolMessage)]
    assert tool_messages and all(m.status == "error" for m in tool_messages[:-1])
    assert tool_messages[-1].status != "error", tool_messages[-1].content
    payload: dict[str, Any] = json.loads(str(tool_messages[-1].content))
    assert payload["answer"] == "B"
    assert payload["format_ok"] is True
    assert payload["scripted"] is True
    assert payload["segments"][0]["span"] == "00:00-00:02"
    assert payload["segments"][0]["caption"]
    assert isinstance(messages[-1], AIMessage) and messages[-1].content == FINAL
    return payload


def test_tool_schema_hides_runtime() -> None:
    for tool in (video_reason, make_video_reason_tool(ctx(FakeBackend()))):
        schema = tool.tool_call_schema.model_json_schema()
        assert set(schema["properties"]) == {"videos", "question", "options"}
        assert schema["required"] == ["videos", "question"]


def test_agent_calls_context_tool(bbb: Path, make_agent: Callable[..., Any]) -> None:
    backend = FakeBackend()
    agent = make_agent(agent_model(bbb), [video_reason], context_schema=GraphContext)
    out = asyncio.run(agent.ainvoke(ASK, context=ctx(backend)))
    check_tool_message(out["messages"])
    assert len([r for r in backend.requests if not r.assistant_prefix]) == 1  # the context's model ran


def test_agent_calls_context_tool_sync(bbb: Path, make_agent: Callable[..., Any]) -> None:
    backend = FakeBackend()
    agent = make_agent(agent_model(bbb), [video_reason], context_schema=GraphContext)
    check_tool_message(agent.invoke(ASK, context=ctx(backend))["messages"])
    assert backend.requests


def test_agent_calls_bound_tool_sync(bbb: Path, make_agent: Callable[..., Any]) -> None:
    backend = FakeBackend()
    agent = make_agent(agent_model(bbb), [make_video_reason_tool(ctx(backend))])
    check_tool_message(agent.invoke(ASK)["messages"])
    assert backend.requests


def test_context_tool_without_context(bbb: Path, make_agent: Callable[..., Any]) -> None:
    agent = make_agent(agent_model(bbb), [video_reason])
    with pytest.raises(ConfigError, match="GraphContext"):  # the developer's mistake: not the model's to fix
        asyncio.run(agent.ainvoke({"messages": [HumanMessage("hi")]}))


def test_agent_with_a_json_context(bbb: Path, make_agent: Callable[..., Any]) -> None:
    agent = make_agent(agent_model(bbb), [video_reason])
    check_tool_message(asyncio.run(agent.ainvoke(ASK, context={"backend": "fake"}))["messages"])


def test_agent_with_a_json_context_and_roots(videos_dir: Path, make_agent: Callable[..., Any]) -> None:
    """A JSON context (an agent served by a LangGraph server) narrowed to the tool's roots: the
    model's path outside is an error it reads, its relative path beneath the folder answers."""
    tool = make_video_reason_tool(roots=[videos_dir])
    bad = {"videos": ["/etc/hostname"], "question": QUESTION}
    agent = make_agent(agent_model("bigbuckbunny.mp4", bad), [tool])
    out = asyncio.run(agent.ainvoke(ASK, context={"backend": "fake"}))
    check_tool_message(out["messages"])
    error = next(m for m in out["messages"] if isinstance(m, ToolMessage))
    assert "'/etc/hostname' is not inside the allowed folders" in str(error.content)


def test_agent_with_a_dict_context_holding_the_graph_context(
    bbb: Path, make_agent: Callable[..., Any]
) -> None:
    backend = FakeBackend()
    agent = make_agent(agent_model(bbb), [video_reason])
    check_tool_message(agent.invoke(ASK, context={"user": "u1", "video": ctx(backend)})["messages"])
    assert backend.requests


def _custom_events(agent: Any, context: Any, **kw: Any) -> list[Any]:
    async def go() -> list[Any]:
        return [c async for c in agent.astream(ASK, context=context, stream_mode="custom", **kw)]

    return asyncio.run(go())


@pytest.mark.parametrize("bound", [False, True])
def test_agent_streams_the_tools_events(bbb: Path, bound: bool, make_agent: Callable[..., Any]) -> None:
    context = ctx(FakeBackend(chunk_chars=16))
    tools = [make_video_reason_tool(context)] if bound else [video_reason]
    agent = make_agent(agent_model(bbb), tools, **({} if bound else {"context_schema": GraphContext}))
    events = _custom_events(agent, None if bound else context)
    assert events and all(e["tool"] == "video_reason" for e in events)
    types = [e["type"] for e in events]
    assert types[0] == "progress" and "token" not in types
    segments = [e for e in events if e["type"] == "segment"]
    assert [s["index"] for s in segments] == [0, 1] and segments[0]["start_s"] == 0.0
    assert types.index("segment") < types.index("answer") == len(types) - 1 - types[::-1].index("answer")
    # with subgraphs on, each event still arrives once
    again = _custom_events(agent, None if bound else context, subgraphs=True)
    assert [c for _, c in again] == events


def test_agent_streams_the_tools_events_sync(bbb: Path, make_agent: Callable[..., Any]) -> None:
    agent = make_agent(agent_model(bbb), [video_reason], context_schema=GraphContext)
    events = list(agent.stream(ASK, context=ctx(FakeBackend()), stream_mode="custom"))
    assert [e["type"] for e in events if e["type"] == "segment"] == ["segment", "segment"]
    assert events[-1]["type"] == "answer" and events[-1]["letter"] == "B"


@pytest.mark.parametrize("use_async", [False, True])
def test_create_agent_streams_live_with_its_context(bbb: Path, use_async: bool) -> None:
    """custom + updates + messages at once: the tool's events arrive while the tool runs (after the
    model's tool call, before the tool's message), and the run's GraphContext (verify on) is the one
    the tool used."""
    pytest.importorskip("langchain.agents")
    backend = FakeBackend()
    agent = _create_agent(agent_model(bbb), [video_reason], context_schema=GraphContext)
    modes = ["updates", "custom", "messages"]
    context = ctx(backend, verify=True)

    async def collect() -> list[tuple[str, Any]]:
        return [item async for item in agent.astream(ASK, context=context, stream_mode=modes)]

    items = (
        asyncio.run(collect()) if use_async else list(agent.stream(ASK, context=context, stream_mode=modes))
    )
    order = [m if m == "custom" else f"{m}:{next(iter(c))}" if m == "updates" else m for m, c in items]
    first_custom, last_custom = order.index("custom"), len(order) - 1 - order[::-1].index("custom")
    assert order.index("updates:model") < first_custom and last_custom < order.index("updates:tools")
    assert order[-1] == "updates:model"
    custom = [c for m, c in items if m == "custom"]
    assert {"progress", "segment", "answer", "verify"} <= {
        e["type"] for e in custom
    }  # verify: from the context
    assert backend.requests  # the context's reasoner answered
    streamed = [c[0] for m, c in items if m == "messages" and isinstance(c[0], ToolMessage)]
    (update,) = [c["tools"]["messages"][0] for m, c in items if m == "updates" and "tools" in c]
    assert len(streamed) == 1 and streamed[0].content == update.content
    assert json.loads(str(update.content))["answer"] == "B"


BAD_CALLS = {
    "missing video": ({"videos": ["nope.mp4"], "question": QUESTION}, "nope.mp4: no such file"),
    "outside roots": (
        {"videos": ["/etc/hostname"], "question": QUESTION},
        "is not inside the allowed folders",
    ),
    "dot-dot": ({"videos": ["../bigbuckbunny.mp4"], "question": QUESTION}, "'..' is not allowed"),
    "no videos argument": ({"question": QUESTION}, "videos: Field required"),
    "no videos": ({"videos": [], "question": QUESTION}, "videos: List should have at least 1 item"),
    "empty question": ({"videos": ["bigbuckbunny.mp4"], "question": "  "}, "'question' is empty"),
}


@pytest.mark.parametrize("use_async", [False, True])
@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_arguments_come_back_as_tool_errors(
    videos_dir: Path, case: str, use_async: bool, make_agent: Callable[..., Any]
) -> None:
    """The model reads the error as a ToolMessage, fixes its call (a path relative to the allowed
    folder) and answers; nothing is raised and the video model is not asked for the bad call."""
    args, expected = BAD_CALLS[case]
    backend = FakeBackend()
    tool = make_video_reason_tool(roots=[videos_dir])
    agent = make_agent(agent_model("bigbuckbunny.mp4", args), [tool], context_schema=GraphContext)
    context = ctx(backend)
    out = (
        asyncio.run(agent.ainvoke(ASK, context=context)) if use_async else agent.invoke(ASK, context=context)
    )
    check_tool_message(out["messages"])
    error = next(m for m in out["messages"] if isinstance(m, ToolMessage))
    assert error.status == "error" and expected in str(error.content), error.content
    if "not inside" in expected or "'..'" in expected:
        assert str(videos_dir) in str(error.content)  # names where videos may be
    assert len([r for r in backend.requests if not r.assistant_prefix]) == 1  # only the good call


def test_a_bound_tool_outside_an_agent_returns_the_error(videos_dir: Path) -> None:
    tool = make_video_reason_tool(ctx(FakeBackend()), roots=[videos_dir])
    out = tool.invoke({"videos": ["/etc/hostname"], "question": QUESTION})
    assert "'/etc/hostname' is not inside the allowed folders" in out and str(videos_dir) in out
    answer = json.loads(tool.invoke(good_args(videos_dir / "bigbuckbunny.mp4")))  # absolute, inside
    assert answer["answer"] == "B"


@pytest.mark.parametrize(
    ("roots", "message"),
    [([], "roots is empty"), (["/no/such/folder"], "is not a folder"), ("/tmp", "use \\[path\\]")],
)
def test_bad_roots_are_refused_when_the_tool_is_made(roots: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_video_reason_tool(roots=roots)


def test_create_agent_example(tmp_path: Path) -> None:
    import subprocess
    import sys

    pytest.importorskip("langchain.agents")
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, str(root / "examples" / "agent_create_agent.py")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("[model] ai: [{'name': 'video_reason'")
    tool_line = next(n for n, line in enumerate(lines) if line.startswith("[tools] tool: "))
    segments = [n for n, line in enumerate(lines) if line.startswith("  [video_reason] 00:")]
    assert len(segments) == 2 and segments[-1] < tool_line  # streamed while the tool ran
    assert lines[segments[0]].startswith("  [video_reason] 00:00-00:02  A large grey furry animal")
    assert json.loads(lines[tool_line].removeprefix("[tools] tool: "))["answer"] == "B"
    assert lines[-2].startswith("[model] ai: Answer B, seen at 00:00-00:02: A large grey furry animal")
    assert lines[-1].startswith("(video model: the scripted fake backend")


def test_the_docs_quote_the_example() -> None:
    import re

    root = Path(__file__).resolve().parent.parent
    doc = (root / "docs" / "graphs.md").read_text(encoding="utf-8")
    section = doc[doc.index("## The `video_reason` LangChain tool") :]
    section = section[: section.index("\n## ", 1)]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    example = (root / "examples" / "agent_create_agent.py").read_text(encoding="utf-8")
    assert blocks and all(block in example for block in blocks)
