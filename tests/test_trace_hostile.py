"""Hostile model output: pathological traces give the right result, no exception (issue 14).

The time bound lives in ``bench/hostile_trace.py`` (no timed tests here). The rewritten scans are
checked against the patterns and loops they replace, kept below as oracles, over tag soups.
"""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vt_agent.evaluation.extractors import open_answer, video_holmes_letter, video_r1_answer
from vt_agent.events import TraceEvent
from vt_agent.time_spans import _POINT_RE, _SPAN_RE
from vt_agent.trace import (
    TraceParser,
    UnreadableSpanError,
    check_format,
    extract_answer,
    merge_text_events,
    parse_trace,
    read_span,
    tag_blocks,
)
from vt_agent.trace_format import _ANY_TAG_RE

# -- oracles: the code before issue 14 ---------------------------------------------------------

_OLD_ANSWER = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.DOTALL | re.IGNORECASE)
_OLD_T = r"(\d+(?::\d+){0,2}(?:\.\d+)?|\.\d+)\s*((?:s|secs?|seconds?))?"
_OLD_SEP = r"(?:-|–|—|~|\bto\b|\buntil\b)"
_OLD_SPAN = re.compile(r"^(?:from\s+)?" + _OLD_T + r"\s*" + _OLD_SEP + r"\s*" + _OLD_T + r"\.?$", re.I)
_OLD_POINT = re.compile(r"^(?:at\s+)?" + _OLD_T + r"\.?$", re.IGNORECASE)
_OLD_TAG = re.compile(r"<[ \t]*(/?)[ \t]*(time|caption|think|answer)[ \t]*>", re.IGNORECASE | re.ASCII)


def old_extract_answer(text: str) -> str:
    matches = _OLD_ANSWER.findall(text)
    if matches:
        candidate = matches[-1].strip()
    else:
        m = re.search(r"final answer:", text, re.IGNORECASE)
        candidate = text[m.end() :] if m else text
    m3 = re.match(r"\s*([A-Z])\b", candidate, re.IGNORECASE)
    if m3:
        return m3.group(1).upper()
    for letter in "ABCDEFGHIJKLMNO":
        if f"{letter}:" in candidate or f"[{letter}" in candidate or f"{letter} " in candidate:
            return letter
    return "WRONG"


def old_holmes_letter(raw: str) -> str | None:
    found = re.findall(r"<answer>\s*(.*?)\s*</answer>", raw, re.DOTALL)
    choice = found[-1].strip() if found else raw
    for letter in "ABCDEF":
        if f"{letter} " in choice or f"{letter}:" in choice or f"[{letter}" in choice:
            return letter
    for letter in "ABCDEF":
        if letter in choice:
            return letter
    return None


# -- the known cases ---------------------------------------------------------------------------


def test_a_time_followed_by_a_long_run_of_spaces_is_read_or_refused() -> None:
    parsed = parse_trace("<time>1" + " " * 16_000 + "x</time><caption>c</caption><think>t</think>")
    (seg,) = parsed.segments
    assert seg.start_s is None and any("cannot read the time span" in w for w in seg.warnings)
    assert not parsed.format.ok
    # spaces are allowed around the separator, however many
    assert read_span("1" + " " * 16_000 + "- 5").start_s == 1.0
    assert read_span("00:01" + " " * 16_000 + "to 00:05 seconds").end_s == 5.0
    unclosed = parse_trace("<time>1" + " " * 16_000 + "x")
    assert unclosed.segments[0].time_text.endswith("x") and unclosed.segments[0].start_s is None


def test_thousands_of_unclosed_answer_tags() -> None:
    text = "<answer>" * 12_500
    assert extract_answer(text) == "WRONG"
    parsed = parse_trace(text)
    assert parsed.answer is None and parsed.segments == [] and not parsed.format.ok
    assert parsed.answer_text == ""  # each <answer> closed the one before it
    assert video_holmes_letter(text) is None and open_answer(text) == text and video_r1_answer(text) == text
    # the first <answer> pairs with the </answer>: its content is the other tags and "B: ..."
    closed = text + "B: it stretches</answer>"
    assert extract_answer(closed) == "B" and parse_trace(closed).answer == "B"
    assert video_holmes_letter(closed) == "B" and open_answer(closed) == closed[8:-9]


def test_a_time_too_large_for_a_float_is_unreadable_not_an_overflow() -> None:
    huge = "9" * 400
    parsed = parse_trace(f"<time>{huge}</time><caption>c</caption><think>t</think><answer>A</answer>")
    (seg,) = parsed.segments
    assert seg.start_s is None and any("too large to be a time" in w for w in seg.warnings)
    assert any("unreadable time span" in p for p in parsed.format.problems)
    with pytest.raises(UnreadableSpanError, match=r"999999999999\.\.\..*\(400 characters\)"):
        read_span(f"{huge}-5")
    with pytest.raises(UnreadableSpanError, match="too large"):
        read_span(f"0-{huge}", duration_s=10.0)
    assert read_span("9" * 300).start_s == float("9" * 300)  # large but finite: read


def _stream(chunks: list[str]) -> tuple[list[TraceEvent], TraceParser]:
    parser = TraceParser()
    events: list[TraceEvent] = []
    for c in chunks:
        events += parser.feed(c)
    events += parser.close()
    return merge_text_events(events), parser


@pytest.mark.parametrize(
    "text",
    [
        "<" + " " * 3000 + "time>00:01-00:02</time>",
        "< /" + " \t" * 1500 + "think  >",
        "<" + " " * 3000,
        "</" + " " * 3000 + "tim",
        "<time" + " " * 3000 + "x",
        "<ans" + "\t" * 3000,
    ],
)
def test_a_long_tag_prefix_streamed_a_character_at_a_time_equals_one_shot(text: str) -> None:
    one_events, one = _stream([text])
    events, parser = _stream(list(text))
    assert events == one_events
    assert (parser.segments, parser.warnings, parser.reasoning_text, parser.answers) == (
        one.segments,
        one.warnings,
        one.reasoning_text,
        one.answers,
    )


def test_spaces_inside_a_tag_are_tolerated_however_many() -> None:
    parsed = parse_trace(
        "<" + " " * 500 + "time>0-1s</time><caption>c</caption><think>t</ " + "\t" * 99 + "think>"
    )
    assert parsed.segments[0].end_s == 1.0 and parsed.segments[0].think == "t"


# -- properties over tag soups -----------------------------------------------------------------

PIECES = [
    "<answer>", "</answer>", "<ANSWER>", "</Answer>", "<time>", "</time>", "<caption>", "</caption>",
    "<think>", "</think>", "< /", "<", "/", ">", " ", "  ", "\t", "\n", "A", "B:", "[C", "D ", "o ",
    "Final answer:", "1", "99", "00:01", ":", ".", "-", " to ", "s", "sec", "seconds", "from ", "at ",
    "x", "é", "\u2003", "—", "~",
]  # fmt: skip
soup = st.lists(st.sampled_from(PIECES) | st.text(max_size=4), max_size=60).map("".join)
SPAN_PIECES = [
    "1", "0", "12", ":", ".", " ", "  ", "s", "secs", "seconds", "-", "–", " to ", "until", "from ", "at ",
    "x", "\t",
]  # fmt: skip
spans = st.lists(st.sampled_from(SPAN_PIECES), max_size=14).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=soup)
def test_tag_blocks_equal_the_lazy_regex(text: str) -> None:
    assert tag_blocks(text, "answer") == re.findall(r"<answer>(.*?)</answer>", text, re.DOTALL | re.I)
    assert tag_blocks(text, "answer", ignore_case=False) == re.findall(r"<answer>(.*?)</answer>", text, re.S)
    assert [b.strip() for b in tag_blocks(text, "answer")] == [m.strip() for m in _OLD_ANSWER.findall(text)]


@settings(max_examples=400, deadline=None)
@given(text=soup)
def test_answer_ladders_equal_the_rules_they_replace(text: str) -> None:
    assert extract_answer(text) == old_extract_answer(text)
    assert video_holmes_letter(text) == old_holmes_letter(text)


@settings(max_examples=400, deadline=None)
@given(text=spans)
def test_span_patterns_accept_the_same_texts_with_the_same_groups(text: str) -> None:
    for new, old in ((_SPAN_RE, _OLD_SPAN), (_POINT_RE, _OLD_POINT)):
        a, b = new.match(text), old.match(text)
        assert (a is None) == (b is None), text
        if a is not None and b is not None:
            assert a.groups() == b.groups(), text


@settings(max_examples=300, deadline=None)
@given(text=soup)
def test_format_check_tag_pattern_finds_the_same_tags(text: str) -> None:
    new = [(m.span(), m.group(1) or "", m.group(2)) for m in _ANY_TAG_RE.finditer(text)]
    old = [(m.span(), m.group(1), m.group(2)) for m in _OLD_TAG.finditer(text)]
    assert new == old


@settings(max_examples=300, deadline=None)
@given(text=soup, cuts=st.lists(st.integers(0, 300), max_size=30), duration=st.none() | st.floats(0, 100))
def test_soups_never_raise_and_streaming_equals_one_shot(
    text: str, cuts: list[int], duration: float | None
) -> None:
    parsed = parse_trace(text, duration_s=duration)
    assert parsed.answer == (None if extract_answer(text) == "WRONG" else extract_answer(text))
    bounds = [0, *sorted(c for c in cuts if c <= len(text)), len(text)]
    one = TraceParser(duration_s=duration)
    many = TraceParser(duration_s=duration)
    one_events = merge_text_events(one.feed(text) + one.close())
    many_events: list[TraceEvent] = []
    for a, b in itertools.pairwise(bounds):
        many_events += many.feed(text[a:b])
    many_events = merge_text_events(many_events + many.close())
    assert many_events == one_events
    assert (many.segments, many.warnings, many.reasoning_text, many.text) == (
        one.segments,
        one.warnings,
        one.reasoning_text,
        one.text,
    )
    assert parsed.segments == one.segments and parsed.warnings == one.warnings
    check_format(text)
