"""One question's run, shared by every caller: events to a Result, plain text generation, the agent view.

* :func:`drain` consumes a reasoner's event stream (``VideoReasoner.astream``) to its
  :class:`~vt_agent.events.FinishedEvent`, handing each event to an optional callback, and
  returns the :class:`~vt_agent.result.Result`. The stream is always closed (which stops the
  generation when the caller stops early); a stream that ends without a result raises
  :class:`~vt_agent.errors.NoResultError`.
* :func:`generate_text` asks the reasoner's backend a prompt that is not a Video-Thinker trace
  prompt (a benchmark's own prompt): the videos are sampled as for a trace, the text comes
  back whole with its finish reason and timings. :func:`collect_text` is its last step (one
  request to a backend, read whole), for text-only prompts too.
* The agent view (what a calling model reads): :data:`TOOL_PURPOSE`, :func:`span_label`,
  :func:`caption_line`, :func:`summary_text` and :func:`agent_result`. They accept a
  :class:`Result` / :class:`Segment` or their JSON form (a graph's output).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from vt_agent.errors import NoResultError
from vt_agent.events import FinishedEvent, ReasonerEvent
from vt_agent.result import FALLBACK_NOTE, SOURCE_NOTES, Result, SamplingRecord, Segment, Timings

if TYPE_CHECKING:
    from vt_agent.backends.base import Backend, GenerationRequest
    from vt_agent.reasoner import VideoPaths, VideoReasoner
    from vt_agent.video.prepared import PreparedVideo

__all__ = [
    "SUMMARY_SEGMENTS",
    "TOOL_PURPOSE",
    "TextOutput",
    "agent_result",
    "answer_line",
    "caption_line",
    "collect_text",
    "drain",
    "generate_text",
    "span_label",
    "summary_text",
]

# ------------------------------------------------------------------------------ the drain


async def drain(
    events: AsyncIterator[ReasonerEvent], on_event: Callable[[ReasonerEvent], object] | None = None
) -> Result:
    """Run ``events`` to the end, calling ``on_event`` on each one; the Result of its FinishedEvent.

    The stream is closed whatever happens (an exception in ``on_event``, cancellation).
    """
    result: Result | None = None
    try:
        async for event in events:
            if on_event is not None:
                on_event(event)
            if isinstance(event, FinishedEvent):
                result = event.result
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
    if result is None:
        raise NoResultError("the reasoner stream ended without a result (no FinishedEvent)")
    return result


# ------------------------------------------------------------------------------ plain text generation


@dataclass(frozen=True)
class TextOutput:
    """What :func:`generate_text` produced: the whole text, why it stopped, what was seen, timings."""

    text: str
    finish_reason: Literal["stop", "length"] | None
    videos: list[SamplingRecord]
    timings: Timings


async def collect_text(
    backend: Backend, request: GenerationRequest, *, started: float | None = None
) -> tuple[str, Literal["stop", "length"] | None, float | None]:
    """``backend.stream(request)`` read whole: (text, finish reason, seconds to the first text delta).

    The first-delta time counts from ``started`` (a ``time.perf_counter()`` value; default: now).
    The stream is closed whatever happens, which stops the generation.
    """
    t0 = time.perf_counter() if started is None else started
    parts: list[str] = []
    first: float | None = None
    finish: Literal["stop", "length"] | None = None
    stream = backend.stream(request)
    try:
        async for delta in stream:
            if delta.text:
                if first is None:
                    first = time.perf_counter() - t0
                parts.append(delta.text)
            if delta.finish_reason is not None:
                finish = delta.finish_reason
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
    return "".join(parts), finish, first


async def generate_text(
    reasoner: VideoReasoner,
    videos: VideoPaths,
    messages: list[dict[str, Any]],
    *,
    window: tuple[float, float] | None = None,
    preset: str | None = None,
    max_tokens: int | None = None,
    prepared: Sequence[PreparedVideo] | None = None,
) -> TextOutput:
    """Ask ``messages`` (Qwen chat layout, ``{"type": "video", "video": i}`` entries) about ``videos``.

    The videos are sampled as :meth:`VideoReasoner.astream` samples them (preset, window, frame
    cache); decoding settings and the concurrency limit are the reasoner's. Times count from the
    call: ``first_token_s`` is the first text delta, ``total_s`` the end of generation.
    ``prepared``: the videos' frames already sampled (see :meth:`VideoReasoner.astream`).
    """
    from vt_agent.backends.base import GenerationRequest
    from vt_agent.errors import ConfigError

    limit = reasoner.max_tokens if max_tokens is None else max_tokens
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigError(f"max_tokens must be a positive integer, got {limit!r}")
    t0 = time.perf_counter()
    videos_in = await reasoner.prepare(videos, preset=preset, window=window, ready=prepared)
    decode_s = time.perf_counter() - t0
    await reasoner.load()
    request = GenerationRequest(
        messages=messages,
        videos=videos_in,
        max_tokens=limit,
        temperature=reasoner.temperature,
        top_p=reasoner.top_p,
        request_id=uuid.uuid4().hex,
    )
    async with reasoner.generation_slot():
        text, finish, first = await collect_text(reasoner.backend, request, started=t0)
    return TextOutput(
        text=text,
        finish_reason=finish,
        videos=[p.record for p in videos_in],
        timings=Timings(
            decode_s=round(decode_s, 6),
            first_token_s=None if first is None else round(first, 6),
            total_s=round(time.perf_counter() - t0, 6),
            generated_chars=len(text),
        ),
    )


# ------------------------------------------------------------------------------ the agent view

TOOL_PURPOSE = (
    "Answer a question about one or more local video files with Video-Thinker, a video model that "
    "grounds its reasoning in time: it cites the spans it looked at (MM:SS and seconds), describes "
    "them, and answers. Give options for a multiple-choice question; the answer is then a letter."
)
"""The first sentences of every ``video_reason`` tool description; each adapter adds what it returns."""

SUMMARY_SEGMENTS = 8
"""Segments listed in :func:`summary_text` (the rest are counted)."""

_MISSING = object()


def _get(obj: Any, name: str, default: Any = _MISSING) -> Any:
    """``obj.name`` or ``obj[name]``: the agent view reads models and their JSON alike."""
    if isinstance(obj, Mapping):
        return obj[name] if default is _MISSING else obj.get(name, default)
    return getattr(obj, name) if default is _MISSING else getattr(obj, name, default)


def _source(result: Result | Mapping[str, Any]) -> str:
    """Where the answer came from (``Result.source``; older JSON without it: from ``scripted``)."""
    return str(_get(result, "source", "scripted" if _get(result, "scripted", False) else "model"))


def span_label(segment: Segment | Mapping[str, Any]) -> str:
    """``MM:SS-MM:SS`` of a segment, or its raw ``<time>`` text when the span could not be read."""
    start = _get(segment, "start", None)
    if start is not None:
        return f"{start}-{_get(segment, 'end', None)}"
    return str(_get(segment, "time_text", "") or "")


def caption_line(text: str | None, limit: int = 160) -> str:
    """A caption on one line, cut to ``limit`` characters (ending in ``...`` when cut)."""
    line = (text or "").strip().replace("\n", " ")
    if len(line) > limit:
        line = line[: max(0, limit - 3)] + "..."
    return line


def answer_line(result: Result | Mapping[str, Any]) -> str:
    """``Answer: B. Stretches his arms and yawns``: the letter with its option text (or the open answer)."""
    answer = _get(result, "answer")
    answer_text = (_get(result, "answer_text", None) or "").strip()
    options: Sequence[str] = list(_get(result, "options", []) or [])
    if answer is None:
        if not options and answer_text:
            return f"Answer: {caption_line(answer_text, 300)}"
        written = f" (the model wrote: {caption_line(answer_text, 120)})" if answer_text else ""
        return ("Answer: none of the options found" if options else "Answer: (none found)") + written
    letter = str(answer)
    index = ord(letter.upper()) - ord("A") if len(letter) == 1 and letter.isalpha() else -1
    option = options[index].strip() if 0 <= index < len(options) else ""
    if option and not option.upper().startswith(f"{letter.upper()}."):
        option = f"{letter}. {option}"
    shown = option or letter
    said = answer_text.strip(" .()[]").upper()
    plain = {"", letter.upper(), option.upper(), option[len(letter) + 1 :].strip().upper()}
    extra = f" (the model wrote: {caption_line(answer_text, 120)})" if said not in plain else ""
    return f"Answer: {caption_line(shown, 300)}{extra}"


def summary_text(result: Result | Mapping[str, Any], *, max_segments: int = SUMMARY_SEGMENTS) -> str:
    """The result as a few lines for a model to read: answer (letter and option text), provenance, spans."""
    lines = [answer_line(result)]
    if _get(result, "scripted", False):
        lines.append("NOTE: a scripted fake backend wrote this trace; it is not a model's answer.")
    elif _source(result) == "random weights":
        lines.append(f"NOTE: {SOURCE_NOTES['random weights']}.")
    if _get(result, "answer_fallback", False):
        lines.append(f"NOTE: {FALLBACK_NOTE}.")
    segments: Sequence[Any] = _get(result, "segments", [])
    multi = len(_get(result, "videos", [])) > 1
    for seg in segments[:max_segments]:
        vid = f"video {int(_get(seg, 'video', 0)) + 1} " if multi else ""
        lines.append(f"- {vid}{span_label(seg)}: {caption_line(_get(seg, 'caption', None))}")
    if len(segments) > max_segments:
        lines.append(f"- ... {len(segments) - max_segments} more segments in the structured result")
    fmt = _get(result, "format")
    if not _get(fmt, "ok"):
        lines.append("Trace format problems: " + "; ".join(list(_get(fmt, "problems", []))[:3]))
    if _get(result, "finish_reason", None) == "length":
        lines.append("The output was cut off at the token limit.")
    return "\n".join(lines)


def agent_result(
    result: Result | Mapping[str, Any],
    *,
    segments: Sequence[Segment | Mapping[str, Any]] | None = None,
    attempts: int = 1,
) -> dict[str, Any]:
    """The result as a small JSON-able dict for a calling model (no trace, no sampling records).

    ``segments``: the segments to show instead of the result's own (e.g. with ``confirmed`` set
    by a verification pass); ``attempts``: model calls made for the answer.
    """
    shown = _get(result, "segments", []) if segments is None else segments
    return {
        "answer": _get(result, "answer"),
        "answer_text": _get(result, "answer_text", None),
        "options": list(_get(result, "options", [])),
        "segments": [
            {
                "video": _get(s, "video", 0),
                "span": span_label(s),
                "start_s": _get(s, "start_s", None),
                "end_s": _get(s, "end_s", None),
                "caption": _get(s, "caption", None),
                "think": _get(s, "think", None),
                "confirmed": _get(s, "confirmed", None),
            }
            for s in shown
        ],
        "format_ok": bool(_get(_get(result, "format"), "ok")),
        "attempts": attempts,
        "warnings": list(_get(result, "warnings", [])),
        "model": _get(result, "model", ""),
        "scripted": _get(result, "scripted", False),
        "source": _source(result),
        "answer_fallback": bool(_get(result, "answer_fallback", False)),
    }
