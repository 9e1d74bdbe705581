"""video_thinker step by step: one grounded step per graph step, and the review between steps.

* :func:`run_step` streams one reasoner call that continues the trace so far (its token ids
  where the engine gave them) and stops once a step closes (``stop_after_step``); the answer step
  runs to the end. One-shot mode is the same call from an empty trace without stopping.
* :func:`review_edit` (the ``review`` node, opt-in: ``interrupt_steps``) pauses the graph after a
  step with ``interrupt(...)``; the caller resumes with ``Command(resume=EDIT)``: ``"keep"`` (or
  ``{"action": "keep"}``; LangGraph 1.2 fails on ``resume=None``), an object with ``caption``,
  ``think``, ``start_s``, ``end_s`` (the last step, or ``"index": i``), or ``"drop"``. A bad edit
  asks again with ``error`` in the payload. :func:`vt_agent.steps.edit_trace` applies it and the
  model continues from the edited trace.
* :func:`edit_update`: the same edit as a state update, for time travel
  (``graph.update_state(past_config, edit_update(values, edit), as_node="review")``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphs.stream import EventForwarder, StreamWriter
from vt_agent.errors import ConfigError, NoResultError
from vt_agent.events import FinishedEvent, ReasonerEvent, TokenEvent
from vt_agent.steps import EDIT_FIELDS, edit_trace

if TYPE_CHECKING:
    from graphs.context import ReasonerLike
    from vt_agent.result import Result
    from vt_agent.sandbox import OpenedFile

__all__ = ["StepRun", "edit_update", "review_edit", "review_payload", "run_step", "seen_of"]


@dataclass
class StepRun:
    """What one reasoner call gave: the Result over the trace so far, the steps it closed, whether it
    paused after a step, and the trace's token ids (None where the engine gives none or the trace
    was edited)."""

    result: Result
    steps: list[dict[str, Any]]
    paused: bool
    token_ids: list[int] | None
    new_ids: list[int] = field(default_factory=list)


async def run_step(
    reasoner: ReasonerLike,
    writer: StreamWriter | None,
    videos: Sequence[str | OpenedFile],
    question: str,
    options: Sequence[str] | None,
    *,
    window: tuple[float, float] | None,
    preset: str | None,
    tag: dict[str, Any],
    token_interval_s: float,
    trace: str = "",
    trace_token_ids: Sequence[int] | None = None,
    stop_after_step: bool = True,
    max_tokens: int | None = None,
) -> StepRun:
    """Continue ``trace`` (from its token ids where known) until a step closes or the answer ends."""
    forward = EventForwarder(writer, tag=tag, token_interval_s=token_interval_s)
    new_ids: list[int] = []
    ids_known = not trace or trace_token_ids is not None
    finished: FinishedEvent | None = None

    def on_event(event: ReasonerEvent) -> None:
        nonlocal finished
        if isinstance(event, TokenEvent):  # text may trail its ids (a decoder holding back text)
            new_ids.extend(event.token_ids)
        elif isinstance(event, FinishedEvent):
            finished = event
        forward(event)

    remaining = max_tokens
    if max_tokens is not None and trace_token_ids is not None:
        remaining = max(1, max_tokens - len(trace_token_ids))  # the answer's budget, not each step's
    stream = reasoner.astream(
        list(videos),
        question,
        options,
        window=window,
        preset=preset,
        max_tokens=remaining,
        assistant_prefix=trace,
        prefix_token_ids=None if not trace else trace_token_ids,
        stop_after_step=stop_after_step,
    )
    try:
        async for event in stream:
            on_event(event)
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    forward.flush()
    if finished is None:
        raise NoResultError("the reasoner stream ended without a result (no FinishedEvent)")
    done: FinishedEvent = finished
    # an engine that reports ids reports them all; one that reports none (fake, HTTP) gives None
    ids = [*(trace_token_ids or []), *new_ids] if ids_known and new_ids else None
    return StepRun(done.result, forward.steps, done.paused, ids, new_ids)


def seen_of(sampling: Sequence[Mapping[str, Any]], video: int) -> tuple[float, float]:
    """(global start, length) of what the model saw of ``video``, from the state's sampling records."""
    rec = sampling[min(max(video, 0), len(sampling) - 1)]
    window = rec.get("window")
    if window:
        return float(window[0]), float(window[1]) - float(window[0])
    return 0.0, float(rec["duration_s"])


def edit_update(values: Mapping[str, Any], edit: Mapping[str, Any] | str | None) -> dict[str, Any]:
    """The state update that applies ``edit`` to a paused trace (empty when it keeps the step)."""
    segments = values.get("segments") or []
    if isinstance(edit, str):
        edit = {"action": edit}
    index = (edit or {}).get("index", len(segments) - 1)
    video = (
        int(segments[index].get("video", 0)) if isinstance(index, int) and 0 <= index < len(segments) else 0
    )
    changed = edit_trace(values.get("trace", ""), segments, edit, seen_of(values["sampling"], video))
    if changed is None:
        return {}
    trace, segs = changed
    return {
        "trace": trace,
        "trace_token_ids": None,  # the ids no longer spell the trace: the engine re-tokenizes it
        "segments": segs,
        "confirmed": [None] * len(segs),
        "edits": [{**dict(edit or {}), "attempt": values.get("attempts", 1)}],
    }


def review_payload(values: Mapping[str, Any]) -> dict[str, Any]:
    """What the caller reads at a review interrupt: the step just made, all steps, how to answer."""
    segments = list(values.get("segments") or [])
    return {
        "type": "step",
        "index": len(segments) - 1,
        "step": segments[-1] if segments else None,
        "segments": segments,
        "trace": values.get("trace", ""),
        "resume": (
            'Command(resume="keep") keeps the step; an object with ' + ", ".join(EDIT_FIELDS) + " edits it "
            '(e.g. {"caption": "..."} or {"start_s": 1, "end_s": 3}); "drop" drops it'
        ),
    }


def review_edit(values: Mapping[str, Any], ask: Any) -> dict[str, Any]:
    """Ask (``ask`` is LangGraph's ``interrupt``) until the answer is a valid edit; its state update.

    A bad edit is not fatal: the caller is asked again, the payload's ``error`` saying what was wrong.
    """
    payload = review_payload(values)
    while True:
        answer = ask(payload)
        try:
            return edit_update(values, answer)
        except ConfigError as exc:
            payload = {**payload, "error": str(exc)}
