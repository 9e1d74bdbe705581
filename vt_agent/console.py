"""Live terminal rendering of reasoner events, shared by the CLI commands (plain ANSI).

:class:`LiveView` writes to a text stream (stderr in the CLI): progress lines, each grounded
segment as it arrives with its time span, warnings, the answer. :func:`summary` renders a
finished :class:`~vt_agent.result.Result` as a short report. Colours only on a terminal
(and never when ``NO_COLOR`` is set: the CLI passes ``color``).
"""

from __future__ import annotations

import textwrap
from typing import TextIO

from vt_agent.events import (
    AnswerEvent,
    CaptionEvent,
    FinishedEvent,
    ProgressEvent,
    ReasonerEvent,
    SegmentOpened,
    ThinkEvent,
    TokenEvent,
    TraceWarning,
)
from vt_agent.result import Result, mmss

__all__ = ["LiveView", "Style", "summary"]

WIDTH = 100


class Style:
    """ANSI styling that turns into plain text when ``enabled`` is False."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def _wrap(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def cyan(self, text: str) -> str:
        return self._wrap("36", text)

    def green(self, text: str) -> str:
        return self._wrap("32", text)

    def yellow(self, text: str) -> str:
        return self._wrap("33", text)

    def red(self, text: str) -> str:
        return self._wrap("1;31", text)


def _span_label(start_s: float | None, end_s: float | None, time_text: str) -> str:
    if start_s is None or end_s is None:
        return f"[{time_text or '?'}]"
    return f"[{mmss(start_s)}-{mmss(end_s)}]"


def _indent(text: str, prefix: str) -> str:
    flat = " ".join(text.split())
    return textwrap.fill(flat, WIDTH, initial_indent=prefix, subsequent_indent=" " * len(prefix)) or prefix


class LiveView:
    """Renders reasoner events as they come. ``multi``: label segments with their video."""

    def __init__(self, out: TextIO, *, color: bool = False, multi: bool = False) -> None:
        self.out = out
        self.style = Style(color)
        self.multi = multi
        self.chars = 0
        self._status = False  # a "generated N chars" status line is on screen (terminals only)

    def write(self, text: str) -> None:
        if self._status:
            self.out.write("\r\033[K")
            self._status = False
        self.out.write(text + "\n")
        self.out.flush()

    def _count(self, text: str) -> None:
        before = self.chars // 200
        self.chars += len(text)
        if self.style.enabled and self.chars // 200 != before:  # a live counter on a terminal
            self.out.write(f"\r{self.style.dim(f'[generate] {self.chars} chars')}")
            self.out.flush()
            self._status = True

    def notice(self, text: str) -> None:
        """A loud notice (e.g. the tiny model's output is noise)."""
        bar = "!" * min(WIDTH, max(len(line) for line in text.splitlines()))
        self.write(self.style.red(bar))
        for line in text.splitlines():
            self.write(self.style.red(line))
        self.write(self.style.red(bar))

    def handle(self, event: ReasonerEvent) -> None:
        s = self.style
        if isinstance(event, ProgressEvent):
            frac = "" if event.fraction is None else f" {event.fraction:4.0%}"
            self.write(s.dim(f"[{event.stage}{frac}] {event.message}"))
        elif isinstance(event, SegmentOpened):
            video = f"video {event.video + 1} " if self.multi else ""
            self.write(s.bold(s.cyan(f"{video}{_span_label(event.start_s, event.end_s, event.time_text)}")))
        elif isinstance(event, CaptionEvent):
            self.write(_indent(event.text, "  caption: "))
        elif isinstance(event, ThinkEvent):
            self.write(s.dim(_indent(event.text, "  think:   ")))
        elif isinstance(event, AnswerEvent):
            self.write(s.bold(s.green(f"<answer> {event.text!r} -> {event.letter or 'no letter'}")))
        elif isinstance(event, TraceWarning):
            self.write(s.yellow(f"  trace warning: {event.message}"))
        elif isinstance(event, TokenEvent):
            self._count(event.text)
        elif isinstance(event, FinishedEvent):
            r = event.result
            self.write(s.dim(f"[done] {len(r.trace)} chars in {r.timings.total_s:.2f} s ({r.finish_reason})"))


def summary(result: Result, *, color: bool = False) -> str:
    """A short human-readable report of ``result``."""
    s = Style(color)
    lines: list[str] = []
    if result.source == "scripted":
        lines.append(s.yellow("(scripted fake backend: hand-written trace, not a model's answer)"))
    elif result.source == "random weights":
        lines.append(s.red("(random weights: this model's output is noise, not Video-Thinker)"))
    lines.append(f"Question: {result.question}")
    for opt in result.options:
        lines.append(f"  {opt}")
    chosen = next((o for o in result.options if result.answer and o.startswith(result.answer + ".")), None)
    answer = chosen or result.answer or "none found"
    if result.answer_fallback or (result.answer is not None and result.answer_text is None):
        answer += " (no <answer> tag: read by the fallback rules)"
    if result.answer is not None and result.source == "random weights":
        answer += " (a random-weight model picked it: noise, not a prediction)"
    elif result.answer is not None and result.source == "scripted":
        answer += " (scripted: a hand-written trace picked it)"
    lines.append(s.bold(s.green(f"Answer: {answer}")))
    multi = len(result.videos) > 1
    if result.segments:
        lines.append(f"Cited segments ({len(result.segments)}):")
        for seg in result.segments:
            video = f"video {seg.video + 1} " if multi else ""
            label = _span_label(seg.start_s, seg.end_s, seg.time_text)
            caption = " ".join((seg.caption or "(no caption)").split())
            lines.append(f"  {video}{s.cyan(label)} {caption}")
    else:
        lines.append("Cited segments: none")
    if result.format.ok:
        lines.append("Format check: " + s.green("ok"))
    else:
        lines.append("Format check: " + s.yellow("; ".join(result.format.problems)))
    for w in result.warnings:
        lines.append(s.yellow(f"Warning: {w}"))
    t = result.timings
    first = "-" if t.first_token_s is None else f"{t.first_token_s:.2f} s"
    lines.append(
        f"Timings: decode {t.decode_s:.2f} s, first token {first}, total {t.total_s:.2f} s, "
        f"{t.generated_chars} chars ({result.finish_reason or 'no finish reason'})"
    )
    for rec in result.videos:
        win = "" if rec.window is None else f" window {rec.window[0]:g}-{rec.window[1]:g} s"
        lines.append(
            s.dim(
                f"Video: {rec.path} ({rec.preset}{win}: {len(rec.indices)} frames, {rec.resized[0]}x{rec.resized[1]}, "
                f"{rec.sampled_fps:.2f} fps sampled)"
            )
        )
    if result.thumbnails:
        lines.append(s.dim(f"Thumbnails: {len(result.thumbnails)} JPEG(s) in the JSON output (--json)"))
    lines.append(s.dim(f"Backend: {result.backend} ({result.model}), answer source: {result.source}"))
    return "\n".join(lines)
