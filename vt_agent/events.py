"""Typed events: what the trace parser emits while the model writes, plus the reasoner's own.

Trace events (from :class:`vt_agent.trace.TraceParser`): TextEvent, SegmentOpened,
CaptionEvent, ThinkEvent, SegmentClosed, AnswerEvent, TraceWarning.
Reasoner events (from :class:`vt_agent.reasoner.VideoReasoner`): ProgressEvent, TokenEvent,
FinishedEvent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vt_agent.result import Result, Segment

__all__ = [
    "AnswerEvent",
    "CaptionEvent",
    "FinishedEvent",
    "ProgressEvent",
    "ReasonerEvent",
    "SegmentClosed",
    "SegmentOpened",
    "TextEvent",
    "ThinkEvent",
    "TokenEvent",
    "TraceEvent",
    "TraceWarning",
]


@dataclass(frozen=True)
class TextEvent:
    """Untagged text (free reasoning between and after the segments)."""

    text: str


@dataclass(frozen=True)
class SegmentOpened:
    """A ``<time>`` tag closed: a new segment with its span (global seconds, None if unreadable)."""

    index: int
    time_text: str
    start_s: float | None
    end_s: float | None
    video: int = 0


@dataclass(frozen=True)
class CaptionEvent:
    """A ``<caption>`` closed for segment ``index``."""

    index: int
    text: str


@dataclass(frozen=True)
class ThinkEvent:
    """A ``<think>`` closed for segment ``index``."""

    index: int
    text: str


@dataclass(frozen=True)
class SegmentClosed:
    """A segment is complete (its think closed, or the next segment/answer began)."""

    segment: Segment


@dataclass(frozen=True)
class AnswerEvent:
    """An ``<answer>`` closed. ``letter`` is the ladder's letter or None."""

    text: str
    letter: str | None


@dataclass(frozen=True)
class TraceWarning:
    """Something malformed in the trace; parsing goes on."""

    message: str


TraceEvent = (
    TextEvent | SegmentOpened | CaptionEvent | ThinkEvent | SegmentClosed | AnswerEvent | TraceWarning
)


@dataclass(frozen=True)
class ProgressEvent:
    """Progress of the non-generation stages."""

    stage: Literal["load", "probe", "decode", "prefill", "generate", "thumbnails", "verify"]
    message: str
    fraction: float | None = None


@dataclass(frozen=True)
class TokenEvent:
    """A raw text delta from the backend, as it arrived (with its token ids where the engine
    reports them)."""

    text: str
    token_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class FinishedEvent:
    """The last event of a run. ``paused``: a step-by-step run stopped after a step closed
    (``stop_after_step``); the result then covers the trace so far."""

    result: Result
    paused: bool = False


ReasonerEvent = TraceEvent | ProgressEvent | TokenEvent | FinishedEvent
