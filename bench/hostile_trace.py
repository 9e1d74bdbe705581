"""Hostile model output: the trace parser and the answer ladders must stay linear.

Each case times a pathological text against a well-formed trace of the same length through the
same entry point (CPU time of the process, best of ``--repeat`` runs, default 5: wall time on a
busy machine measures the other processes) and prints the ratio pathological / well-formed with
``[ok]`` when it is at most 20x, ``[MISSED]`` otherwise. The exit status is 1 when a case misses.
Known cases (issue 14): ``<time>1`` and 16,000 spaces before more text (seconds in ``read_span``),
``"<answer>" * 12500`` (14 s in the answer regex), a tag opened by ``<`` and a long run of
spaces (the format check), a 400-digit time (an OverflowError before), a tag prefix held back
while streaming one character at a time, and the same unclosed tags through the benchmark
extractors and the training reply parser.

    .venv/bin/python bench/hostile_trace.py [--repeat 5] [--chars 100000]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable

from vt_agent.evaluation.extractors import open_answer, video_holmes_letter, video_r1_answer
from vt_agent.trace import TraceParser, extract_answer, parse_trace
from vt_agent.training.replies import ReplyRejected, parse_trace_reply

LIMIT = 20.0
GROUP = (
    "<time>00:{a:02d}-00:{b:02d}</time><caption>The rabbit stands on the grass and stretches both arms "
    "above his head.</caption><think>This is the stretch the question asks about.</think>\n"
    "Let's see what happens next...\n"
)


def well_formed(n: int) -> str:
    """A well-formed trace of exactly ``n`` characters (groups, a discussion, the answer)."""
    ending = "\nOption B matches the stretch.\n<answer>B</answer>"
    parts = ["Let me look for the stretch.\n"]
    size = len(parts[0]) + len(ending)
    i = 0
    while size + len(GROUP) + 8 < n:
        group = GROUP.format(a=i % 50, b=i % 50 + 1)
        parts.append(group)
        size += len(group)
        i += 1
    parts.append("x" * max(0, n - size))
    return "".join(parts) + ending


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times)


def stream(text: str) -> None:
    parser = TraceParser()
    for ch in text:
        parser.feed(ch)
    parser.close()


def reply(text: str) -> None:
    with contextlib.suppress(ReplyRejected):
        parse_trace_reply(text, "B", ["A. x", "B. y"], 600.0, [])


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--chars", type=int, default=100_000, help="length of the one-shot texts")
    args = ap.parse_args()
    n = args.chars
    traces: list[tuple[str, Callable[[str], object], str]] = [
        ("time + 16,000 spaces, closed", parse_trace, "<time>1" + " " * 16_000 + "x</time>"),
        ("time + 16,000 spaces, unclosed", parse_trace, "<time>1" + " " * 16_000 + "x"),
        ("<answer> x 12,500", parse_trace, "<answer>" * 12_500),
        ("'<' + spaces, no tag", parse_trace, "<" + " " * (n - 2) + "x"),
        ("'< /' + spaces, no tag", parse_trace, "< /" + " " * (n - 4) + "x"),
        ("no answer tag: ladder on all text", parse_trace, "B C D [E F: " * (n // 12)),
        ("400-digit time, no duration", parse_trace, "<time>" + "9" * 400 + "</time>"),
        ("stream '<' + 16,000 spaces", stream, "<" + " " * 16_000),
        ("stream '</' + 16,000 spaces", stream, "</" + " " * 16_000 + "tim"),
    ]
    missed = 0
    print("parse_trace / streaming parser: hostile vs a well-formed trace of the same length")
    print(f"{'case':36} {'chars':>8} {'hostile':>10} {'well-formed':>12} {'ratio':>7}")
    for name, fn, text in traces:
        good = well_formed(len(text))
        bad_s = best(lambda fn=fn, text=text: fn(text), args.repeat)
        good_s = best(lambda fn=fn, good=good: fn(good), args.repeat)
        ratio = bad_s / good_s
        missed += ratio > LIMIT
        verdict = "[ok]" if ratio <= LIMIT else "[MISSED]"
        print(f"{name:36} {len(text):8,} {bad_s * 1e3:8.2f}ms {good_s * 1e3:10.2f}ms {ratio:6.2f}x {verdict}")
    # The benchmark extractors and the training reply parser scan the whole text when no tag
    # pairs (the official rules), which a well-formed trace never makes them do: for them the
    # check is linearity: 8x the text must cost at most 20x the time (linear gives 8x, quadratic
    # 64x; the margin absorbs cache effects and a busy machine).
    scans: list[tuple[str, Callable[[str], object], str]] = [
        ("extract_answer, <answer> x 12,500", extract_answer, "<answer>" * 12_500),
        ("holmes ladder, <answer> x 12,500", video_holmes_letter, "<answer>" * 12_500),
        ("open answer, <ANSWER> x 12,500", open_answer, "<ANSWER>" * 12_500),
        ("video-r1 answer, <answer> x 12,500", video_r1_answer, "<answer>" * 12_500),
        ("training reply, <trace> x 12,500", reply, "<trace>" * 12_500),
        ("training reply, '<' + spaces", reply, "<trace><" + " " * 100_000 + "x</trace>"),
    ]
    print(f"\nanswer extractors and reply parsing: time at 8x the length / time at 1x (limit {LIMIT:g}x)")
    print(f"{'case':36} {'chars':>8} {'1x':>10} {'8x':>10} {'growth':>7}")
    for name, fn, text in scans:
        big = text * 8
        one_s = best(lambda fn=fn, text=text: fn(text), args.repeat)
        four_s = best(lambda fn=fn, big=big: fn(big), args.repeat)
        growth = four_s / one_s
        missed += growth > LIMIT
        verdict = "[ok]" if growth <= LIMIT else "[MISSED]"
        print(f"{name:36} {len(text):8,} {one_s * 1e3:8.2f}ms {four_s * 1e3:8.2f}ms {growth:6.2f}x {verdict}")
    total = len(traces) + len(scans)
    print(f"\n{total - missed}/{total} cases within their limit")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
