"""Rule-based synthesis: from per-video evidence to the user's options or an open answer.

Each rule returns a :class:`Decision` (the answer, its words, the videos it rests on, how each
video's evidence was used) or None when the evidence does not decide (then a chat model may).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from vt_agent.multi.decision import Decision, match_videos, names
from vt_agent.multi.recorded import decide_recorded
from vt_agent.multi.refs import number_in
from vt_agent.multi.types import Plan, VideoEvidence
from vt_agent.multi.when import PHASES
from vt_agent.prompts import OPTION_LETTERS

__all__ = ["Decision", "decide", "match_videos", "names"]


def _yes_sets(evidence: Sequence[VideoEvidence]) -> tuple[list[int], list[int], list[int]]:
    yes = [e.index for e in evidence if e.yes is True]
    no = [e.index for e in evidence if e.yes is False]
    unclear = [e.index for e in evidence if e.yes is None]
    return yes, no, unclear


def _yes_no_used(evidence: Sequence[VideoEvidence], picked: str, not_picked: str) -> dict[int, str]:
    return {
        e.index: picked if e.yes else not_picked if e.yes is False else "unclear yes/no: not counted"
        for e in evidence
    }


def _selection(
    plan: Plan, options: Sequence[str], ev: Sequence[VideoEvidence], labels: dict[int, str], n: int
) -> Decision:
    yes, _no, _unclear = _yes_sets(ev)
    used = _yes_no_used(ev, "answered yes: selected", "answered no: not selected")
    text = names(yes, labels)
    if not options:
        return Decision(text, text, set(yes), used)
    letter, warnings = match_videos(plan, options, yes, n)
    return Decision(letter, text, set(yes), used, warnings)


def _counting(
    options: Sequence[str], ev: Sequence[VideoEvidence], labels: dict[int, str], n: int
) -> Decision:
    yes, _no, _unclear = _yes_sets(ev)
    used = _yes_no_used(ev, "answered yes: counted", "answered no: not counted")
    count = len(yes)
    text = f"{count} ({names(yes, labels)})" if yes else "0 (none of them)"
    if not options:
        return Decision(str(count), text, set(yes), used)
    for k, o in enumerate(options):
        if number_in(o.split(". ", 1)[-1], n) == count:
            return Decision(OPTION_LETTERS[k], text, set(yes), used)
    return Decision(None, text, set(yes), used, [f"no option says {count}"])


def _per_video(options: Sequence[str], ev: Sequence[VideoEvidence], labels: dict[int, str]) -> Decision:
    answered = [e for e in ev if e.answer or e.answer_text]
    used = {e.index: "its own answer, reported for this video" for e in ev}
    text = "; ".join(f"{labels[e.index]}: {e.answer_text or e.answer or 'no answer'}" for e in ev)
    if not options:
        return Decision(text, text, {e.index for e in answered}, used)
    letters = [e.answer for e in ev if e.answer]
    if not letters:
        return Decision(None, text, set(), used, ["no video gave an option letter"])
    counts = Counter(letters)
    top = max(counts.values())
    letter = sorted(a for a in counts if counts[a] == top)[0]
    warnings = (
        [] if len(counts) == 1 else [f"the videos disagree ({text}); the answer is the most common one"]
    )
    return Decision(letter, text, {e.index for e in ev if e.answer == letter}, used, warnings)


def _extreme(
    plan: Plan, options: Sequence[str], values: dict[int, float], labels: dict[int, str], n: int, what: str
) -> Decision | None:
    if not values:
        return None
    best = max(values.values()) if plan.direction == "max" else min(values.values())
    winners = [i for i, v in values.items() if v == best]
    used = {i: f"{what} {v:g}: {'chosen' if i in winners else 'compared'}" for i, v in values.items()}
    text = f"{names(winners, labels)} ({what} {best:g})"
    warnings = [] if len(winners) == 1 else [f"a tie: {names(winners, labels)} have the same {what}"]
    if not options:
        return Decision(text, text, set(winners), used, warnings)
    letter, more = match_videos(plan, options, winners, n)
    return Decision(letter, text, set(winners), used, warnings + more)


def _ordering(
    plan: Plan, options: Sequence[str], ev: Sequence[VideoEvidence], labels: dict[int, str], n: int
) -> Decision:
    times = {e.index: min(s.start_s for s in e.segments) for e in ev if e.yes and e.segments}
    missing = [e.index for e in ev if e.yes and not e.segments]
    warnings = [f"{labels[i]} answered yes but cited no time span: not ordered" for i in missing]
    if plan.direction in ("max", "min"):
        got = _extreme(plan, options, times, labels, n, "starts at second")
        if got is None:
            return Decision(
                None, "None of them", set(), _yes_no_used(ev, "", "answered no: it does not happen"), warnings
            )
        got.warnings[:0] = warnings
        return got
    order = sorted(times, key=lambda i: (times[i], i))
    used = {i: f"happens at {times[i]:g} s: position {k + 1}" for k, i in enumerate(order)}
    used.update({e.index: "answered no or unclear: not in the order" for e in ev if e.index not in times})
    text = ", then ".join(f"{labels[i]} at {times[i]:g} s" for i in order) or "None of them"
    if not options:
        return Decision(text, text, set(order), used, warnings)
    letter, more = match_videos(plan, options, order, n, ordered=True)
    return Decision(letter, text, set(order), used, warnings + more)


_PHASE_NAMES = {rank: word for word, rank in reversed(PHASES.items())}  # the first word of each rank


def _time_of_day(
    plan: Plan, options: Sequence[str], ev: Sequence[VideoEvidence], labels: dict[int, str], n: int
) -> Decision | None:
    """The phases of the day the videos' answers name, compared; None when one reads as none."""
    phases = {e.index: int(e.number) for e in ev if e.number is not None}
    if len(phases) < len(ev):
        return None
    if plan.direction == "order":
        order = sorted(phases, key=lambda i: (phases[i], i))
        used = {i: f"looks like {_PHASE_NAMES[phases[i]]}: position {k + 1}" for k, i in enumerate(order)}
        text = ", then ".join(f"{labels[i]} ({_PHASE_NAMES[phases[i]]})" for i in order)
        if not options:
            return Decision(text, text, set(order), used)
        letter, more = match_videos(plan, options, order, n, ordered=True)
        return Decision(letter, text, set(order), used, more)
    values = {i: float(p) for i, p in phases.items()}
    got = _extreme(plan, options, values, labels, n, "phase of the day (1 dawn .. 6 night)")
    if got is not None:
        best = max(phases.values()) if plan.direction == "max" else min(phases.values())
        got.answer_text = f"{names(sorted(got.cited), labels)} ({_PHASE_NAMES[best]}, as the video looks)"
        got.answer = got.answer_text if not options else got.answer
        got.used = {
            i: f"looks like {_PHASE_NAMES[p]}: {'chosen' if i in got.cited else 'compared'}"
            for i, p in phases.items()
        }
    return got


def decide(
    plan: Plan, options: Sequence[str], evidence: Sequence[VideoEvidence], labels: dict[int, str], n: int
) -> Decision | None:
    """The rule for the plan's kind; None when no rule decides (a description to be weighed)."""
    if plan.sub.form == "yes_no" and evidence and all(e.yes is None for e in evidence):
        used = {e.index: "unclear yes/no: not counted" for e in evidence}
        return Decision(
            None, "no video gave a clear yes or no", set(), used, ["the evidence does not decide"]
        )
    if plan.sub.form == "recorded":
        return decide_recorded(plan, options, evidence, labels, n)
    if plan.sub.form == "time_of_day" and plan.kind == "comparison":
        return _time_of_day(plan, options, evidence, labels, n)
    if plan.kind == "selection":
        return _selection(plan, options, evidence, labels, n)
    if plan.kind == "counting":
        return _counting(options, evidence, labels, n)
    if plan.kind == "ordering":
        return _ordering(plan, options, evidence, labels, n)
    if plan.kind == "per_video":
        return _per_video(options, evidence, labels)
    if plan.kind == "comparison" and plan.sub.form in ("duration", "count"):
        values = {e.index: e.number for e in evidence if e.number is not None}
        if len(values) < len(evidence):
            return None  # a count the rule cannot read
        what = "duration (s)" if plan.sub.form == "duration" else "count"
        return _extreme(plan, options, values, labels, n, what)  # type: ignore[arg-type]
    return None
