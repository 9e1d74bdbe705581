"""Rules for questions on when the videos were recorded, from the files' creation times (no model).

A list ("when was each video recorded?"), the first/last, the order, a yes/no about named videos,
a count in a period ("how many were recorded after 2020?"), or no answer where the files cannot
say (an upload time). A video with no usable creation time is named, never guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from vt_agent.multi.dates import near_bounds, within
from vt_agent.multi.decision import Decision, match_videos, names, yes_no_letter
from vt_agent.multi.refs import number_in
from vt_agent.multi.types import Plan, VideoEvidence
from vt_agent.multi.when import clock
from vt_agent.prompts import OPTION_LETTERS

__all__ = ["decide_recorded"]


class _Times(NamedTuple):
    times: dict[int, float]  # known recording times, POSIX seconds
    said: dict[int, str]  # what each file's evidence says
    base: dict[int, str]  # "recorded <time>" or "recording time unknown", per video with evidence
    labels: dict[int, str]
    n: int

    def reason(self, i: int) -> str:
        """Why video ``i`` has no recording time."""
        return (
            self.said[i].removeprefix("recording time unknown: ")
            if i in self.said
            else "the file could not be read"
        )

    def reasons(self, missing: Sequence[int]) -> str:
        if len(missing) == 1:
            return self.reason(missing[0])
        return "; ".join(f"{self.labels[i]}: {self.reason(i)}" for i in missing)


def decide_recorded(
    plan: Plan, options: Sequence[str], ev: Sequence[VideoEvidence], labels: dict[int, str], n: int
) -> Decision:
    """Recording times from the files' metadata: a list, the first/last, the order, a yes/no, a count."""
    t = _Times(
        {e.index: e.number for e in ev if e.number is not None},
        {e.index: e.answer_text or "" for e in ev},
        {
            e.index: "recording time unknown" if e.number is None else f"recorded {clock(e.number)}"
            for e in ev
        },
        labels,
        n,
    )
    if plan.not_in_files:
        return _not_in_files(plan.not_in_files, t)
    if plan.period is not None:
        return _count(plan, options, t)
    times = dict(t.times)
    used = {i: b if i in times else b + ": not compared" for i, b in t.base.items()}
    listing = "; ".join(f"{labels[e.index]}: {t.said[e.index]}" for e in ev)
    if plan.direction is None:  # "when was each video recorded?"
        return Decision(None if options else listing, listing, set(times), used)
    named = plan.named or []
    needed = named if len(named) == 2 else plan.among or list(range(n))
    times = {i: s for i, s in times.items() if i in needed}
    used.update({i: b + ": not asked about" for i, b in t.base.items() if i not in needed})
    missing = [i for i in needed if i not in times]
    if missing:
        known = [
            f"{labels[i]} recorded {clock(times[i])}" for i in sorted(times, key=lambda i: (times[i], i))
        ]
        text = (
            f"Unknown: no recording time for {names(missing, labels)} ({t.reasons(missing)}); what a video "
            "shows does not tell when it was recorded, so it is not guessed."
            + (f" Known: {'; '.join(known)}." if known else "")
        )
        warnings = [f"recording time unknown for {names(missing, labels)}: no answer rather than a guess"]
        return Decision(None, text, set(times), used, warnings)
    best = min(times.values()) if plan.direction == "min" else max(times.values())
    winners = [i for i, s in times.items() if s == best]
    if named:
        return _named(plan, options, named, times, winners, t, used)
    if plan.direction == "order":
        order = sorted(times, key=lambda i: (times[i], i))
        text = ", then ".join(f"{labels[i]} ({clock(times[i])})" for i in order)
        if not options:
            return Decision(text, text, set(order), used)
        letter, more = match_videos(plan, options, order, n, ordered=True)
        return Decision(letter, text, set(order), used, more)
    used.update({i: used[i] + (": chosen" if i in winners else ": compared") for i in times})
    text = f"{names(winners, labels)} (recorded {clock(best)})"
    warnings = (
        [] if len(winners) == 1 else [f"a tie: {names(winners, labels)} were recorded at the same second"]
    )
    if not options:
        return Decision(text, text, set(winners), used, warnings)
    letter, more = match_videos(plan, options, winners, n)
    return Decision(letter, text, set(winners), used, warnings + more)


def _named(
    plan: Plan,
    options: Sequence[str],
    named: list[int],
    times: dict[int, float],
    winners: list[int],
    t: _Times,
    used: dict[int, str],
) -> Decision:
    """ "Was video 2 recorded before video 1?" / "was video 1 filmed first?": Yes or No, or the
    option naming the video the times point to (the earlier/later of the two, or the first/last)."""
    a, labels = named[0], t.labels
    other = times[named[1]] if len(named) == 2 else None
    tie = times[a] == other if other is not None else a in winners and len(winners) > 1
    if tie:
        text = f"Unknown: {labels[a]} was recorded at the same second ({clock(times[a])}) as " + (
            labels[named[1]] if len(named) == 2 else names([i for i in winners if i != a], labels)
        )
        return Decision(None, text, set(named) | set(winners), used, ["a tie in the recording times"])
    early = plan.direction == "min"
    if other is not None:
        yes = times[a] < other if early else times[a] > other
        pointed = [a] if yes else [named[1]]
    else:
        yes, pointed = a in winners, winners
    cited = set(named) | set(pointed)
    detail = "; ".join(f"{labels[i]} recorded {clock(times[i])}" for i in sorted(cited))
    letter, more = yes_no_letter(options, yes)
    if letter is None and any(plan.option_refs):  # options that name videos: the one pointed to
        letter, more = match_videos(plan, options, pointed, t.n)
    return Decision(letter, f"{'Yes' if yes else 'No'} ({detail})", cited, used, more)


def _not_in_files(note: str, t: _Times) -> Decision:
    """ "Which video was uploaded first?": no answer; the recording times listed instead."""
    listing = "; ".join(f"{t.labels[i]}: {t.said.get(i) or 'the file could not be read'}" for i in range(t.n))
    text = (
        f"Unknown: {note}, so it is not guessed. The recording times, if that is what you meant: {listing}."
    )
    used = {i: b + ": listed, not the time asked about" for i, b in t.base.items()}
    return Decision(None, text, set(t.times), used, [f"{note}: no answer rather than a guess"])


def _count(plan: Plan, options: Sequence[str], t: _Times) -> Decision:
    """ "How many videos were recorded after 2020?": the known times in the period; a video with
    none is named, and the count is a range (an option is picked only when one alone fits it)."""
    period, labels = plan.period, t.labels
    assert period is not None
    inside = sorted(i for i, s in t.times.items() if within(period, s))
    unknown = [i for i in range(t.n) if i not in t.times]
    used = {
        i: b + (": counted" if i in inside else f": not counted (not {period.said})")
        for i, b in t.base.items()
    }
    used.update({i: "recording time unknown: not counted" for i in unknown if i in t.base})
    low, high = len(inside), len(inside) + len(unknown)
    verb = "was" if low == 1 else "were"
    text = (
        f"{low} ({names(inside, labels)} {verb} recorded {period.said})"
        if inside
        else (f"0 (none was recorded {period.said})")
    )
    warnings = [
        f"{labels[i]} was recorded within 14 hours of {near}: the file's clock is UTC, so its local date "
        "may fall on the other side"
        for i, s in sorted(t.times.items())
        if (near := near_bounds(period, s)) is not None
    ]
    if unknown:
        text = (
            f"at least {text}; up to {high} with {names(unknown, labels)}, whose recording time is unknown "
            f"({t.reasons(unknown)})"
        )
    if not options:
        return Decision(str(low), text, set(inside), used, warnings)
    said = [number_in(o.split(". ", 1)[-1], t.n) for o in options]
    fits = [k for k, v in enumerate(said) if v is not None and low <= v <= high]
    if len(fits) == 1:
        return Decision(OPTION_LETTERS[fits[0]], text, set(inside), used, warnings)
    if not fits:
        span = str(low) if low == high else f"{low} to {high}"
        return Decision(None, text, set(inside), used, [*warnings, f"no option says {span}"])
    letters = " and ".join(OPTION_LETTERS[k] for k in fits)
    more = f"options {letters} fit the count ({low} to {high}) with the unknown recording times: no answer"
    return Decision(None, text, set(inside), used, [*warnings, more + " rather than a guess"])
