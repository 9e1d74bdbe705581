r"""Reading the text of a ``<time>`` tag as a span of seconds.

Time spans (:func:`read_span`): ``MM:SS-MM:SS``, ``H:MM:SS``, ``M:SS``, fractional seconds,
``0.0-5.0 seconds``, ``12s-15s``, separators ``-``, en/em dash, ``~``, ``to``; a single time
point gives start = end with a warning. End before start is swapped (warning); the span is
clamped to ``[0, duration_s]`` (warning) and then offset by ``window_start_s``: the model's times
are local to what it saw, so for a window pass the window's length as ``duration_s``.

The patterns never let two ``\s*`` meet, so a long run of spaces costs linear time, and a time
too large for a float is unreadable (:class:`UnreadableSpanError`), not an overflow later.
:mod:`vt_agent.trace` re-exports these names.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from vt_agent.errors import UnreadableSpanError

__all__ = ["SpanReading", "UnreadableSpanError", "parse_span", "read_span"]


_UNIT = r"(?:s|secs?|seconds?)"
# A number and its optional unit. No two ``\s*`` may meet (adjacent ones backtrack quadratically
# over a long run of spaces), so the spaces before a unit sit inside the unit's group: the same
# language as ``number\s*(unit)?`` followed by ``\s*`` or the end.
_NUM = r"(\d+(?::\d+){0,2}(?:\.\d+)?|\.\d+)"
_T_HEAD = _NUM + r"(?:\s*(" + _UNIT + r"))?"  # then \s* and a separator
_T_TAIL = _NUM + r"(?:\s*(" + _UNIT + r")|\s*)"  # then the end
_SEP = r"(?:-|–|—|~|\bto\b|\buntil\b)"
_SPAN_RE = re.compile(r"^(?:from\s+)?" + _T_HEAD + r"\s*" + _SEP + r"\s*" + _T_TAIL + r"\.?$", re.IGNORECASE)
_POINT_RE = re.compile(r"^(?:at\s+)?" + _T_TAIL + r"\.?$", re.IGNORECASE)


@dataclass(frozen=True)
class SpanReading:
    """A span read from ``<time>`` text: global seconds plus what was wrong with it."""

    start_s: float
    end_s: float
    warnings: list[str] = field(default_factory=list)


def _seconds(value: str, warnings: list[str]) -> float:
    parts = value.split(":")
    nums = [float(p) for p in parts]
    if len(nums) > 1 and any(n >= 60 for n in nums[1:]):
        warnings.append(f"time value {value!r} has a minutes/seconds field of 60 or more")
    total = 0.0
    for n in nums:
        total = total * 60 + n
    if not math.isfinite(total):
        shown = value if len(value) <= 24 else f"{value[:12]}...{value[-8:]} ({len(value)} characters)"
        raise UnreadableSpanError(f"time value {shown} is too large to be a time")
    return total


def read_span(text: str, duration_s: float | None = None, window_start_s: float = 0.0) -> SpanReading:
    """Read ``<time>`` text as global seconds: swap, clamp to ``[0, duration_s]``, add the offset.

    Raises :class:`UnreadableSpanError` when the text is no span.
    """
    raw = text.strip().strip("[]()").strip()
    warnings: list[str] = []
    m = _SPAN_RE.match(raw)
    if m:
        start = _seconds(m.group(1), warnings)
        end = _seconds(m.group(3), warnings)
    else:
        p = _POINT_RE.match(raw)
        if p is None:
            raise UnreadableSpanError(
                f"cannot read the time span {text!r}: expected MM:SS-MM:SS, H:MM:SS-H:MM:SS or seconds like 0.0-5.0"
            )
        start = end = _seconds(p.group(1), warnings)
        warnings.append(f"time {text.strip()!r} is a single point, not a span: start = end")
    if end < start:
        warnings.append(f"span {text.strip()!r} ends before it starts: swapped")
        start, end = end, start
    if duration_s is not None:
        lo, hi = min(max(start, 0.0), duration_s), min(max(end, 0.0), duration_s)
        if (lo, hi) != (start, end):
            warnings.append(
                f"span {text.strip()!r} ({start:g}-{end:g} s) lies outside the clip (0-{duration_s:g} s): "
                f"clamped to {lo:g}-{hi:g} s"
            )
        start, end = lo, hi
    return SpanReading(start + window_start_s, end + window_start_s, warnings)


def parse_span(
    text: str, duration_s: float | None = None, window_start_s: float = 0.0
) -> tuple[float, float]:
    """``(start_s, end_s)`` of ``<time>`` text (see :func:`read_span`); raises on unreadable text."""
    r = read_span(text, duration_s, window_start_s)
    return r.start_s, r.end_s
