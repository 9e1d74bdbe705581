"""``video_reason``: the video_thinker flow as a LangChain tool for any tool-calling agent.

Two ways to give the tool its model:

* inside a LangGraph agent whose context is a :class:`~graphs.GraphContext`
  (``agent.invoke(..., context=GraphContext(reasoner=r))``), use :data:`video_reason` as is: it
  reads the context through the injected ``ToolRuntime``;
* anywhere else, bind one: ``make_video_reason_tool(GraphContext(reasoner=r))``.

Inside an agent (``create_react_agent``, ``langchain.agents.create_agent``) the tool passes the
graph's ``progress``, ``segment``, ``answer`` and ``verify`` events to the agent's stream writer
(``stream_mode="custom"``, each with ``"tool": "video_reason"``), so agent UIs show them live.

The tool's answer is a JSON string (what the agent's model reads): the answer letter, the
grounded segments (video, MM:SS span, global seconds, caption, think), whether the trace was
well formed, and whether it came from a scripted fake backend.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, cast

from langchain_core.tools import BaseTool, StructuredTool
from langgraph.prebuilt import ToolRuntime
from pydantic import Field

from graphs.context import GraphContext
from graphs.stream import StreamWriter
from vt_agent.errors import ConfigError
from vt_agent.runs import TOOL_PURPOSE, agent_result

if TYPE_CHECKING:
    from graphs.video_thinker import InputState

__all__ = ["FORWARDED", "TOOL_DESCRIPTION", "make_video_reason_tool", "summarize", "video_reason"]

TOOL_DESCRIPTION = TOOL_PURPOSE + (
    " Returns JSON: the answer, the cited segments with MM:SS spans and captions, and whether the "
    "reasoning was well formed."
)

Videos = Annotated[list[str], Field(description="paths of the video files, usually one", min_length=1)]
Question = Annotated[str, Field(description="the question about the video(s), without the options")]
Options = Annotated[
    list[str] | None,
    Field(description="answer options for a multiple-choice question, e.g. ['a cat', 'a dog']; omit if open"),
]


def summarize(output: dict[str, Any]) -> dict[str, Any]:
    """The tool's JSON payload from a video_thinker output (:func:`vt_agent.runs.agent_result`)."""
    return agent_result(output["result"], segments=output["segments"], attempts=output["attempts"])


def _inputs(videos: list[str], question: str, options: list[str] | None) -> InputState:
    data: InputState = {"videos": list(videos), "question": question}
    if options:
        data["options"] = list(options)
    return data


FORWARDED = frozenset({"progress", "segment", "answer", "verify"})
"""The video_thinker custom events a tool passes to the agent's stream (token deltas are not)."""


def _forward(writer: StreamWriter | None, chunk: Any) -> None:
    if writer is not None and isinstance(chunk, dict) and chunk.get("type") in FORWARDED:
        writer({**chunk, "tool": "video_reason"})


async def _arun(
    context: GraphContext | dict[str, Any],
    videos: list[str],
    question: str,
    options: list[str] | None,
    writer: StreamWriter | None = None,
) -> str:
    from graphs.video_thinker import graph

    final: dict[str, Any] = {}
    async for mode, chunk in graph.astream(
        _inputs(videos, question, options), context=context, stream_mode=["custom", "values"]
    ):
        if mode == "custom":
            _forward(writer, chunk)
        else:
            final = cast("dict[str, Any]", chunk)
    return json.dumps(summarize(final), ensure_ascii=False)


def _run(
    context: GraphContext | dict[str, Any],
    videos: list[str],
    question: str,
    options: list[str] | None,
    writer: StreamWriter | None = None,
) -> str:
    from graphs.video_thinker import graph

    final: dict[str, Any] = {}
    for mode, chunk in graph.stream(
        _inputs(videos, question, options), context=context, stream_mode=["custom", "values"]
    ):
        if mode == "custom":
            _forward(writer, chunk)
        else:
            final = cast("dict[str, Any]", chunk)
    return json.dumps(summarize(final), ensure_ascii=False)


def _writer() -> StreamWriter | None:
    """The running graph's stream writer (an agent's tool node), or None outside a graph."""
    try:
        from langgraph.config import get_stream_writer

        return get_stream_writer()
    except RuntimeError:
        return None


def _context_from(runtime: ToolRuntime[Any, Any]) -> GraphContext | dict[str, Any]:
    ctx = runtime.context
    if isinstance(ctx, GraphContext):
        return ctx
    if isinstance(ctx, dict) and isinstance(ctx.get("video"), GraphContext):
        found: GraphContext = ctx["video"]
        return found
    if isinstance(ctx, dict) and ctx:  # a JSON context (a LangGraph server): the graph validates it
        return ctx
    raise ConfigError(
        "video_reason needs a model: run the agent with context=GraphContext(reasoner=...) or a JSON "
        'context such as {"backend": "fake"}, or bind one with graphs.tools.make_video_reason_tool(...)'
    )


def _reason_in_context(
    videos: Videos, question: Question, runtime: ToolRuntime[Any, Any], options: Options = None
) -> str:
    """Answer a question about video files, citing time spans (reads the model from the agent's context)."""
    return _run(_context_from(runtime), videos, question, options, runtime.stream_writer)


async def _areason_in_context(
    videos: Videos, question: Question, runtime: ToolRuntime[Any, Any], options: Options = None
) -> str:
    """Answer a question about video files, citing time spans (reads the model from the agent's context)."""
    return await _arun(_context_from(runtime), videos, question, options, runtime.stream_writer)


video_reason: BaseTool = StructuredTool.from_function(
    func=_reason_in_context, coroutine=_areason_in_context, name="video_reason", description=TOOL_DESCRIPTION
)
"""The tool for agents run with ``context=GraphContext(...)`` (sync and async)."""


def make_video_reason_tool(context: GraphContext, *, name: str = "video_reason") -> BaseTool:
    """A ``video_reason`` tool bound to ``context`` (sync and async)."""

    def run(videos: Videos, question: Question, options: Options = None) -> str:
        return _run(context, videos, question, options, _writer())

    async def arun(videos: Videos, question: Question, options: Options = None) -> str:
        return await _arun(context, videos, question, options, _writer())

    return StructuredTool.from_function(func=run, coroutine=arun, name=name, description=TOOL_DESCRIPTION)
