"""Single-question grounded reasoning as a LangGraph graph.

::

    START -> prepare -> reason --(route_after_reason)--> reason               (stepwise: next step)
                                                     \\-> review -> reason     (interrupt_steps)
                                                     \\-> repair -> reason     (malformed trace)
                                                     \\-> verify -> finish     (zoom-in on)
                                                     \\-> finish -> END

* ``prepare`` probes and samples the videos through the reasoner and keeps the sampling
  records (paths, file ids, frame indices, timestamps) in state; never frames or base64.
* ``reason`` streams the model: custom stream events ``token``, ``segment`` (global seconds),
  ``answer`` and ``progress``; each parsed segment is appended to ``steps`` (a reducer).
  Stepwise (the default) it generates one grounded step per graph step: it continues ``trace``
  (and ``trace_token_ids``) until a ``<time>/<caption>/<think>`` step closes, returns it (``segments``
  grows by one) and the graph loops back, so checkpoints, ``values``/``updates`` streams and
  interrupts see every step; the answer step runs to the end. ``stepwise: False`` (input or
  context): one call per answer. See :mod:`graphs.steps`.
* ``review`` (``interrupt_steps``, off by default) pauses after each step for the caller to keep,
  edit or drop it (``Command(resume=...)``).
* ``repair`` asks again when the trace breaks the format rule or has no answer, at most
  ``max_repairs`` times (from the context); the router is :func:`route_after_reason`.
* ``verify`` (off by default) re-samples densely inside each cited span and asks the model
  "Does this part of the video show: <caption>?"; ``confirmed`` says which spans held.

The model comes through the run's context: JSON such as ``{"backend": "fake"}`` (what a LangGraph
server sends, :class:`graphs.context.RunContext`) or ``GraphContext(reasoner=r)`` from Python.
The compiled default ``graph`` (listed in ``langgraph.json``) has no model of its own: without a
context, or with one that names no backend, a run raises ConfigError naming the JSON fields.
"""

from __future__ import annotations

import asyncio
import operator
from typing import TYPE_CHECKING, Annotated, Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt
from typing_extensions import NotRequired, TypedDict

from graphs._bridge import node
from graphs.context import ContextCache, GraphContext, RunContext, bind, context_of
from graphs.steps import review_edit, run_step
from graphs.stream import emit, result_summary, run_reasoner
from vt_agent.errors import ConfigError
from vt_agent.spans import check_window

if TYPE_CHECKING:
    from langgraph.graph.state import CompiledStateGraph

__all__ = [
    "REPAIR_NOTE",
    "GraphContext",
    "InputState",
    "OutputState",
    "State",
    "build_graph",
    "graph",
    "route_after_reason",
    "verify_question",
]

REPAIR_NOTE = (
    "\n(Answer again in the required format: ground each step as <time>MM:SS-MM:SS</time>"
    "<caption>...</caption><think>...</think> and end with <answer>X</answer>.)"
)
"""Appended to the question when a malformed trace is asked again (attempts after the first)."""


class InputState(TypedDict):
    """What a caller gives the graph."""

    videos: list[str]
    """Paths of the video files (one for the usual single-video question)."""
    question: str
    """The question (the problem text, without options)."""
    options: NotRequired[list[str]]
    """Answer options, lettered or not ("A. cat" or "cat"); empty or absent for an open question."""
    window: NotRequired[tuple[float, float] | None]
    """Only look at [start_s, end_s] of the video(s); spans come back in global seconds."""
    preset: NotRequired[str | None]
    """Sampling preset name (None: the context's or the reasoner's default)."""
    verify: NotRequired[bool]
    """Run the zoom-in verification of cited spans (default: the context's ``verify``, off)."""
    stepwise: NotRequired[bool]
    """One grounded step per graph step (default: the context's ``stepwise``, on)."""
    interrupt_steps: NotRequired[bool]
    """Pause after each step for review (default: the context's ``interrupt_steps``, off)."""


class OutputState(TypedDict):
    """What the graph returns."""

    result: dict[str, Any]
    """The final :class:`vt_agent.result.Result` as JSON (thumbnails without base64)."""
    answer: str | None
    """The answer letter (answer rules, docs/protocol.md), None when none was found."""
    segments: list[dict[str, Any]]
    """The final trace's segments (global seconds), each with ``confirmed`` after verification."""
    confirmed: list[bool | None]
    """Per final segment: True/False from verification, None when not verified or undecidable."""
    attempts: int
    """Model calls made for the main answer (1 + repairs)."""
    format_ok: bool
    """Whether the final trace follows the documented format rule."""


class State(InputState, OutputState):
    """The whole graph state (input, output and working fields)."""

    sampling: list[dict[str, Any]]
    """Sampling record per video (path, file id, indices, timestamps, resized size); no pixels."""
    steps: Annotated[list[dict[str, Any]], operator.add]
    """Every segment as it was parsed, over all attempts (``attempt`` field), global seconds."""
    problems: list[str]
    """Why the last trace was judged malformed (empty when it was fine)."""
    max_repairs: int
    """Repairs allowed for this run (copied from the context)."""
    verifications: list[dict[str, Any]]
    """Per verified segment: index, window, question, answer, confirmed, the check's trace summary."""
    trace: str
    """The current attempt's trace so far (the assistant message the next step continues)."""
    trace_token_ids: list[int] | None
    """Its token ids where the engine reports them (None: unknown, or the trace was edited)."""
    paused: bool
    """True after a step closed and before the answer: the next ``reason`` continues the trace."""
    edits: Annotated[list[dict[str, Any]], operator.add]
    """Every review edit applied (the edit and its attempt)."""


def _check_input(state: State) -> None:
    videos = state.get("videos")
    if not isinstance(videos, list) or not videos or not all(isinstance(v, str) and v for v in videos):
        raise ConfigError("'videos' must be a non-empty list of video file paths")
    question = state.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ConfigError("'question' is empty: give the question text")
    options = state.get("options", [])
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise ConfigError("'options' must be a list of strings")


async def prepare(state: State, runtime: Runtime[Any], *, contexts: ContextCache) -> dict[str, Any]:
    """Probe and sample the videos once (the frame cache keeps them for ``reason``); record how."""
    _check_input(state)
    ctx = context_of(runtime, contexts)
    reasoner = await ctx.aget_reasoner()
    window = check_window(state.get("window"))
    preset = state.get("preset") or ctx.preset
    emit(runtime.stream_writer, {"type": "progress", "stage": "decode", "message": "sampling the video(s)"})
    async with ctx.readable(state["videos"]) as videos:
        prepared = await reasoner.prepare(videos, preset=preset, window=window)
    sampling = [p.record.model_dump(mode="json") for p in prepared]
    del prepared  # frames stay out of the state (the reasoner's cache may keep them)
    return {
        "sampling": sampling,
        "max_repairs": ctx.max_repairs,
        "attempts": 0,
        "problems": [],
        "verify": bool(state.get("verify", ctx.verify)),
        "stepwise": bool(state.get("stepwise", ctx.stepwise)),
        "interrupt_steps": bool(state.get("interrupt_steps", ctx.interrupt_steps)),
        "window": window,
        "trace": "",
        "trace_token_ids": None,
        "paused": False,
    }


def _problems(result: dict[str, Any]) -> list[str]:
    problems = list(result["format"]["problems"]) if not result["format"]["ok"] else []
    if result["answer"] is None:
        problems.append("no answer could be read from the trace")
    if result.get("finish_reason") == "length":
        problems.append("the output was cut off at max_tokens")
    return problems


async def reason(state: State, runtime: Runtime[Any], *, contexts: ContextCache) -> dict[str, Any]:
    """One model call, streamed: the next grounded step (stepwise) or the whole answer."""
    ctx = context_of(runtime, contexts)
    reasoner = await ctx.aget_reasoner()
    continuing = bool(state.get("paused"))
    attempt = state.get("attempts", 0) + (0 if continuing else 1)
    question = state["question"] if attempt == 1 else state["question"] + REPAIR_NOTE
    async with ctx.readable(state["videos"]) as videos:
        step = await run_step(
            reasoner,
            runtime.stream_writer,
            videos,
            question,
            state.get("options") or None,
            window=check_window(state.get("window")),
            preset=state.get("preset") or ctx.preset,
            tag={"attempt": attempt},
            token_interval_s=ctx.token_interval_s,
            trace=state.get("trace", "") if continuing else "",
            trace_token_ids=state.get("trace_token_ids") if continuing else None,
            stop_after_step=bool(state.get("stepwise", ctx.stepwise)),
            max_tokens=ctx.max_tokens or getattr(reasoner, "max_tokens", None),
        )
    result = step.result
    data = result_summary(result)
    data["question"] = state["question"]  # the caller's question, not the repair prompt
    segments = data["segments"]
    return {
        "result": data,
        "answer": result.answer,
        "segments": segments,
        "confirmed": [None] * len(segments),
        "steps": step.steps,
        "attempts": attempt,
        "format_ok": result.format.ok,
        "problems": [] if step.paused else _problems(data),
        "trace": result.trace,
        "trace_token_ids": step.token_ids,
        "paused": step.paused,
    }


def route_after_reason(state: State) -> Literal["reason", "review", "repair", "verify", "finish"]:
    """The next step (through ``review`` when asked); at the end: repair a malformed trace while
    attempts remain, then verify if asked, else finish."""
    if state.get("paused"):
        return "review" if state.get("interrupt_steps") else "reason"
    if state.get("problems") and state.get("attempts", 0) <= state.get("max_repairs", 0):
        return "repair"
    if state.get("verify") and state.get("segments"):
        return "verify"
    return "finish"


def review(state: State) -> dict[str, Any]:
    """Pause after a step (``interrupt``); apply the caller's edit (:mod:`graphs.steps`)."""
    return review_edit(state, interrupt)


async def repair(state: State, runtime: Runtime[Any]) -> dict[str, Any]:
    """Say why the trace is asked again; ``reason`` then re-asks with a format reminder."""
    emit(
        runtime.stream_writer,
        {
            "type": "progress",
            "stage": "generate",
            "message": f"malformed trace ({'; '.join(state['problems'])}): asking again",
            "attempt": state["attempts"] + 1,
        },
    )
    return {}


def verify_question(caption: str) -> str:
    """The yes/no question asked about a cited span."""
    text = " ".join(caption.split()).rstrip(".")
    return f"Does this part of the video show: {text}?"


def _verify_window(seg: dict[str, Any], duration: float, min_span: float) -> tuple[float, float]:
    start, end = float(seg["start_s"]), float(seg["end_s"])
    if end - start < min_span:
        mid = (start + end) / 2
        start, end = mid - min_span / 2, mid + min_span / 2
        if start < 0:
            start, end = 0.0, min(duration, min_span)
        if end > duration:
            start, end = max(0.0, duration - min_span), duration
    return (max(0.0, start), min(duration, end))


async def verify(state: State, runtime: Runtime[Any], *, contexts: ContextCache) -> dict[str, Any]:
    """Zoom in: sample densely inside each cited span and ask whether its caption holds there."""
    ctx = context_of(runtime, contexts)
    reasoner = await ctx.aget_reasoner()
    writer = runtime.stream_writer
    preset = ctx.verify_preset or state.get("preset") or ctx.preset
    segments = state["segments"]
    durations = [float(s["duration_s"]) for s in state["sampling"]]
    limit = ctx.limiter()

    async def check(seg: dict[str, Any]) -> dict[str, Any]:
        video = int(seg.get("video", 0))
        base = {"type": "verify", "index": seg["index"], "video": video}
        if seg.get("start_s") is None or seg.get("end_s") is None or not seg.get("caption"):
            out = {**base, "confirmed": None, "reason": "the segment has no readable span or no caption"}
            emit(writer, out)
            return out
        if video >= len(state["videos"]):
            out = {
                **base,
                "confirmed": None,
                "reason": f"the segment cites video {video}, which was not given",
            }
            emit(writer, out)
            return out
        window = _verify_window(seg, durations[video], ctx.verify_min_span_s)
        question = verify_question(seg["caption"])
        async with limit, ctx.readable([state["videos"][video]]) as one:
            result, _ = await run_reasoner(
                reasoner, None, one, question, ["Yes", "No"], window=window, preset=preset
            )
        confirmed = {"A": True, "B": False}.get(result.answer or "")
        out = {
            **base,
            "window": list(window),
            "question": question,
            "answer": result.answer,
            "confirmed": confirmed,
            "format_ok": result.format.ok,
            "trace": result.trace,
        }
        emit(writer, {k: v for k, v in out.items() if k != "trace"})
        return out

    emit(
        writer,
        {"type": "progress", "stage": "verify", "message": f"checking {len(segments)} cited span(s)"},
    )
    checks = await asyncio.gather(*(check(seg) for seg in segments))
    confirmed = [c["confirmed"] for c in checks]
    return {
        "verifications": list(checks),
        "confirmed": confirmed,
        "segments": [{**seg, "confirmed": c} for seg, c in zip(segments, confirmed, strict=True)],
    }


def finish(state: State) -> dict[str, Any]:
    """Fill the output fields that a path may have skipped."""
    segments = state.get("segments", [])
    confirmed = state.get("confirmed") or [None] * len(segments)
    return {
        "segments": [{**seg, "confirmed": seg.get("confirmed")} for seg in segments],
        "confirmed": confirmed,
    }


def build_graph(contexts: ContextCache | None = None) -> StateGraph[State, Any, InputState, OutputState]:
    """The uncompiled graph (compile it with your own checkpointer/interrupts).

    ``contexts``: where JSON contexts are turned into reasoners (default: a cache of this graph's own).
    """
    cache = ContextCache() if contexts is None else contexts
    builder = StateGraph(State, context_schema=RunContext, input_schema=InputState, output_schema=OutputState)
    builder.add_node("prepare", node(bind(prepare, cache)))
    builder.add_node("reason", node(bind(reason, cache)))
    builder.add_node("review", review)
    builder.add_node("repair", node(repair))
    builder.add_node("verify", node(bind(verify, cache)))
    builder.add_node("finish", finish)
    builder.add_edge(START, "prepare")
    builder.add_edge("prepare", "reason")
    builder.add_conditional_edges(
        "reason", route_after_reason, ["reason", "review", "repair", "verify", "finish"]
    )
    builder.add_edge("review", "reason")
    builder.add_edge("repair", "reason")
    builder.add_edge("verify", "finish")
    builder.add_edge("finish", END)
    return builder


graph: CompiledStateGraph[State, Any, InputState, OutputState] = build_graph().compile(name="video_thinker")
"""The compiled default graph (``langgraph.json``); run it with a JSON context or a GraphContext."""
