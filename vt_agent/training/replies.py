"""Parsing and validating an LLM's reply (question, options, correct letter, trace) for training data."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from vt_agent.answers import tag_blocks
from vt_agent.errors import ConfigError
from vt_agent.training.schema import Span
from vt_agent.training.writer_prompts import end_clock

__all__ = [
    "SPAN_TOLERANCE_S",
    "GeneratedSample",
    "ReplyRejected",
    "moments_of",
    "parse_question_reply",
    "parse_trace_reply",
]

SPAN_TOLERANCE_S = 1.0  # a span may end this far past the clip (MM:SS rounding)


class ReplyRejected(ValueError):
    """An LLM reply that does not give a usable sample; the message is the reason logged."""


@dataclass(frozen=True)
class GeneratedSample:
    """A validated reply: question, lettered options, correct letter, trace without its answer."""

    problem: str
    options: list[str]
    answer: str
    trace: str
    grounding: float | None  # mean over annotated spans of the best IoU with a trace span
    moments: tuple[int, ...] = ()  # indices of the annotated spans a trace span overlaps


_FENCE_RE = re.compile(r"^```[a-zA-Z]*\s*\n?|\n?```\s*$")


def _block(reply: str, name: str, *, required: bool = True) -> str | None:
    found = tag_blocks(reply, name)  # the first <name>...</name>, in linear time
    if not found:
        if required:
            raise ReplyRejected(f"no <{name}>...</{name}> block in the reply")
        return None
    return found[0].strip()


# ``<\s*/?\s*(time|...)\s*>`` written without two adjacent space runs (linear time)
_TAG_RE = re.compile(r"<\s*(?:/\s*)?(?:time|caption|think|answer)\s*>", re.IGNORECASE)


_META_WORDS_RE = re.compile(r"\b(?:captions?|captioned|annotations?|annotated)\b", re.IGNORECASE)


def _iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else (1.0 if a == b else 0.0)


def _validate_trace(
    trace: str, answer: str, letters: str, duration_s: float, spans: Sequence[Span], require_overlap: bool
) -> tuple[str, float | None, tuple[int, ...]]:
    from vt_agent.trace import answer_letter, check_format, parse_trace

    check = check_format(trace)
    if not check.ok:
        raise ReplyRejected("trace breaks the format rule: " + "; ".join(check.problems))
    given = answer_letter(trace)
    if given != answer:
        raise ReplyRejected(f"trace ends with answer {given}, but the correct answer is {answer}")
    body = trace[: trace.lower().rindex("<answer>")].rstrip()
    if _META_WORDS_RE.search(_TAG_RE.sub(" ", body)):
        raise ReplyRejected(
            "the trace talks about captions or annotations instead of what is seen in the video"
        )
    parsed = parse_trace(body)
    found: list[tuple[float, float]] = []
    for seg in parsed.segments:
        if seg.start_s is None or seg.end_s is None:
            raise ReplyRejected(f"unreadable time span <time>{seg.time_text}</time>")
        if seg.start_s >= duration_s or seg.end_s > duration_s + SPAN_TOLERANCE_S:
            raise ReplyRejected(
                f"span <time>{seg.time_text}</time> lies outside the video (00:00-{end_clock(duration_s)})"
            )
        if not (seg.caption or "").strip():
            raise ReplyRejected(f"segment <time>{seg.time_text}</time> has an empty caption")
        found.append((seg.start_s, min(seg.end_s, duration_s)))
    grounding = None
    moments: tuple[int, ...] = ()
    if spans:
        best = [max((_iou((s.start_s, s.end_s), f) for f in found), default=0.0) for s in spans]
        grounding = sum(best) / len(best)
        moments = tuple(i for i, b in enumerate(best) if b > 0.0)
        if require_overlap and max(best) == 0.0:
            raise ReplyRejected("no <time> span of the trace overlaps an annotated moment of the video")
    return body, grounding, moments


def moments_of(trace: str, spans: Sequence[Span]) -> tuple[int, ...]:
    """Indices of the annotated spans that a readable ``<time>`` span of ``trace`` overlaps."""
    from vt_agent.trace import parse_trace

    found = [
        (seg.start_s, seg.end_s)
        for seg in parse_trace(trace).segments
        if seg.start_s is not None and seg.end_s is not None
    ]
    return tuple(i for i, s in enumerate(spans) if any(_iou((s.start_s, s.end_s), f) > 0.0 for f in found))


def _question_key(problem: str) -> str:
    """A question's text for duplicate checks: case, spacing and punctuation ignored."""
    return " ".join(re.sub(r"[^\w\s]", " ", problem.lower()).split())


def parse_question_reply(
    reply: str, duration_s: float, spans: Sequence[Span], earlier: Sequence[str] = ()
) -> GeneratedSample:
    """Validate a caption-labelled reply (question, options, correct letter, trace).

    ``earlier``: questions already written for the video; a reply repeating one (same text, case,
    spacing and punctuation aside) is rejected as a duplicate.
    """
    from vt_agent.prompts import format_options

    text = _FENCE_RE.sub("", reply.strip())
    problem = _block(text, "question")
    options_text = _block(text, "options")
    correct = _block(text, "correct")
    trace = _block(text, "trace")
    assert problem is not None and options_text is not None and correct is not None and trace is not None
    if not problem:
        raise ReplyRejected("the question is empty")
    if _TAG_RE.search(problem):
        raise ReplyRejected("the question holds trace tags")
    key = _question_key(problem)
    for k, other in enumerate(earlier, start=1):
        if _question_key(other) == key:
            raise ReplyRejected(
                f"duplicate question: the same text as question {k} of this video: {problem!r}"
            )
    lines = [row.strip() for row in options_text.splitlines() if row.strip()]
    try:
        options = format_options(lines)
    except ConfigError as exc:
        raise ReplyRejected(f"options unusable: {exc}") from exc
    if len(options) < 2:
        raise ReplyRejected(f"{len(options)} option(s): a multiple-choice question needs at least 2")
    if any(not re.match(r"^\(?[A-O][.)]", row) for row in lines):
        raise ReplyRejected("every option must start with its letter (A. ...)")
    letter = correct.strip().strip("()").upper()
    letters = "".join(o[0] for o in options)
    if len(letter) != 1 or letter not in letters:
        raise ReplyRejected(f"<correct> is {correct!r}, not one of the option letters {', '.join(letters)}")
    body, grounding, moments = _validate_trace(
        trace, letter, letters, duration_s, spans, require_overlap=True
    )
    return GeneratedSample(problem, options, letter, body, grounding, moments)


def parse_trace_reply(
    reply: str, answer: str, options: Sequence[str], duration_s: float, spans: Sequence[Span]
) -> GeneratedSample:
    """Validate a trace written for an existing question (the ``<trace>`` wrapper may be missing)."""
    text = _FENCE_RE.sub("", reply.strip())
    trace = _block(text, "trace", required=False)
    if trace is None:
        if "<time>" not in text.lower():
            raise ReplyRejected("no <trace>...</trace> block and no <time> in the reply")
        trace = text
    letters = "".join(o[0] for o in options)
    body, grounding, moments = _validate_trace(
        trace, answer, letters, duration_s, spans, require_overlap=bool(spans)
    )
    return GeneratedSample("", list(options), answer, body, grounding, moments)
