"""Long-video triage as a graph: where in a long video does something happen?

::

    START -> plan --Send per window--> scan (bounded by GraphContext.concurrency) -> collect -> END

The logic is :mod:`vt_agent.triage` (window planning, the per-window question, merging and
ranking, the confidence rule); this module holds the graph's state and nodes over it:

* ``plan`` probes the video and cuts it into windows (:func:`vt_agent.triage.plan_triage`) and
  streams ``{"type": "progress", "stage": "probe", "windows": N}``.
* ``scan`` asks the model about one window (:func:`vt_agent.triage.scan_window`) and streams
  ``{"type": "window", "index", "total", "start_s", "end_s", "answer", "spans"}`` (or the error).
* ``collect`` merges and ranks the findings into the report (:func:`vt_agent.triage.build_report`).

Memory: each window is sampled separately and nothing but its parsed result is kept, so peak
memory is that of one window times ``concurrency``, whatever the video's length.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Annotated, Any

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send
from typing_extensions import NotRequired, TypedDict

from graphs._bridge import node
from graphs.context import ContextCache, RunContext, bind, context_of
from graphs.stream import emit
from vt_agent.triage import (
    DEFAULT_OVERLAP_S,
    DEFAULT_WINDOW_S,
    TriagePlan,
    build_report,
    merge_findings,
    plan_triage,
    plan_windows,
    scan_window,
    triage_question,
)

if TYPE_CHECKING:
    from langgraph.graph.state import CompiledStateGraph

__all__ = [
    "DEFAULT_OVERLAP_S",
    "DEFAULT_WINDOW_S",
    "InputState",
    "OutputState",
    "State",
    "build_graph",
    "graph",
    "merge_findings",
    "plan_windows",
    "triage_question",
]


class InputState(TypedDict):
    """What a caller gives the triage graph."""

    video: str
    """Path of the (long) video file."""
    query: str
    """What to look for, e.g. "someone crosses the lawn"."""
    window_s: NotRequired[float]
    """Window length in seconds (default 60)."""
    overlap_s: NotRequired[float]
    """Overlap between neighbouring windows in seconds (default 5)."""
    preset: NotRequired[str | None]
    """Sampling preset per window (None: the context's or the reasoner's default)."""


class OutputState(TypedDict):
    """What the triage graph returns."""

    report: dict[str, Any]
    """Video info, query, per-window answers, ranked findings (global seconds) and errors."""


class State(InputState, OutputState):
    """The whole triage state."""

    info: dict[str, Any]
    """Probe of the video: duration, size, codec, frame rate."""
    windows: list[tuple[float, float]]
    """The planned windows, [start_s, end_s] in global seconds."""
    scans: Annotated[list[dict[str, Any]], operator.add]
    """One entry per window scanned: answer, spans (global seconds), reasoning, or an error."""


class ScanTask(TypedDict):
    """The payload sent to one ``scan``."""

    index: int
    start_s: float
    end_s: float
    video: str
    question: str
    preset: str | None
    total: int


async def plan(state: State, runtime: Runtime[Any], *, contexts: ContextCache) -> dict[str, Any]:
    """Probe the video and plan the windows."""
    ctx = context_of(runtime, contexts)
    await ctx.aget_reasoner()  # fail early without a model
    given = state.get("video", "")
    named = [given] if isinstance(given, str) and given else []  # else plan_triage names the problem
    async with ctx.readable(named) as opened:
        planned = await plan_triage(
            opened[0] if opened else given,
            state.get("query", ""),
            window_s=float(state.get("window_s", DEFAULT_WINDOW_S)),
            overlap_s=float(state.get("overlap_s", DEFAULT_OVERLAP_S)),
        )
    windows = list(planned.windows)
    emit(
        runtime.stream_writer,
        {
            "type": "progress",
            "stage": "probe",
            "message": f"{len(windows)} window(s)",
            "windows": len(windows),
        },
    )
    return {"info": planned.info, "windows": windows, "video": planned.video}


def fan_out(state: State) -> list[Send]:
    """One ``scan`` per window."""
    question = triage_question(state["query"])
    total = len(state["windows"])
    return [
        Send(
            "scan",
            ScanTask(
                index=i,
                start_s=start,
                end_s=end,
                video=state["video"],
                question=question,
                preset=state.get("preset"),
                total=total,
            ),
        )
        for i, (start, end) in enumerate(state["windows"])
    ]


def window_event(outcome: dict[str, Any], total: int) -> dict[str, Any]:
    """The ``window`` stream event of one window's outcome (the whole outcome when it failed)."""
    if outcome.get("error") is not None:
        return {"type": "window", **outcome, "total": total}
    return {
        "type": "window",
        "index": outcome["index"],
        "total": total,
        "start_s": outcome["start_s"],
        "end_s": outcome["end_s"],
        "answer": outcome["answer"],
        "spans": [[s["start_s"], s["end_s"]] for s in outcome["segments"] if s["start_s"] is not None],
    }


async def scan(task: ScanTask, runtime: Runtime[Any], *, contexts: ContextCache) -> dict[str, Any]:
    """Ask the model about one window; keep only its parsed answer and spans."""
    ctx = context_of(runtime, contexts)
    reasoner = await ctx.aget_reasoner()
    async with ctx.limiter(), ctx.readable([task["video"]]) as (video,):
        outcome = await scan_window(
            reasoner,
            video,
            task["question"],
            task["index"],
            task["start_s"],
            task["end_s"],
            preset=task["preset"] or ctx.preset,
        )
    emit(runtime.stream_writer, window_event(outcome, task["total"]))
    return {"scans": [outcome]}


def collect(state: State) -> dict[str, Any]:
    """Merge and rank the findings into the report."""
    planned = TriagePlan(
        video=state["video"],
        query=state["query"],
        window_s=float(state.get("window_s", DEFAULT_WINDOW_S)),
        overlap_s=float(state.get("overlap_s", DEFAULT_OVERLAP_S)),
        info=state["info"],
        windows=tuple((float(a), float(b)) for a, b in state["windows"]),
    )
    return {"report": build_report(planned, state.get("scans", []))}


def build_graph(contexts: ContextCache | None = None) -> StateGraph[State, Any, InputState, OutputState]:
    """The uncompiled triage graph (``contexts``: where JSON contexts become reasoners)."""
    cache = ContextCache() if contexts is None else contexts
    builder = StateGraph(State, context_schema=RunContext, input_schema=InputState, output_schema=OutputState)
    builder.add_node("plan", node(bind(plan, cache)))
    builder.add_node("scan", node(bind(scan, cache)), input_schema=ScanTask)  # Send payload, not State
    builder.add_node("collect", collect)
    builder.add_edge(START, "plan")
    builder.add_conditional_edges("plan", fan_out, ["scan"])
    builder.add_edge("scan", "collect")
    builder.add_edge("collect", END)
    return builder


graph: CompiledStateGraph[State, Any, InputState, OutputState] = build_graph().compile(name="triage")
"""The compiled default triage graph; run it with a JSON context (``{"backend": "fake"}``) or a GraphContext."""
