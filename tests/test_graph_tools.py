"""graphs.tools: the video_reason LangChain tool inside a LangGraph agent driven by a fake chat model."""

from __future__ import annotations

import asyncio
import json
import warnings
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


class ToolCallingFake(FakeMessagesListChatModel):
    """A scripted chat model that accepts tools (the agent binds them) and replays its messages."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return self


def ctx(backend: Any) -> GraphContext:
    from vt_agent.reasoner import VideoReasoner

    return GraphContext(reasoner=VideoReasoner(backend))


def agent_model(bbb: Path) -> ToolCallingFake:
    call = {
        "name": "video_reason",
        "args": {"videos": [str(bbb)], "question": QUESTION, "options": OPTIONS},
        "id": "call-1",
        "type": "tool_call",
    }
    return ToolCallingFake(
        responses=[
            AIMessage(content="", tool_calls=[call]),
            AIMessage(content="The main character is a rabbit (answer B), seen at 00:00-00:02."),
        ]
    )


def make_agent(model: Any, tools: list[Any], **kw: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # create_react_agent is deprecated in favour of langchain.agents
        from langgraph.prebuilt import create_react_agent

        return create_react_agent(model, tools, **kw)


def check_tool_message(messages: list[Any]) -> dict[str, Any]:
    tool_messages = [m for m in messages if isinstance(m, ToolMessage)]
    assert len(tool_messages) == 1
    assert tool_messages[0].status != "error", tool_messages[0].content
    payload: dict[str, Any] = json.loads(str(tool_messages[0].content))
    assert payload["answer"] == "B"
    assert payload["format_ok"] is True
    assert payload["scripted"] is True
    assert payload["segments"][0]["span"] == "00:00-00:02"
    assert payload["segments"][0]["caption"]
    assert isinstance(messages[-1], AIMessage) and "rabbit" in str(messages[-1].content)
    return payload


def test_tool_schema_hides_runtime() -> None:
    schema = video_reason.tool_call_schema.model_json_schema()
    assert set(schema["properties"]) == {"videos", "question", "options"}
    assert schema["required"] == ["videos", "question"]


def test_agent_calls_context_tool(bbb: Path) -> None:
    backend = FakeBackend()
    agent = make_agent(agent_model(bbb), [video_reason], context_schema=GraphContext)
    out = asyncio.run(
        agent.ainvoke({"messages": [HumanMessage("What animal is in this clip?")]}, context=ctx(backend))
    )
    check_tool_message(out["messages"])
    assert len([r for r in backend.requests if not r.assistant_prefix]) == 1


def test_agent_calls_context_tool_sync(bbb: Path) -> None:
    agent = make_agent(agent_model(bbb), [video_reason], context_schema=GraphContext)
    out = agent.invoke(
        {"messages": [HumanMessage("What animal is in this clip?")]}, context=ctx(FakeBackend())
    )
    check_tool_message(out["messages"])


def test_agent_calls_bound_tool_sync(bbb: Path) -> None:
    backend = FakeBackend()
    tool = make_video_reason_tool(ctx(backend))
    agent = make_agent(agent_model(bbb), [tool])
    out = agent.invoke({"messages": [HumanMessage("What animal is in this clip?")]})
    check_tool_message(out["messages"])


def test_context_tool_without_context(bbb: Path) -> None:
    agent = make_agent(agent_model(bbb), [video_reason])
    with pytest.raises(ConfigError, match="GraphContext"):
        asyncio.run(agent.ainvoke({"messages": [HumanMessage("hi")]}))


def _custom_events(agent: Any, context: Any, **kw: Any) -> list[Any]:
    async def go() -> list[Any]:
        return [
            c
            async for c in agent.astream(
                {"messages": [HumanMessage("What animal is in this clip?")]},
                context=context,
                stream_mode="custom",
                **kw,
            )
        ]

    return asyncio.run(go())


@pytest.mark.parametrize("bound", [False, True])
def test_agent_streams_the_tools_events(bbb: Path, bound: bool) -> None:
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


def test_agent_streams_the_tools_events_sync(bbb: Path) -> None:
    agent = make_agent(agent_model(bbb), [video_reason], context_schema=GraphContext)
    events = list(
        agent.stream(
            {"messages": [HumanMessage("What animal is in this clip?")]},
            context=ctx(FakeBackend()),
            stream_mode="custom",
        )
    )
    assert [e["type"] for e in events if e["type"] == "segment"] == ["segment", "segment"]
    assert events[-1]["type"] == "answer" and events[-1]["letter"] == "B"


def test_agent_with_a_json_context(bbb: Path) -> None:
    agent = make_agent(agent_model(bbb), [video_reason])
    out = asyncio.run(
        agent.ainvoke(
            {"messages": [HumanMessage("What animal is in this clip?")]}, context={"backend": "fake"}
        )
    )
    check_tool_message(out["messages"])
