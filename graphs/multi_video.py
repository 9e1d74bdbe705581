"""Several videos, one question: plan it, ask each video what it can answer alone, synthesise.

::

    START -> plan --joint--> joint --ok--> synthesize -> END
                  \\                \\failed (per-video fallback)
                   \\--Send per video--> ask_video (bounded by GraphContext.concurrency) -> synthesize

The behaviour lives in :mod:`vt_agent.multi` (kinds, sub-questions, rules, chat synthesis); this
module adapts it to LangGraph state and stream events.

* ``plan``: the question's kind (per_video, selection, counting, comparison, ordering, synthesis),
  the sub-question each video is asked alone (never options naming other videos), and the mode
  (input ``mode``: ``"per_video"``, ``"joint"``, or absent to let the plan choose).
* ``ask_video``: one video, its sub-question, its evidence; a video that fails is recorded and the
  answer marked partial. Its frames are sampled inside its concurrency slot.
* ``joint``: one trace over all the videos in one prompt ("Video 1: <video> Video 2: ..."), the
  user's question and options as given; when it fails the videos are asked one by one.
* ``synthesize``: rules for selection, counting, ordering, per-video and measurable comparisons;
  ``GraphContext.chat_model`` for descriptions to weigh. Cites videos and spans.

Custom stream events: ``plan``, ``video_start``/``video_done``/``video_error`` (with ``total``),
and the reasoner's ``segment``/``answer``/``progress`` (``token`` in joint mode only).
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Annotated, Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send
from typing_extensions import NotRequired, TypedDict

from graphs._bridge import node
from graphs.context import ContextCache, GraphContext, RunContext, bind, context_of
from graphs.stream import emit, run_reasoner
from vt_agent.errors import ConfigError, VTAgentError
from vt_agent.multi import (
    DEFAULT_JOINT_MAX_VIDEOS,
    Plan,
    VideoEvidence,
    VideoFailure,
    as_chat,
    ask_video,
    failure,
    plan_question,
    synthesize,
)
from vt_agent.multi.evidence import result_json
from vt_agent.result import Result

if TYPE_CHECKING:
    from langgraph.graph.state import CompiledStateGraph

    from vt_agent.sandbox import OpenedFile

__all__ = ["InputState", "OutputState", "State", "build_graph", "graph"]


class InputState(TypedDict):
    """What a caller gives the multi-video graph."""

    videos: list[str]
    """Paths of the videos (one or more)."""
    question: str
    """The question about the videos (without options)."""
    options: NotRequired[list[str]]
    """Answer options (they may name videos: "Video 1", "the second clip", "None of them")."""
    preset: NotRequired[str | None]
    """Sampling preset (None: the context's or the reasoner's default)."""
    mode: NotRequired[Literal["per_video", "joint", "auto"] | None]
    """Force one trace per video or one joint trace; "auto", None or absent: the plan chooses."""
    joint_max_videos: NotRequired[int]
    """Most videos one joint prompt takes (default 4)."""


class OutputState(TypedDict):
    """What the multi-video graph returns (:class:`vt_agent.multi.MultiAnswer` as JSON)."""

    answer: str | None
    """The option letter for a multiple choice, the answer text for an open question, or None."""
    answer_text: str | None
    """The answer in words, naming the videos it rests on."""
    kind: str
    """The question's kind: per_video, selection, counting, comparison, ordering, synthesis."""
    mode: NotRequired[Literal["per_video", "joint", "auto"] | None]
    """The mode as run: per_video or joint (a failed joint trace falls back to per_video)."""
    synthesis: Literal["rules", "chat", "joint", "none"]
    """How the answer was reached."""
    citations: list[dict[str, Any]]
    """Spans the answer rests on: video, path, segment, start_s, end_s, start, end, caption."""
    per_video: list[dict[str, Any]]
    """Per video that answered: sub_question, sub_options, answer, yes, number, segments, used, result."""
    errors: list[dict[str, Any]]
    """Per video that failed: index, path, message, error."""
    partial: bool
    """True when a video failed or gave no clear evidence."""
    warnings: list[str]
    """What limits the answer."""
    plan: dict[str, Any]
    """The plan: kind, mode, sub-question, direction, why, the videos each option names."""
    joint_result: dict[str, Any] | None
    """Joint mode: the one trace's Result."""


class State(InputState, OutputState):
    """The whole state; ``evidence``/``failures`` gather the fan-out, ``joint`` the joint trace."""

    evidence: Annotated[list[dict[str, Any]], operator.add]
    failures: Annotated[list[dict[str, Any]], operator.add]
    joint: dict[str, Any] | None
    notes: list[str]


class VideoTask(TypedDict):
    """The payload sent to one ``ask_video``."""

    index: int
    total: int
    path: str
    plan: dict[str, Any]
    preset: str | None


async def plan(state: State, runtime: Runtime[Any], *, contexts: ContextCache) -> dict[str, Any]:
    """Check the input (and that a model is available) and plan the question."""
    ctx = context_of(runtime, contexts)
    await ctx.aget_reasoner()
    videos = state.get("videos")
    if not isinstance(videos, list) or not videos or not all(isinstance(v, str) and v for v in videos):
        raise ConfigError("'videos' must be a non-empty list of video file paths")
    limit = state.get("joint_max_videos", DEFAULT_JOINT_MAX_VIDEOS)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigError(f"joint_max_videos must be a positive integer, got {limit!r}")
    p = plan_question(
        state.get("question", ""),
        state.get("options") or [],
        videos,
        mode=state.get("mode"),
        has_chat=ctx.chat_model is not None,
        joint_max_videos=limit,
    )
    emit(
        runtime.stream_writer,
        {"type": "plan", "kind": p.kind, "mode": p.mode, "sub_question": p.sub.question, "why": p.why},
    )
    return {"plan": p.model_dump(mode="json"), "notes": []}


def fan_out(state: State) -> list[Send] | str:
    """Joint mode: the joint node (once); per-video: one ``ask_video`` per video."""
    videos = state["videos"]
    if state["plan"]["mode"] == "joint" and not state.get("joint"):
        return "joint"
    if state.get("joint"):
        return "synthesize"
    return [
        Send(
            "ask_video",
            VideoTask(index=i, total=len(videos), path=p, plan=state["plan"], preset=state.get("preset")),
        )
        for i, p in enumerate(videos)
    ]


def _asker(ctx: GraphContext, runtime: Runtime[Any], preset: str | None, *, video: int | None) -> Any:
    async def ask(videos: list[str | OpenedFile], question: str, options: list[str] | None) -> Result:
        result, _ = await run_reasoner(
            await ctx.aget_reasoner(),
            runtime.stream_writer,
            videos,
            question,
            options,
            preset=preset or ctx.preset,
            tokens=video is None,
            tag={"video": video} if video is not None else {"joint": True},
            video=video,
            token_interval_s=ctx.token_interval_s,
        )
        return result

    return ask


async def joint(state: State, runtime: Runtime[Any], *, contexts: ContextCache) -> dict[str, Any]:
    """One trace over every video; on failure, the plan falls back to per-video traces."""
    ctx = context_of(runtime, contexts)
    ask = _asker(ctx, runtime, state.get("preset"), video=None)
    try:
        async with ctx.limiter(), ctx.readable(state["videos"]) as videos:
            result = await ask(videos, state["question"], state.get("options") or None)
    except VTAgentError as exc:
        note = f"the joint trace failed ({exc}); each video was asked on its own"
        emit(runtime.stream_writer, {"type": "progress", "stage": "joint", "message": note})
        return {"plan": {**state["plan"], "mode": "per_video"}, "notes": [note]}
    return {"joint": result_json(result)}


async def ask_one(task: VideoTask, runtime: Runtime[Any], *, contexts: ContextCache) -> dict[str, Any]:
    """One video asked its sub-question; a failure is recorded, not raised."""
    ctx = context_of(runtime, contexts)
    index, path, total = task["index"], task["path"], task["total"]
    writer = runtime.stream_writer
    try:
        async with ctx.limiter():
            emit(writer, {"type": "video_start", "index": index, "path": path, "total": total})
            async with ctx.readable([path]) as (video,):
                got = await ask_video(
                    _asker(ctx, runtime, task["preset"], video=index),
                    Plan.model_validate(task["plan"]),
                    index,
                    video,
                )
    except VTAgentError as exc:
        fail = failure(index, path, exc)
        emit(writer, {"type": "video_error", "total": total, **fail.model_dump()})
        return {"failures": [fail.model_dump()]}
    emit(
        writer,
        {"type": "video_done", "index": index, "path": path, "total": total, "answer": got.answer_text},
    )
    return {"evidence": [got.model_dump(mode="json")]}


async def synthesize_node(state: State, runtime: Runtime[Any], *, contexts: ContextCache) -> dict[str, Any]:
    """The answer from the evidence (rules, the chat model, or the joint trace)."""
    ctx = context_of(runtime, contexts)
    joint_result = state.get("joint")
    out = await synthesize(
        state["question"],
        state.get("options") or [],
        state["videos"],
        Plan.model_validate(state["plan"]),
        [VideoEvidence.model_validate(e) for e in state.get("evidence", [])],
        [VideoFailure.model_validate(e) for e in state.get("failures", [])],
        chat=as_chat(ctx.chat_model) if ctx.chat_model is not None else None,
        joint=Result.model_validate(joint_result) if joint_result else None,
    )
    data = out.model_dump(mode="json")
    return {
        **{k: data[k] for k in ("answer", "answer_text", "synthesis", "citations", "per_video", "errors")},
        **{k: data[k] for k in ("partial", "plan", "joint_result")},
        "kind": out.plan.kind,
        "mode": out.plan.mode,
        "warnings": [*state.get("notes", []), *out.warnings],
    }


def build_graph(contexts: ContextCache | None = None) -> StateGraph[State, Any, InputState, OutputState]:
    """The uncompiled multi-video graph (``contexts``: where JSON contexts become reasoners)."""
    cache = ContextCache() if contexts is None else contexts
    builder = StateGraph(State, context_schema=RunContext, input_schema=InputState, output_schema=OutputState)
    builder.add_node("plan", node(bind(plan, cache)))
    builder.add_node("joint", node(bind(joint, cache)))
    builder.add_node("ask_video", node(bind(ask_one, cache)), input_schema=VideoTask)  # Send payload
    builder.add_node("synthesize", node(bind(synthesize_node, cache)))
    builder.add_edge(START, "plan")
    builder.add_conditional_edges("plan", fan_out, ["joint", "ask_video"])
    builder.add_conditional_edges("joint", fan_out, ["ask_video", "synthesize"])
    builder.add_edge("ask_video", "synthesize")
    builder.add_edge("synthesize", END)
    return builder


graph: CompiledStateGraph[State, Any, InputState, OutputState] = build_graph().compile(name="multi_video")
"""The compiled default multi-video graph; run it with a JSON context or a GraphContext."""
