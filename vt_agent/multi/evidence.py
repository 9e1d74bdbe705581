"""Turning one video's Result into evidence, and evidence into text and citations."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

from vt_agent.multi.refs import number_in
from vt_agent.multi.types import Citation, Plan, Span, VideoEvidence
from vt_agent.multi.when import phase_of
from vt_agent.result import Result, mmss

__all__ = [
    "citations_of",
    "duration_evidence",
    "evidence_from_result",
    "evidence_text",
    "label",
    "result_json",
]

_YES_RE = re.compile(r"^\W*(yes|no)\b", re.I)


def label(index: int, path: str) -> str:
    """``Video 2 (vtest.avi)``: how the answer names a video."""
    return f"Video {index + 1} ({os.path.basename(path)})"


def result_json(result: Result) -> dict[str, Any]:
    """The Result as JSON without the thumbnails' pixels."""
    return result.model_dump(mode="json", exclude={"thumbnails": {"__all__": {"jpeg_base64"}}})


def _spans(result: Result, video: int | None = None) -> list[Span]:
    return [
        Span(
            segment=s.index,
            start_s=s.start_s,
            end_s=s.end_s,
            start=s.start or mmss(s.start_s),
            end=s.end or mmss(s.end_s),
            caption=s.caption,
            think=s.think,
        )
        for s in result.segments
        if s.start_s is not None and s.end_s is not None and (video is None or s.video == video)
    ]


def evidence_from_result(plan: Plan, index: int, path: str, result: Result) -> VideoEvidence:
    """One video's answer to its sub-question, read as the plan's form asks."""
    sub = plan.sub
    answer_text = result.answer_text
    if result.answer is not None and sub.options and "A" <= result.answer <= "O":
        k = ord(result.answer) - ord("A")
        if k < len(sub.options):
            answer_text = sub.options[k]
    yes: bool | None = None
    number: float | None = None
    if sub.form == "yes_no":
        if result.answer in {"A", "B"}:
            yes = result.answer == "A"
        elif result.answer_text and (m := _YES_RE.match(result.answer_text)):
            yes = m.group(1).lower() == "yes"
    elif sub.form == "count":
        number = number_in(result.answer_text)
    elif sub.form == "time_of_day":
        number = phase_of(result.answer_text)
    return VideoEvidence(
        index=index,
        path=path,
        sub_question=sub.question,
        sub_options=list(sub.options),
        answer=result.answer,
        answer_text=answer_text,
        yes=yes,
        number=number,
        segments=_spans(result),
        format_ok=result.format.ok,
        result=result_json(result),
    )


def duration_evidence(index: int, path: str, duration_s: float) -> VideoEvidence:
    """A clip's duration, read from the file (no model call)."""
    return VideoEvidence(
        index=index,
        path=path,
        sub_question=None,
        answer_text=f"{duration_s:.1f} s",
        number=duration_s,
        segments=[Span(segment=-1, start_s=0.0, end_s=duration_s, start=mmss(0), end=mmss(duration_s))],
    )


def joint_evidence(index: int, path: str, result: Result) -> VideoEvidence:
    """What the one joint trace cited of this video."""
    return VideoEvidence(
        index=index,
        path=path,
        sub_question=None,
        answer=result.answer,
        answer_text=result.answer_text,
        segments=_spans(result, index),
        format_ok=result.format.ok,
    )


def evidence_text(evidence: Sequence[VideoEvidence]) -> str:
    """The per-video evidence as plain text (for a chat model, or an open answer)."""
    lines = []
    for e in evidence:
        asked = f' asked "{e.sub_question}"' if e.sub_question else ""
        said = e.answer_text or e.answer or "no answer"
        lines.append(f"{label(e.index, e.path)}{asked}: {said}")
        for s in e.segments:
            if s.segment >= 0 and (s.caption or s.think):
                lines.append(f"  {s.start}-{s.end}: {s.caption or s.think}")
    return "\n".join(lines)


def citations_of(evidence: Sequence[VideoEvidence], videos: set[int] | None = None) -> list[Citation]:
    """The spans of the given videos' evidence (all videos when ``videos`` is None)."""
    out = []
    for e in sorted(evidence, key=lambda e: e.index):
        if videos is not None and e.index not in videos:
            continue
        for s in e.segments:
            out.append(
                Citation(
                    video=e.index,
                    path=e.path,
                    segment=s.segment if s.segment >= 0 else None,
                    start_s=s.start_s,
                    end_s=s.end_s,
                    start=s.start,
                    end=s.end,
                    caption=s.caption
                    if s.segment >= 0
                    else s.caption or "the whole clip (duration read from the file)",
                )
            )
    return out
