"""Streaming parser for Video-Thinker traces.

(Over 400 lines: one state machine, its resumable tag scanner and the whole-text helpers; the
answer, span and format rules are in their own modules.)

The model writes free text and groups ``<time>S-E</time><caption>…</caption><think>…</think>``,
then ``<answer>X</answer>`` (docs/protocol.md, Trace grammar). :class:`TraceParser` takes text deltas of any size
(tags may be split at any character) and emits the events of :mod:`vt_agent.events`.

Parsing rules (this project's choices, documented here):

* Tags: ``time``, ``caption``, ``think``, ``answer``, case-insensitive; spaces or tabs inside the
  brackets are tolerated (``< time >``, ``</ think>``). Anything else in ``<...>`` is plain text.
  Only a possible tag prefix at the end of the received text is held back.
* A ``<time>`` opens a new segment (closing the open one); ``SegmentOpened`` is emitted when the
  ``</time>`` arrives with the span read. ``<caption>`` and ``<think>`` attach to the open
  segment; the segment closes when its think closes, when the next ``<time>``/``<answer>`` opens,
  or at :meth:`TraceParser.close`.
* A caption or think with no open segment (no ``<time>`` before it, or the segment already
  closed by its think) starts a segment without a span (``time_text ""``, times None) and a
  warning. A second caption in one segment is appended on a new line, with a warning.
* Tags never nest. An opening tag inside an open tag closes the open one first (warning); a
  closing tag of another name inside an open tag closes it (warning); a closing tag with nothing
  open is dropped (warning). A tag still open at the end is closed there (warning). No text is
  lost: every character outside tags goes to a ``TextEvent`` or to a tag's content.
* Untagged text becomes ``TextEvent``s and accumulates in ``reasoning_text``.
* Hostile text costs linear time: tags, answers and spans are found by forward scans (no regex
  that can backtrack over a long run), and a tag prefix held back while streaming is resumed
  where its scan stopped, never rescanned. A time too large for a float is unreadable.
* Each ``</answer>`` gives an ``AnswerEvent`` whose letter is the §5 ladder applied to that
  content. The trace's answer (:attr:`ParsedTrace.answer`) is always the §5 ladder applied to the
  whole text (:func:`answer_letter`), never re-derived from the discussion.

Time spans: :mod:`vt_agent.time_spans` (:func:`read_span`); answers: :mod:`vt_agent.answers`;
the format rule: :mod:`vt_agent.trace_format`. This module re-exports their public names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, cast

from vt_agent.answers import answer_letter, extract_answer, ground_truth_letter, tag_blocks
from vt_agent.errors import VTAgentError
from vt_agent.events import (
    AnswerEvent,
    CaptionEvent,
    SegmentClosed,
    SegmentOpened,
    TextEvent,
    ThinkEvent,
    TraceEvent,
    TraceWarning,
)
from vt_agent.result import FormatCheck, Segment, mmss
from vt_agent.time_spans import SpanReading, UnreadableSpanError, parse_span, read_span
from vt_agent.trace_format import check_format, format_reward

__all__ = [
    "TAGS",
    "ParsedTrace",
    "SpanReading",
    "TraceParser",
    "UnreadableSpanError",
    "answer_letter",
    "check_format",
    "extract_answer",
    "format_reward",
    "ground_truth_letter",
    "merge_text_events",
    "parse_span",
    "parse_trace",
    "read_span",
    "tag_blocks",
]

TAGS = ("time", "caption", "think", "answer")
TagName = Literal["time", "caption", "think", "answer"]


# ---------------------------------------------------------------------------------------------
# Tag scanning

_WS = " \t"


@dataclass(frozen=True)
class _Tag:
    name: TagName
    closing: bool
    end: int  # index just past '>'


@dataclass(frozen=True)
class _Partial:
    """Where the scan of a possible tag stopped at the end of the text, to resume it there.

    ``phase``: 0 in the spaces after '<', 1 in the spaces after '/', 2 in the word, 3 in the
    spaces after the word. Offsets count from the '<'.
    """

    phase: int
    at: int
    closing: bool = False
    word_at: int = 0


def _scan_tag(buf: str, i: int, resume: _Partial | None = None) -> _Tag | _Partial | Literal["no"]:
    """Is there a tag at ``buf[i]`` (a '<')? A tag, a possible prefix of one, or no tag.

    ``resume``: the :class:`_Partial` an earlier scan of this same '<' returned on a shorter
    text; the scan goes on from where it stopped, so a long held-back prefix is read once.
    """
    n = len(buf)
    phase, j, closing, word_at = 0, i + 1, False, 0
    if resume is not None:
        phase, j, closing, word_at = resume.phase, i + resume.at, resume.closing, i + resume.word_at
    if phase == 0:
        while j < n and buf[j] in _WS:
            j += 1
        if j >= n:
            return _Partial(0, j - i)
        phase, word_at = 2, j
        if buf[j] == "/":
            phase, closing = 1, True
            j += 1
    if phase == 1:
        while j < n and buf[j] in _WS:
            j += 1
        if j >= n:
            return _Partial(1, j - i, True)
        phase, word_at = 2, j
    if phase == 2:
        while j < n and buf[j].isascii() and buf[j].isalpha():
            j += 1
        word = buf[word_at:j].lower()
        if j >= n:
            # the word is never empty here: a scan reaches phase 2 at a character
            partial = any(t.startswith(word) for t in TAGS)
            return _Partial(2, j - i, closing, word_at - i) if partial else "no"
        if word not in TAGS:
            return "no"
        phase = 3
    k = word_at
    while buf[k].isascii() and buf[k].isalpha():
        k += 1
    word = buf[word_at:k].lower()
    while j < n and buf[j] in _WS:
        j += 1
    if j >= n:
        return _Partial(3, j - i, closing, word_at - i)
    if buf[j] != ">":
        return "no"
    return _Tag(cast(TagName, word), closing, j + 1)


# ---------------------------------------------------------------------------------------------
# The streaming parser


@dataclass
class _OpenSegment:
    index: int
    time_text: str = ""
    start_s: float | None = None
    end_s: float | None = None
    caption: str | None = None
    think: str | None = None
    warnings: list[str] = field(default_factory=list)

    def freeze(self, video: int) -> Segment:
        warnings = list(self.warnings)
        if self.caption is None:
            warnings.append("segment has no <caption>")
        if self.think is None:
            warnings.append("segment has no <think>")
        return Segment(
            index=self.index,
            video=video,
            time_text=self.time_text,
            start_s=self.start_s,
            end_s=self.end_s,
            start=None if self.start_s is None else mmss(self.start_s),
            end=None if self.end_s is None else mmss(self.end_s),
            caption=self.caption,
            think=self.think,
            warnings=warnings,
        )


class TraceParser:
    """Incremental trace parser: :meth:`feed` text deltas, then :meth:`close`.

    ``duration_s`` is the length of what the model saw (the window's length for a window),
    ``window_start_s`` the global time of its start, ``video`` the index stamped on segments.
    """

    def __init__(self, duration_s: float | None = None, window_start_s: float = 0.0, video: int = 0) -> None:
        self.duration_s = duration_s
        self.window_start_s = window_start_s
        self.video = video
        self.segments: list[Segment] = []
        """Closed segments, in order."""
        self.answer_text: str | None = None
        """Content of the last closed ``<answer>`` (stripped), or None."""
        self.answers: list[str] = []
        self._reasoning: list[str] = []
        self.warnings: list[str] = []
        self._parts: list[str] = []
        self.closed = False
        self._buf = ""
        self._held: _Partial | None = None  # the scan of the tag prefix at the start of _buf
        self._open: TagName | None = None
        self._content: list[str] = []
        self._seg: _OpenSegment | None = None
        self._next_index = 0
        self._events: list[TraceEvent] = []

    # -- public API ---------------------------------------------------------------------------

    def feed(self, delta: str) -> list[TraceEvent]:
        """Parse one more piece of text; returns the events it completes."""
        if self.closed:
            raise VTAgentError("TraceParser.feed() after close(): create a new parser for a new trace")
        self._parts.append(delta)
        self._buf += delta
        self._process(final=False)
        return self._take()

    def close(self) -> list[TraceEvent]:
        """End of the trace: flush held-back text, close what is still open."""
        if self.closed:
            return []
        self.closed = True
        self._process(final=True)
        if self._open is not None:
            self._warn(f"<{self._open}> is not closed at the end of the trace (output cut off?)")
            self._close_tag()
        self._close_segment()
        return self._take()

    @property
    def text(self) -> str:
        """Everything fed so far."""
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    @property
    def reasoning_text(self) -> str:
        """All untagged text, concatenated as written."""
        if len(self._reasoning) > 1:
            self._reasoning = ["".join(self._reasoning)]
        return self._reasoning[0] if self._reasoning else ""

    @property
    def answer(self) -> str | None:
        """The answer letter by the answer rules of docs/protocol.md over all text fed so far."""
        return answer_letter(self.text)

    # -- internals ----------------------------------------------------------------------------

    def _take(self) -> list[TraceEvent]:
        out, self._events = self._events, []
        return out

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        self._events.append(TraceWarning(message))

    def _emit_text(self, text: str) -> None:
        if not text:
            return
        if self._open is None:
            self._reasoning.append(text)
            self._events.append(TextEvent(text))
        else:
            self._content.append(text)

    def _process(self, final: bool) -> None:
        buf = self._buf
        pos = 0
        while True:
            lt = buf.find("<", pos)
            if lt < 0:
                self._emit_text(buf[pos:])
                pos = len(buf)
                break
            found = _scan_tag(buf, lt, self._held if lt == 0 else None)
            self._held = None
            if found == "no":
                self._emit_text(buf[pos : lt + 1])
                pos = lt + 1
                continue
            if isinstance(found, _Partial):
                self._emit_text(buf[pos:lt])
                if final:
                    self._emit_text(buf[lt:])
                    pos = len(buf)
                else:
                    pos = lt
                    self._held = found
                break
            self._emit_text(buf[pos:lt])
            pos = found.end
            self._on_tag(found, buf[lt : found.end])
        self._buf = buf[pos:]

    def _on_tag(self, tag: _Tag, raw: str) -> None:
        if tag.closing:
            if self._open is None:
                self._warn(f"stray closing tag {raw!r} with no open <{tag.name}>: dropped")
            elif self._open != tag.name:
                self._warn(f"<{self._open}> closed by mismatched {raw!r}")
                self._close_tag()
            else:
                self._close_tag()
            return
        if self._open is not None:
            self._warn(
                f"<{tag.name}> inside an open <{self._open}>: tags do not nest, <{self._open}> closed here"
            )
            self._close_tag()
        self._open_tag(tag.name)

    def _open_tag(self, name: TagName) -> None:
        if name in ("time", "answer"):
            self._close_segment()
        if name == "answer" and self.answers:
            self._warn("more than one <answer>: the last one counts")
        if name in ("caption", "think") and self._seg is None:
            self._warn(f"<{name}> with no <time> before it: segment without a time span")
            self._start_segment()
            seg = self._seg
            assert seg is not None
            seg.warnings.append(f"<{name}> with no preceding <time>")
            self._events.append(SegmentOpened(seg.index, "", None, None, self.video))
        self._open = name
        self._content = []

    def _start_segment(self) -> None:
        self._seg = _OpenSegment(index=self._next_index)
        self._next_index += 1

    def _close_segment(self) -> None:
        if self._seg is None:
            return
        seg = self._seg.freeze(self.video)
        self._seg = None
        self.segments.append(seg)
        self._events.append(SegmentClosed(seg))

    def _close_tag(self) -> None:
        name = self._open
        content = "".join(self._content).strip()
        self._open = None
        self._content = []
        if name == "time":
            self._start_segment()
            seg = self._seg
            assert seg is not None
            seg.time_text = content
            try:
                reading = read_span(content, self.duration_s, self.window_start_s)
            except UnreadableSpanError as exc:
                seg.warnings.append(str(exc))
                self._warn(f"segment {seg.index}: {exc}")
            else:
                seg.start_s, seg.end_s = reading.start_s, reading.end_s
                for w in reading.warnings:
                    seg.warnings.append(w)
                    self._warn(f"segment {seg.index}: {w}")
            self._events.append(SegmentOpened(seg.index, content, seg.start_s, seg.end_s, self.video))
        elif name == "caption":
            seg = self._seg
            assert seg is not None
            if seg.caption is not None:
                self._warn(f"segment {seg.index} has a second <caption>: appended")
                seg.warnings.append("more than one <caption>")
                seg.caption = seg.caption + "\n" + content
            else:
                seg.caption = content
            self._events.append(CaptionEvent(seg.index, content))
        elif name == "think":
            seg = self._seg
            assert seg is not None
            seg.think = content
            self._events.append(ThinkEvent(seg.index, content))
            self._close_segment()
        elif name == "answer":
            self.answer_text = content
            self.answers.append(content)
            self._events.append(AnswerEvent(content, answer_letter(content)))


# ---------------------------------------------------------------------------------------------
# Whole-text helpers


@dataclass(frozen=True)
class ParsedTrace:
    """A whole trace, parsed."""

    segments: list[Segment]
    answer_text: str | None
    answer: str | None
    reasoning: str
    warnings: list[str]
    format: FormatCheck
    events: list[TraceEvent]


def parse_trace(
    text: str, duration_s: float | None = None, window_start_s: float = 0.0, video: int = 0
) -> ParsedTrace:
    """Parse a complete trace (same as feeding it whole to :class:`TraceParser`)."""
    parser = TraceParser(duration_s=duration_s, window_start_s=window_start_s, video=video)
    events = parser.feed(text) + parser.close()
    return ParsedTrace(
        segments=parser.segments,
        answer_text=parser.answer_text,
        answer=answer_letter(text),
        reasoning=parser.reasoning_text.strip(),
        warnings=parser.warnings,
        format=check_format(text),
        events=events,
    )


def merge_text_events(events: list[TraceEvent]) -> list[TraceEvent]:
    """Join consecutive ``TextEvent``s (their split depends on how the text arrived)."""
    out: list[TraceEvent] = []
    for ev in events:
        if isinstance(ev, TextEvent) and out and isinstance(out[-1], TextEvent):
            out[-1] = TextEvent(out[-1].text + ev.text)
        elif not (isinstance(ev, TextEvent) and not ev.text):
            out.append(ev)
    return out
