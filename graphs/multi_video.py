"""Several videos, one question: one grounded trace per video, then a synthesis with citations.

::

    START -> check --Send per video--> reason_one (bounded by GraphContext.concurrency)
          -> synthesize -> END

* ``reason_one`` runs the question on one video (its own trace, spans in that video's global
  seconds, segments stamped with the video's index). A video that fails (cannot be decoded, not
  found, ...) is recorded in ``errors`` with its path and message; the others still answer.
* ``synthesize`` asks the model once more, with every video that answered (the multi-video
  message layout: "Video 1: <video> Video 2: <video> ...") and the per-video findings given as
  text before the question. When that trace is malformed (no answer by the §5 ladder, or the
  format check fails) or the call fails, the answer is the majority vote of the per-video answers
  (ties go to the option that comes first, then the earliest video).
* ``citations``: the cited spans of the videos whose own answer agrees with the final answer
  (video index, path, start/end seconds, caption).
"""

from __future__ import annotations

import operator
from collections import Counter
from typing import TYPE_CHECKING, Annotated, Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send
from typing_extensions import NotRequired, TypedDict

from graphs._bridge import node
from graphs.context import GraphContext, context_of
from graphs.stream import emit, result_summary, run_reasoner
from vt_agent.errors import ConfigError, VTAgentError

if TYPE_CHECKING:
    from langgraph.graph.state import CompiledStateGraph

__all__ = [
    "InputState",
    "OutputState",
    "State",
    "build_graph",
    "findings_text",
    "graph",
    "majority_vote",
]


class InputState(TypedDict):
    """What a caller gives the multi-video graph."""

    videos: list[str]
    """Paths of the videos (two or more; one works too)."""
    question: str
    """The question about the videos (the problem text, without options)."""
    options: NotRequired[list[str]]
    """Answer options; empty or absent for an open question."""
    preset: NotRequired[str | None]
    """Sampling preset (None: the context's or the reasoner's default)."""
    synthesize_with_model: NotRequired[bool]
    """Ask the model for the synthesis (default True); False: majority vote only."""


class OutputState(TypedDict):
    """What the multi-video graph returns."""

    answer: str | None
    """The final answer (letter for multiple choice), None when no video answered."""
    synthesis: Literal["model", "majority", "none"]
    """How the final answer was reached."""
    citations: list[dict[str, Any]]
    """Spans supporting the final answer: video index, path, start_s, end_s, caption, think."""
    per_video: Annotated[list[dict[str, Any]], operator.add]
    """Per video that answered: index, path, answer, segments, format_ok, result summary."""
    errors: Annotated[list[dict[str, Any]], operator.add]
    """Per video that failed: index, path, message."""
    synthesis_result: dict[str, Any] | None
    """The synthesis call's Result as JSON (None when it was not asked or failed)."""
    warnings: list[str]
    """Why the synthesis fell back to the majority vote, if it did."""


class State(InputState, OutputState):
    """The whole multi-video state (``per_video`` and ``errors`` gather the fan-out's results)."""


class VideoTask(TypedDict):
    """The payload sent to one ``reason_one``."""

    index: int
    path: str
    question: str
    options: list[str]
    preset: str | None


def check(state: State, runtime: Runtime[GraphContext]) -> dict[str, Any]:
    """Validate the input (and that a model is available) before fanning out."""
    context_of(runtime).get_reasoner()
    videos = state.get("videos")
    if not isinstance(videos, list) or not videos or not all(isinstance(v, str) and v for v in videos):
        raise ConfigError("'videos' must be a non-empty list of video file paths")
    question = state.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ConfigError("'question' is empty: give the question text")
    return {}


def fan_out(state: State) -> list[Send]:
    """One ``reason_one`` per video."""
    return [
        Send(
            "reason_one",
            VideoTask(
                index=i,
                path=path,
                question=state["question"],
                options=list(state.get("options") or []),
                preset=state.get("preset"),
            ),
        )
        for i, path in enumerate(state["videos"])
    ]


async def reason_one(task: VideoTask, runtime: Runtime[GraphContext]) -> dict[str, Any]:
    """The question on one video; failures are recorded, not raised."""
    ctx = context_of(runtime)
    index = task["index"]
    try:
        async with ctx.limiter():
            result, _ = await run_reasoner(
                ctx.get_reasoner(),
                runtime.stream_writer,
                [task["path"]],
                task["question"],
                task["options"] or None,
                preset=task["preset"] or ctx.preset,
                tokens=False,
                tag={"video": index},
                video=index,
            )
    except VTAgentError as exc:
        error = {"index": index, "path": task["path"], "message": str(exc), "error": type(exc).__name__}
        emit(runtime.stream_writer, {"type": "video_error", **error})
        return {"errors": [error]}
    summary = result_summary(result, video=index)
    entry = {
        "index": index,
        "path": task["path"],
        "answer": result.answer,
        "answer_text": result.answer_text,
        "format_ok": result.format.ok,
        "segments": summary["segments"],
        "result": summary,
    }
    emit(
        runtime.stream_writer,
        {"type": "video_done", "index": index, "path": task["path"], "answer": result.answer},
    )
    return {"per_video": [entry]}


def findings_text(per_video: list[dict[str, Any]], labels: dict[int, str]) -> str:
    """The per-video findings, as the text context of the synthesis question."""
    lines = ["Findings from a first look at each video separately:"]
    for entry in per_video:
        label = labels[entry["index"]]
        answer = entry["answer"] or "no answer"
        lines.append(f"{label}answered {answer}.")
        for seg in entry["segments"]:
            if seg.get("start") is None or not seg.get("caption"):
                continue
            lines.append(f"  {seg['start']}-{seg['end']}: {seg['caption']}")
    return "\n".join(lines)


def majority_vote(per_video: list[dict[str, Any]], options: list[str]) -> str | None:
    """Most common per-video answer; ties go to the earlier option letter, then the earlier video."""
    answers: list[str] = [
        str(e["answer"]) for e in sorted(per_video, key=lambda e: e["index"]) if e["answer"]
    ]
    if not answers:
        return None
    counts = Counter(answers)
    top = max(counts.values())
    tied = [a for a in dict.fromkeys(answers) if counts[a] == top]
    return sorted(tied)[0] if options else tied[0]


def _citations(per_video: list[dict[str, Any]], answer: str | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for entry in sorted(per_video, key=lambda e: e["index"]):
        if answer is None or entry["answer"] != answer:
            continue
        for seg in entry["segments"]:
            if seg.get("start_s") is None:
                continue
            out.append(
                {
                    "video": entry["index"],
                    "path": entry["path"],
                    "segment": seg["index"],
                    "start_s": seg["start_s"],
                    "end_s": seg["end_s"],
                    "start": seg["start"],
                    "end": seg["end"],
                    "caption": seg.get("caption"),
                    "think": seg.get("think"),
                }
            )
    return out


async def synthesize(state: State, runtime: Runtime[GraphContext]) -> dict[str, Any]:
    """One more model call over all answering videos with the findings as text; majority fallback."""
    ctx = context_of(runtime)
    per_video = sorted(state.get("per_video", []), key=lambda e: e["index"])
    options = list(state.get("options") or [])
    warnings: list[str] = []
    if not per_video:
        return {
            "answer": None,
            "synthesis": "none",
            "citations": [],
            "synthesis_result": None,
            "warnings": ["no video could be used"],
        }
    answer: str | None = None
    how: Literal["model", "majority", "none"] = "majority"
    synth: dict[str, Any] | None = None
    if state.get("synthesize_with_model", True):
        labels = {
            e["index"]: f"Video {n + 1} ({e['path'].rsplit('/', 1)[-1]}): " for n, e in enumerate(per_video)
        }
        question = (
            findings_text(per_video, labels) + "\n\nNow look at all the videos together. " + state["question"]
        )
        emit(
            runtime.stream_writer,
            {"type": "progress", "stage": "generate", "message": "synthesis over all videos"},
        )
        try:
            result, _ = await run_reasoner(
                ctx.get_reasoner(),
                runtime.stream_writer,
                [e["path"] for e in per_video],
                question,
                options or None,
                preset=state.get("preset") or ctx.preset,
                tag={"synthesis": True},
            )
        except VTAgentError as exc:
            warnings.append(f"the synthesis call failed ({exc}); majority vote of the per-video answers")
        else:
            synth = result_summary(result)
            if result.answer is not None and result.format.ok:
                answer, how = result.answer, "model"
            else:
                problems = "; ".join(result.format.problems) or "no answer"
                warnings.append(
                    f"the synthesis trace is malformed ({problems}); majority vote of the per-video answers"
                )
    if how != "model":
        answer = majority_vote(per_video, options)
        how = "majority" if answer is not None else "none"
    return {
        "answer": answer,
        "synthesis": how,
        "citations": _citations(per_video, answer),
        "synthesis_result": synth,
        "warnings": warnings,
    }


def build_graph() -> StateGraph[State, GraphContext, InputState, OutputState]:
    """The uncompiled multi-video graph."""
    builder = StateGraph(
        State, context_schema=GraphContext, input_schema=InputState, output_schema=OutputState
    )
    builder.add_node("check", check)
    builder.add_node("reason_one", node(reason_one), input_schema=VideoTask)  # Send payload
    builder.add_node("synthesize", node(synthesize))
    builder.add_edge(START, "check")
    builder.add_conditional_edges("check", fan_out, ["reason_one"])
    builder.add_edge("reason_one", "synthesize")
    builder.add_edge("synthesize", END)
    return builder


graph: CompiledStateGraph[State, GraphContext, InputState, OutputState] = build_graph().compile(
    name="multi_video"
)
"""The compiled default multi-video graph; pass ``context=GraphContext(...)`` to run it."""
