"""Where a segment's span lies: the one window rule, what the model saw of a video, the multi-video rule.

Times: the model's ``<time>`` spans are local to what it saw (:func:`seen_span`: a window or the
whole clip); segments carry global seconds (the window's start added, clamped to what was seen).

Multi-video rule (this project's choice): a segment refers to the video named by the first
``Video N`` (or ``video N``) mention in its time text, else its caption, else its think; with no
mention it refers to the same video as the segment before it (video 0 for the first). Its span
is clamped to that video's length. :class:`~vt_agent.events.SegmentOpened` events carry the video known at that
point (time text or carry-forward); :class:`~vt_agent.events.SegmentClosed` and the Result are authoritative.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from vt_agent.errors import ConfigError
from vt_agent.result import SamplingRecord, Segment, mmss

__all__ = ["assign_video", "check_window", "mentioned_video", "seen_span"]

_VIDEO_RE = re.compile(r"\bvideo\s*#?\s*(\d+)\b", re.IGNORECASE)
_VIDEO_LABEL_RE = re.compile(r"^\s*video\s*#?\s*\d+\s*[:,]?\s*", re.IGNORECASE)


def check_window(
    window: tuple[float, float] | Sequence[float] | None, *, names: tuple[str, str] = ("start", "end")
) -> tuple[float, float] | None:
    """``window`` as ``(start_s, end_s)`` floats, or None; the one window rule: 0 <= start < end, finite.

    ``names`` names the two bounds in messages (a command line passes its flags, e.g. ``--start``).
    Whether the window lies inside the clip is checked when the video is sampled (WindowError).
    """
    if window is None:
        return None
    try:
        start, end = (float(x) for x in window)
    except (TypeError, ValueError):
        raise ConfigError(f"window must be (start_s, end_s) in seconds, got {window!r}") from None
    first, last = names
    if not (math.isfinite(start) and math.isfinite(end)):
        raise ConfigError(
            f"window bounds must be finite numbers of seconds, got {first} {start} and {last} {end}"
        )
    if start < 0:
        raise ConfigError(f"the window must start at 0 s or later: {first} is {start:g}")
    if not end > start:
        raise ConfigError(
            f"the window must end after it starts: {last} ({end:g}) is not after {first} ({start:g})"
        )
    return start, end


def seen_span(record: SamplingRecord) -> tuple[float, float]:
    """(global start, length) of what the model saw of this video: its window, else the whole clip."""
    if record.window is not None:
        return record.window[0], record.window[1] - record.window[0]
    return 0.0, record.duration_s


def mentioned_video(texts: Sequence[str | None], n_videos: int) -> int | None:
    """0-based index of the first ``Video N`` mention (1 <= N <= n_videos) in ``texts``, else None."""
    for text in texts:
        if not text:
            continue
        for m in _VIDEO_RE.finditer(text):
            k = int(m.group(1))
            if 1 <= k <= n_videos:
                return k - 1
    return None


def assign_video(segment: Segment, previous: int, records: Sequence[SamplingRecord]) -> Segment:
    """``segment`` stamped with its video (the rule above) and clamped to that video's span.

    A time text such as ``Video 2: 00:03-00:05`` is read without its video label.
    """
    video = mentioned_video([segment.time_text, segment.caption, segment.think], len(records))
    if video is None:
        video = previous
    update: dict[str, Any] = {"video": video}
    if segment.time_text:
        from vt_agent.trace import UnreadableSpanError, read_span

        start, length = seen_span(records[video])
        try:
            reading = read_span(_VIDEO_LABEL_RE.sub("", segment.time_text), length, start)
        except UnreadableSpanError:
            reading = None
        if reading is not None:
            kept = [w for w in segment.warnings if not w.startswith("cannot read the time span")]
            extra = [w for w in reading.warnings if w not in kept]
            update.update(
                start_s=reading.start_s,
                end_s=reading.end_s,
                start=mmss(reading.start_s),
                end=mmss(reading.end_s),
                warnings=[*kept, *extra],
            )
    return segment.model_copy(update=update)
