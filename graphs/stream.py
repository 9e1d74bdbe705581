"""A reasoner call inside a graph node: its events as the graph's custom stream events.

Custom events (``stream_mode="custom"``), each a dict with ``type``:

* ``token``: ``text`` (deltas coalesced to at most one event per ``token_interval_s``);
* ``segment``: a parsed segment (global seconds, see :func:`segment_record`);
* ``answer``: ``text`` and ``letter`` of a closed ``<answer>``;
* ``progress``: ``stage``, ``message``, ``fraction``.

A node's ``tag`` (e.g. ``{"attempt": 1}``) is merged into every event it sends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from vt_agent.events import AnswerEvent, ProgressEvent, ReasonerEvent, SegmentClosed, TokenEvent
from vt_agent.runs import drain

if TYPE_CHECKING:
    from graphs.context import ReasonerLike
    from vt_agent.result import Result, Segment
    from vt_agent.sandbox import OpenedFile

__all__ = ["EventForwarder", "StreamWriter", "emit", "result_summary", "run_reasoner", "segment_record"]

StreamWriter = Callable[[Any], None]


def emit(writer: StreamWriter | None, event: dict[str, Any]) -> None:
    """Send one custom stream event (no-op when nobody streams ``custom``)."""
    if writer is not None:
        writer(event)


def segment_record(
    segment: Segment, *, video: int | None = None, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A segment as a JSON-able dict (global seconds), optionally re-stamped with a video index."""
    data = segment.model_dump(mode="json")
    data.update(extra or {})
    if video is not None:
        data["video"] = video
    return data


def result_summary(result: Result, *, video: int | None = None) -> dict[str, Any]:
    """The JSON-able Result without the bulky parts (thumbnails' base64 is dropped)."""
    data = result.model_dump(mode="json")
    data["thumbnails"] = [{k: v for k, v in t.items() if k != "jpeg_base64"} for t in data["thumbnails"]]
    if video is not None:
        for seg in data["segments"]:
            seg["video"] = video
    return data


class EventForwarder:
    """Turns reasoner events into custom stream events; keeps the segment steps in parse order.

    Token deltas are held and sent joined at most every ``token_interval_s`` (0: one event per
    delta); held text always goes out before the segment, answer or progress event it led to.
    Call :meth:`flush` when the stream ends.
    """

    def __init__(
        self,
        writer: StreamWriter | None,
        *,
        tokens: bool = True,
        tag: dict[str, Any] | None = None,
        video: int | None = None,
        token_interval_s: float = 0.0,
    ) -> None:
        self.writer = writer
        self.tokens = tokens
        self.extra = tag or {}
        self.video = video
        self.token_interval_s = token_interval_s
        self.steps: list[dict[str, Any]] = []
        self._pending: list[str] = []
        self._last_sent = 0.0

    def flush(self) -> None:
        """Send the held token text, if any."""
        if self._pending:
            emit(self.writer, {"type": "token", "text": "".join(self._pending), **self.extra})
            self._pending.clear()
        self._last_sent = time.monotonic()

    def __call__(self, event: ReasonerEvent) -> None:
        if isinstance(event, TokenEvent):
            if self.tokens and self.writer is not None:
                self._pending.append(event.text)
                if time.monotonic() - self._last_sent >= self.token_interval_s:
                    self.flush()
            return
        if isinstance(event, SegmentClosed | AnswerEvent | ProgressEvent):
            self.flush()  # held text goes out before the event it led to
        if isinstance(event, SegmentClosed):
            step = segment_record(event.segment, video=self.video, extra=self.extra)
            self.steps.append(step)
            emit(self.writer, {"type": "segment", **step})
        elif isinstance(event, AnswerEvent):
            emit(self.writer, {"type": "answer", "text": event.text, "letter": event.letter, **self.extra})
        elif isinstance(event, ProgressEvent):
            emit(
                self.writer,
                {
                    "type": "progress",
                    "stage": event.stage,
                    "message": event.message,
                    "fraction": event.fraction,
                    **self.extra,
                },
            )


async def run_reasoner(
    reasoner: ReasonerLike,
    writer: StreamWriter | None,
    videos: Sequence[str | OpenedFile],
    question: str,
    options: Sequence[str] | None = None,
    *,
    window: tuple[float, float] | None = None,
    preset: str | None = None,
    tokens: bool = True,
    tag: dict[str, Any] | None = None,
    video: int | None = None,
    token_interval_s: float = 0.0,
) -> tuple[Result, list[dict[str, Any]]]:
    """Stream one reasoner call, forwarding its events as custom stream events.

    Returns the Result and the segment steps in the order they were parsed. ``tag`` is merged
    into every event; ``video`` re-stamps the segments' video index (a per-video call in a
    multi-video graph); ``token_interval_s`` coalesces token events.
    """
    forward = EventForwarder(writer, tokens=tokens, tag=tag, video=video, token_interval_s=token_interval_s)
    stream = reasoner.astream(list(videos), question, options, window=window, preset=preset)
    result = await drain(stream, forward)
    forward.flush()
    return result, forward.steps
