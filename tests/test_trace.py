"""Trace parser, spans, the answer rules of docs/protocol.md and the format check."""

from __future__ import annotations

import pytest

from vt_agent.errors import VTAgentError
from vt_agent.events import (
    AnswerEvent,
    CaptionEvent,
    SegmentClosed,
    SegmentOpened,
    TextEvent,
    ThinkEvent,
    TraceWarning,
)
from vt_agent.trace import (
    TraceParser,
    UnreadableSpanError,
    answer_letter,
    check_format,
    extract_answer,
    format_reward,
    ground_truth_letter,
    merge_text_events,
    parse_span,
    parse_trace,
    read_span,
)

GOOD = (
    "Let me think about what the rabbit does.\n"
    "<time>00:00-00:02</time><caption>A grey rabbit climbs out of a burrow under tree roots.</caption>"
    "<think>So he starts in a hole in the hillside.</think>\n"
    "Hmm, let's see what happens next...\n"
    "<time>00:02-00:04</time><caption>He stretches both arms wide and yawns.</caption>"
    "<think>This is the middle of the clip.</think>\n"
    "A. Eats a flower: no. B. Stretches and yawns: yes.\n"
    "<answer>B</answer>"
)


# --- answer ladder: one test per rung --------------------------------------------------------


def test_rung1_last_answer_tag_wins_and_is_stripped() -> None:
    assert extract_answer("<answer>A</answer> then <ANSWER>\n  c \n</Answer>") == "C"


def test_rung1_letter_contradicting_the_discussion_wins() -> None:
    text = "A is clearly wrong, the answer must be B. B fits everything.\n<answer>A</answer>"
    assert extract_answer(text) == "A"


def test_rung1_empty_answer_gives_wrong_even_if_discussion_names_a_letter() -> None:
    # The rung-1 match exists (empty), so rungs 3-4 look at "" only: WRONG, nothing re-derived.
    assert extract_answer("The answer is B: the rabbit yawns.\n<answer></answer>") == "WRONG"
    assert answer_letter("B: yes <answer> </answer>") is None


def test_rung2_final_answer_text() -> None:
    assert extract_answer("I think A, but... Final answer: c) it is C") == "C"
    assert extract_answer("FINAL ANSWER:   D") == "D"


def test_rung2_whole_text_when_no_marker() -> None:
    assert extract_answer("B. Stretches his arms") == "B"


def test_rung3_needs_a_word_boundary() -> None:
    # "Bob" starts with B but B is not a lone letter: rung 3 fails; rung 4 finds nothing.
    assert extract_answer("Bob") == "WRONG"
    assert extract_answer("  a") == "A"


def test_rung4_first_letter_in_alphabetical_order() -> None:
    # Rung 3 fails ("The..."), rung 4 checks A..O in order for "L:", "[L" or "L ".
    assert extract_answer("<answer>The option [C] or D: maybe</answer>") == "C"
    assert extract_answer("<answer>We pick D: it fits; not [E</answer>") == "D"
    assert extract_answer("The best is option B here") == "B"  # "B " occurs


def test_rung5_wrong() -> None:
    assert extract_answer("no idea") == "WRONG"
    assert extract_answer("") == "WRONG"
    assert answer_letter("no idea") is None


def test_ground_truth_letter() -> None:
    assert ground_truth_letter("<answer> B </answer>") == "B"
    assert ground_truth_letter("<answer>b</answer>") is None
    assert ground_truth_letter("B") is None


# --- spans ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("00:15-00:30", (15.0, 30.0)),
        ("0:15 - 1:30", (15.0, 90.0)),
        ("1:00:05-1:00:10", (3605.0, 3610.0)),
        ("0.0-5.0 seconds", (0.0, 5.0)),
        ("2.5 - 4 seconds", (2.5, 4.0)),
        ("12s-15s", (12.0, 15.0)),
        ("12 sec to 15 sec", (12.0, 15.0)),
        ("00:10–00:20", (10.0, 20.0)),
        ("00:10 — 00:20", (10.0, 20.0)),
        ("00:05.5-00:07", (5.5, 7.0)),
        ("[00:01-00:02]", (1.0, 2.0)),
        ("from 3 to 4 seconds", (3.0, 4.0)),
    ],
)
def test_parse_span_formats(text: str, span: tuple[float, float]) -> None:
    assert parse_span(text) == span


def test_span_single_point_swap_clamp_offset() -> None:
    r = read_span("00:04")
    assert (r.start_s, r.end_s) == (4.0, 4.0) and "single point" in r.warnings[0]
    r = read_span("00:30-00:10")
    assert (r.start_s, r.end_s) == (10.0, 30.0) and "swapped" in r.warnings[0]
    r = read_span("00:00-00:30", duration_s=7.6)
    assert (r.start_s, r.end_s) == (0.0, 7.6) and "clamped" in r.warnings[0]
    # window: the model's times are local to the window; clamp to its length, then offset.
    r = read_span("00:02-00:20", duration_s=10.0, window_start_s=30.0)
    assert (r.start_s, r.end_s) == (32.0, 40.0)
    assert read_span("00:01-00:02").warnings == []


@pytest.mark.parametrize("text", ["", "the beginning", "00:1x-00:02", "-", "5-", "a-b seconds"])
def test_unreadable_span_raises_a_vt_agent_error(text: str) -> None:
    with pytest.raises(UnreadableSpanError) as info:
        parse_span(text)
    assert isinstance(info.value, VTAgentError)


# --- parser -----------------------------------------------------------------------------------


def test_good_trace_events_in_order() -> None:
    p = parse_trace(GOOD, duration_s=5.31)
    kinds = [type(e).__name__ for e in merge_text_events(p.events)]
    assert kinds == [
        "TextEvent",
        "SegmentOpened",
        "CaptionEvent",
        "ThinkEvent",
        "SegmentClosed",
        "TextEvent",
        "SegmentOpened",
        "CaptionEvent",
        "ThinkEvent",
        "SegmentClosed",
        "TextEvent",
        "AnswerEvent",
    ]
    assert p.answer == "B" and p.answer_text == "B"
    assert p.format.ok, p.format.problems
    assert p.warnings == []
    s0, s1 = p.segments
    assert (s0.start_s, s0.end_s, s0.start, s0.end) == (0.0, 2.0, "00:00", "00:02")
    assert s1.caption == "He stretches both arms wide and yawns."
    assert s1.think == "This is the middle of the clip."
    assert "Hmm, let's see what happens next..." in p.reasoning
    assert "<" not in p.reasoning
    assert format_reward(GOOD) == 1.0


def test_tags_split_at_every_character() -> None:
    parser = TraceParser(duration_s=5.31)
    events = []
    for ch in GOOD:
        events += parser.feed(ch)
    events += parser.close()
    assert merge_text_events(events) == merge_text_events(parse_trace(GOOD, duration_s=5.31).events)


def test_text_is_streamed_before_the_tag_completes() -> None:
    parser = TraceParser()
    assert parser.feed("Hello <ti") == [TextEvent("Hello ")]
    assert parser.feed("me>00:01-00:02</time") == []
    ev = parser.feed(">")
    assert ev == [SegmentOpened(0, "00:01-00:02", 1.0, 2.0, 0)]


def test_not_a_tag_is_text() -> None:
    p = parse_trace("a < b and <timer> and <b>bold</b> <")
    assert p.reasoning == "a < b and <timer> and <b>bold</b> <"
    assert p.segments == [] and p.warnings == []


def test_tolerant_tag_spelling() -> None:
    p = parse_trace("< TIME >00:01-00:03</ time><Caption>x</caption ><think>y</THINK><answer>C</answer>")
    assert [(s.start_s, s.caption, s.think) for s in p.segments] == [(1.0, "x", "y")]
    assert p.answer == "C" and p.warnings == []
    assert not p.format.ok and "exactly" in p.format.problems[0]


def test_window_offset_and_video_index() -> None:
    p = parse_trace("<time>00:01-00:03</time><caption>c</caption><think>t</think>", 10.0, 60.0, video=2)
    seg = p.segments[0]
    assert (seg.start_s, seg.end_s, seg.start, seg.end, seg.video) == (61.0, 63.0, "01:01", "01:03", 2)


def test_no_tags_at_all() -> None:
    p = parse_trace("The rabbit yawns, so the answer is B.")
    assert p.segments == [] and p.answer_text is None
    assert p.answer is None  # rung 3: "The" is no lone letter; rung 4: no "L:", "[L", "L "
    assert not p.format.ok
    assert any("not grounded" in x for x in p.format.problems)


def test_nested_tags_warn_and_keep_content() -> None:
    text = (
        "<think>outer start <time>00:01-00:02</time><caption>c</caption> outer end</think><answer>A</answer>"
    )
    p = parse_trace(text)
    assert any("do not nest" in w for w in p.warnings)
    assert any("stray closing" in w for w in p.warnings)
    # the think opened with no <time>: a segment without a span, then the timed one
    assert p.segments[0].time_text == "" and p.segments[0].think == "outer start"
    assert p.segments[1].start_s == 1.0 and p.segments[1].caption == "c"
    assert "outer end" in p.reasoning
    assert p.answer == "A"
    assert not p.format.ok and any("nest" in x for x in p.format.problems)


def test_unclosed_tag_at_end_is_closed_with_a_warning() -> None:
    p = parse_trace("<time>00:00-00:02</time><caption>a rabbit</caption><think>he is waking up and")
    assert p.segments[0].think == "he is waking up and"
    assert any("not closed" in w for w in p.warnings)
    assert p.answer_text is None
    assert any("never closed" in x for x in p.format.problems)


def test_unclosed_answer_at_end() -> None:
    p = parse_trace("<time>00:00-00:02</time><caption>c</caption><think>t</think><answer>B")
    assert p.answer_text == "B"  # the tag content, as parsed
    assert p.answer is None  # §5 on the whole text: no closed <answer>, rung 3/4 find nothing


def test_mismatched_closing_tag_closes_the_open_tag() -> None:
    p = parse_trace("<time>00:00-00:01</time><caption>x</think><think>y</think>")
    assert p.segments[0].caption == "x" and p.segments[0].think == "y"
    assert any("mismatched" in w for w in p.warnings)


def test_unreadable_time_keeps_the_segment() -> None:
    p = parse_trace("<time>at the start</time><caption>c</caption><think>t</think><answer>A</answer>")
    seg = p.segments[0]
    assert seg.time_text == "at the start" and seg.start_s is None and seg.end is None
    assert seg.caption == "c" and seg.warnings
    assert any("cannot read" in w for w in p.warnings)
    assert any("unreadable time span" in x for x in p.format.problems)


def test_orphan_caption_and_segment_closing_rules() -> None:
    events = parse_trace("<caption>c0</caption><time>00:01-00:02</time><time>00:03-00:04</time>").events
    opened = [e for e in events if isinstance(e, SegmentOpened)]
    closed = [e.segment for e in events if isinstance(e, SegmentClosed)]
    assert [o.time_text for o in opened] == ["", "00:01-00:02", "00:03-00:04"]
    assert [s.caption for s in closed] == ["c0", None, None]
    assert "segment has no <think>" in closed[1].warnings
    assert isinstance(events[0], TraceWarning)


def test_second_caption_is_appended() -> None:
    p = parse_trace("<time>0-1s</time><caption>a</caption><caption>b</caption><think>t</think>")
    assert p.segments[0].caption == "a\nb"
    assert any("second <caption>" in w for w in p.warnings)


def test_answer_events_and_several_answers() -> None:
    events = parse_trace("<answer>A</answer> wait <answer>The answer is [C]</answer>").events
    answers = [e for e in events if isinstance(e, AnswerEvent)]
    assert answers == [AnswerEvent("A", "A"), AnswerEvent("The answer is [C]", "C")]
    assert any(isinstance(e, TraceWarning) and "more than one" in e.message for e in events)


def test_answer_opening_closes_the_open_segment() -> None:
    events = parse_trace("<time>0-1s</time><caption>c</caption><answer>D</answer>").events
    kinds = [type(e) for e in events]
    assert kinds.index(SegmentClosed) < kinds.index(AnswerEvent)
    assert CaptionEvent(0, "c") in events and ThinkEvent not in kinds


def test_parser_state_and_feed_after_close() -> None:
    parser = TraceParser()
    parser.feed("intro <answer> b </answer>")
    parser.close()
    assert parser.answer_text == "b" and parser.answer == "B"
    assert parser.reasoning_text == "intro "
    assert parser.text == "intro <answer> b </answer>"
    assert parser.close() == []
    with pytest.raises(VTAgentError):
        parser.feed("more")


# --- format check -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (GOOD.replace("<answer>B</answer>", ""), "no <answer>"),
        (GOOD + " and more", "text after </answer>"),
        (GOOD.replace("<answer>B</answer>", "<answer></answer>"), "empty"),
        (GOOD + "<answer>C</answer>", "exactly one"),
        ("<time>0-1s</time> text <caption>c</caption><think>t</think><answer>A</answer>", "no complete"),
        ("<time>0-1s</time><caption>c</time><think>t</think><answer>A</answer>", "closed by"),
        ("</think><time>0-1s</time><caption>c</caption><think>t</think><answer>A</answer>", "no matching"),
    ],
)
def test_format_problems(text: str, problem: str) -> None:
    check = check_format(text)
    assert not check.ok
    assert any(problem in p for p in check.problems), check.problems
    assert format_reward(text) == 0.0


def test_format_trailing_whitespace_is_fine() -> None:
    assert check_format(GOOD + "\n  \n").ok
