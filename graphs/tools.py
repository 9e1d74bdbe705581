"""``video_reason``: the video_thinker flow as a LangChain tool for any tool-calling agent.

Two ways to give the tool its model:

* inside an agent whose context is a :class:`~graphs.GraphContext`
  (``langchain.agents.create_agent(model, [video_reason], context_schema=GraphContext)``, then
  ``agent.invoke(..., context=GraphContext(reasoner=r))``), use :data:`video_reason` as is: it
  reads the context through the injected ``ToolRuntime``;
* anywhere else, bind one: ``make_video_reason_tool(GraphContext(reasoner=r))``.

The model picks the paths: ``make_video_reason_tool(..., roots=[folder])`` lets it read only
videos beneath those folders (a relative path is taken beneath the first).

Inside an agent (``create_agent``, or the older ``langgraph.prebuilt.create_react_agent``) the
tool passes the graph's ``progress``, ``segment``, ``answer`` and ``verify`` events to the agent's
stream writer (``stream_mode="custom"``, each with ``"tool": "video_reason"``), so agent UIs show
them live.

The tool's answer is a JSON string (what the agent's model reads): the answer letter, the
grounded segments (video, MM:SS span, global seconds, caption, think), whether the trace was
well formed, and whether it came from a scripted fake backend. A bad argument (a missing or
unreadable video, a path outside ``roots``, an empty question) comes back as an error
``ToolMessage`` the model can read and act on, not an exception that ends the run; a missing model
(no context) is the caller's mistake and raises :class:`~vt_agent.errors.ConfigError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, cast

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from langgraph.prebuilt import ToolRuntime
from langgraph.types import StreamMode
from pydantic import Field

from graphs.context import ContextCache, GraphContext
from graphs.stream import StreamWriter
from vt_agent.errors import ConfigError, PathNotAllowedError, VideoError
from vt_agent.runs import TOOL_PURPOSE, agent_result
from vt_agent.sandbox import check_folders, open_in_roots

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
Roots = Sequence[str | os.PathLike[str]]

FORWARDED = frozenset({"progress", "segment", "answer", "verify"})
"""The video_thinker custom events a tool passes to the agent's stream (token deltas are not)."""
_MODES: list[StreamMode] = ["custom", "values"]


def summarize(output: dict[str, Any]) -> dict[str, Any]:
    """The tool's JSON payload from a video_thinker output (:func:`vt_agent.runs.agent_result`)."""
    return agent_result(output["result"], segments=output["segments"], attempts=output["attempts"])


@dataclass
class _Call:
    """One call: its arguments, model and writer; reads the graph's ``custom``/``values`` stream."""

    videos: list[str]
    question: str
    options: list[str] | None
    context: GraphContext | dict[str, Any]
    writer: StreamWriter | None
    final: dict[str, Any] = field(default_factory=dict)

    def take(self, item: Any) -> None:
        """Pass an event on to the agent's writer, or keep the graph's latest values."""
        mode, chunk = item
        if mode == "values":
            self.final = cast("dict[str, Any]", chunk)
        elif self.writer is not None and isinstance(chunk, dict) and chunk.get("type") in FORWARDED:
            self.writer({**chunk, "tool": "video_reason"})

    def answer(self) -> str:
        return json.dumps(summarize(self.final), ensure_ascii=False)


def _writer() -> StreamWriter | None:
    """The running graph's stream writer (an agent's tool node), or None outside a graph."""
    try:
        from langgraph.config import get_stream_writer

        return get_stream_writer()
    except (RuntimeError, KeyError):  # no runnable config, or one that no graph runs (tool.invoke)
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


class _Runner:
    """How one tool runs the video_thinker graph: its bound context (or the agent's) and its folders."""

    def __init__(self, context: GraphContext | None, roots: Roots | None, name: str) -> None:
        self.context = context
        self.name = name
        self.roots = None if roots is None else check_folders(roots, "roots")
        self.contexts = ContextCache()  # an agent's JSON contexts, when roots narrow them

    def call(
        self,
        videos: list[str],
        question: str,
        options: list[str] | None,
        runtime: ToolRuntime[Any, Any] | None,
    ) -> _Call:
        if runtime is not None:
            return _Call(videos, question, options, _context_from(runtime), runtime.stream_writer)
        assert self.context is not None
        return _Call(videos, question, options, self.context, _writer())

    def _narrow(self, context: GraphContext | dict[str, Any]) -> GraphContext | dict[str, Any]:
        """With ``roots``, the context whose graph nodes open the videos beneath them (and read
        only through those descriptors), the model and slots shared with ``context``."""
        if self.roots is None:
            return context
        if isinstance(context, dict):
            context = self.contexts.get(context)
        return context.beneath(self.roots)

    def inputs(self, call: _Call) -> InputState:
        """The graph's input, or ToolException naming the argument the model must fix; with
        ``roots``, also narrows the call's context (file system checks: run it off the event loop)."""
        call.context = self._narrow(call.context)
        if not call.question.strip():
            raise ToolException("'question' is empty: ask the question about the video(s) in words")
        if not all(v.strip() for v in call.videos):
            raise ToolException("a video path is empty: give the path of each video file")
        videos = call.videos if self.roots is None else [self._allowed(v) for v in call.videos]
        data: InputState = {"videos": list(videos), "question": call.question}
        if call.options:
            data["options"] = list(call.options)
        return data

    def _allowed(self, video: str) -> str:
        """The path as the graph records it, once checked (outside, missing, empty: refused here,
        so the model reads why); the graph's nodes open it again beneath the roots to read it."""
        assert self.roots is not None
        with open_in_roots(self.roots, video) as opened:
            return opened.path

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """A video the model named that cannot be used becomes a ToolException (an error ToolMessage)."""
        where = ""
        if self.roots:
            where = (
                f"; videos must be inside {', '.join(self.roots)} (a relative path is read beneath the first)"
            )
        try:
            yield
        except PathNotAllowedError as exc:
            raise ToolException(f"{exc}{where}") from exc
        except VideoError as exc:
            raise ToolException(f"{exc}{where}; fix the path and call {self.name} again") from exc

    def run(self, call: _Call) -> str:
        from graphs.video_thinker import graph

        with self.errors():
            for item in graph.stream(self.inputs(call), context=call.context, stream_mode=_MODES):
                call.take(item)
        return call.answer()

    async def arun(self, call: _Call) -> str:
        from graphs.video_thinker import graph

        with self.errors():
            inputs = await asyncio.to_thread(self.inputs, call)  # opens the files when roots are set
            async for item in graph.astream(inputs, context=call.context, stream_mode=_MODES):
                call.take(item)
        return call.answer()


def make_video_reason_tool(
    context: GraphContext | None = None, *, roots: Roots | None = None, name: str = "video_reason"
) -> BaseTool:
    """A ``video_reason`` tool (sync and async).

    ``context``: the model to use; None reads the agent's run context (``context=GraphContext(...)``
    or a JSON context) through the injected ``ToolRuntime``. ``roots``: folders the model may read
    videos from (None: any path the process can read).
    """
    runner = _Runner(context, roots, name)
    func: Callable[..., str]
    coroutine: Callable[..., Awaitable[str]]
    if context is None:

        def run_in(
            videos: Videos, question: Question, runtime: ToolRuntime[Any, Any], options: Options = None
        ) -> str:
            return runner.run(runner.call(videos, question, options, runtime))

        async def arun_in(
            videos: Videos, question: Question, runtime: ToolRuntime[Any, Any], options: Options = None
        ) -> str:
            return await runner.arun(runner.call(videos, question, options, runtime))

        func, coroutine = run_in, arun_in
    else:

        def run(videos: Videos, question: Question, options: Options = None) -> str:
            return runner.run(runner.call(videos, question, options, None))

        async def arun(videos: Videos, question: Question, options: Options = None) -> str:
            return await runner.arun(runner.call(videos, question, options, None))

        func, coroutine = run, arun
    return StructuredTool.from_function(
        func=func, coroutine=coroutine, name=name, description=TOOL_DESCRIPTION, handle_tool_error=True
    )


video_reason: BaseTool = make_video_reason_tool()
"""The tool for agents run with ``context=GraphContext(...)`` (any path; sync and async)."""
