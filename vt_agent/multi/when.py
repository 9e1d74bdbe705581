"""Questions about when the videos were made: the files' recording times, or the time of day.

* Recording time ("which video was recorded first", "which clip is the oldest", "was video 2
  filmed before video 1", "order the clips by recording date", "when was each video recorded")
  is about the files, not what they show: a comparison (or a per-video list) of each file's
  metadata creation time (:attr:`vt_agent.video.VideoInfo.creation_time`), with no model call.
  A file that states none has an unknown recording time: it is named, never guessed.
* Counting by recording time ("how many videos were recorded after 2020 / before June 2023"):
  each file's creation time against the question's dates (:mod:`vt_agent.multi.dates`).
* Upload time ("which video was uploaded / published / posted first"): no file states it, so
  there is no answer; the recording times are listed instead (the user may mean those).
* Time of day ("which video was shot later in the day", "order the clips by time of day") is what
  the content shows (light, sky, lamps): each video is asked an open question and its answer is
  read as a phase of the day, then compared. File clocks are usually UTC, so they do not say it.
  "Which clip was filmed at night?" is a plain selection (a yes/no per video).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

from vt_agent.multi.dates import BOUND, DATE, period_of
from vt_agent.multi.refs import video_refs
from vt_agent.multi.types import Direction, Kind, Period, Span, SubQuestion, VideoEvidence
from vt_agent.result import mmss

__all__ = [
    "PHASES",
    "TIME_OF_DAY",
    "WhenPlan",
    "clock",
    "films_time_of_day",
    "phase_of",
    "plan_when",
    "read_creation_time",
    "recorded_evidence",
]

TIME_OF_DAY = (
    "At what time of day does this video appear to be filmed: night, dawn, morning, midday, afternoon, "
    "evening or dusk? Answer with one of these words, then say what shows it (the light, the sky, lamps)."
)
PHASES = {
    "dawn": 1, "sunrise": 1, "morning": 2, "midday": 3, "noon": 3, "afternoon": 4,
    "evening": 5, "dusk": 5, "sunset": 5, "twilight": 5, "night": 6, "nighttime": 6, "night-time": 6,
}  # fmt: skip
"""Phase of the day -> its place in the day (night counts as the latest: after the evening)."""


class WhenPlan(NamedTuple):
    """What :func:`plan_when` found (``named`` and ``among``: see :class:`~vt_agent.multi.Plan`)."""

    kind: Kind
    sub: SubQuestion
    direction: Direction | None
    why: str
    named: list[int] | None = None
    among: list[int] | None = None
    period: Period | None = None
    not_in_files: str | None = None


_MADE = r"(?:recorded|filmed|shot|taken|made|captured|created|videoed|videotaped|taped)"
_NOUN = r"(?:videos?|clips?|recordings?|files?|footage|ones?)"
_SUBJ = (
    rf"(?:one|(?:of )?(?:them|(?:the|these|those)(?: (?:two|three|\d+))? {_NOUN})"
    rf"|(?:(?:two|three|\d+) )?{_NOUN})"
)
_WHICH_MADE_RE = re.compile(
    rf"(?<!\bin )(?<!\bon )\bwhich(?:\s+{_SUBJ})?,?\s+(?:was|were|got|has been|had been|is)\s+"
    rf"(?:\w+ly\s+)?{_MADE}\b(.*)$",
    re.I | re.S,
)
_EARLY_RE = re.compile(
    r"\b(?:first|earliest|earlier|sooner|soonest|before (?:the )?(?:others|rest)|longest ago|"
    r"least recently)\b",
    re.I,
)
_LATE_RE = re.compile(
    r"\b(?:last(?! (?:night|week|month|year|summer|winter|spring|autumn|fall|weekend|time)\b)|latest|later|"
    r"most recently|more recently|after (?:the )?(?:others|rest))\b",
    re.I,
)
_DAYTIME_RE = re.compile(
    r"\b(?:(?:in|of|during) the day|time of (?:the )?day|day ?time|daylight|night|nighttime|morning|"
    r"afternoon|evening|dusk|dawn|sunrise|sunset|noon|midday|twilight|in the dark)\b",
    re.I,
)
_IN_THE_DAY_RE = re.compile(r"\b(?:(?:in|of|during) the day|time of (?:the )?day)\b", re.I)
_AGE = r"oldest|older|newest|newer|youngest|younger|most recent|more recent|least recent|latest|earliest"
_AGE_RE = re.compile(
    rf"\bwhich(?:\s+{_SUBJ})?\s+(?:is|was)\s+(?:the\s+)?({_AGE})(?:\s+(?:one|video|clip|recording|file))?"
    r"(?:\s+of (?:them|all|the \w+))?\s*(?:,[^?]*)?[?.!]*\s*$"
    rf"|\bwhich is (?:the )?({_AGE})\s+(?:video|clip|recording|file|one)\b",
    re.I,
)
_HAS_DATE_RE = re.compile(
    rf"\bwhich(?:\s+{_SUBJ})?\s+has\s+(?:the\s+)?({_AGE}|earlier|later)\s+"
    r"(?:(?:recording|creation|capture)\s+)?"
    r"(?:date|time ?stamp|creation time|recording time)\b",
    re.I,
)
_ORDER = (
    r"\b(?:order|sort|rank|arrange|list|put)\s+(?:(?:the|these|those|all|all the|my)\s+)?"
    r"(?:videos?|clips?|recordings?|files?)"
)
_ORDER_RECORDED_RE = re.compile(
    rf"{_ORDER}\s+(?:by|in order of|according to)\s+(?:their\s+|the\s+)?"
    r"(?:(?:recording|creation|capture|filming|"
    rf"shooting)\s+(?:date|time)s?|dates?|age|when (?:they|each) (?:was|were) {_MADE})"
    rf"|{_ORDER}\s+(?:chronologically|in chronological order|in the order (?:they|it) (?:were|was) {_MADE}|"
    r"from (?:the )?(?:oldest|earliest|first) to (?:the )?(?:newest|latest|most recent|last))"
    r"|\bin (?:what|which) order (?:were|was) (?:(?:the|these|those|all)\s+)?"
    rf"(?:videos|clips|recordings|files|they)\s+{_MADE}",
    re.I,
)
_ORDER_DAYTIME_RE = re.compile(rf"{_ORDER}\s+by\s+(?:the\s+)?time of (?:the )?day", re.I)
_PAIR_RE = re.compile(
    rf"^\s*(?:was|were|is|did)\s+(.+?)\s+(?:get\s+)?{_MADE}\s+(?:(before|earlier than|sooner than)|"
    r"(after|later than))\s+(.+?)\s*[?.!]*\s*$"
    r"|^\s*(?:is|was)\s+(.+?)\s+(?:(older|less recent)|(newer|younger|more recent))\s+than\s+"
    r"(.+?)\s*[?.!]*\s*$",
    re.I | re.S,
)
_EACH = r"(?:(?:each|every|all|both) (?:of )?)?(?:the |these |those |my )?"  # "each of the", "my", ...
_LIST_RE = re.compile(
    r"^\s*(?:when|on what (?:date|day)|(?:on )?what (?:date|day|year)|in what year)\s+(?:was|were)\s+"
    rf"{_EACH}(?:video|clip|recording|file|they|them|it)\w*\b.*?\b{_MADE}\b",
    re.I | re.S,
)
_ALONE_RE = re.compile(
    rf"^\s*(?:was|were|is)\s+(.+?)\s+(?:the\s+)?(?:one\s+)?{_MADE}\s+"
    r"(first|last|earliest|latest|most recently)"
    r"(?:\s+of (?:them|all|the \w+))?\s*[?.!]*\s*$",
    re.I | re.S,
)
_LIST_DAYTIME_RE = re.compile(
    r"^\s*(?:at |in )?what (?:time of (?:the )?day|part of the day)\s+(?:was|were)\s+"
    rf"{_EACH}(?:video|clip|recording|file|they|it)\w*\b.*?\b{_MADE}\b",
    re.I | re.S,
)


_COUNT_MADE_RE = re.compile(
    r"^\s*how many (?:of (?:them|(?:the|these|those|my|all the) (?:\w+ )?(?:videos|clips|recordings|files))|"
    rf"(?:\w+ )?(?:videos|clips|recordings|files))\s+(?:were|was|got|have been|had been)\s+(?:\w+ly\s+)?"
    rf"{_MADE}\s+({BOUND})\s+({DATE})(?:\s+and\s+({DATE}))?\s*[?.!]*\s*$",
    re.I,
)
_SHARED_RE = re.compile(
    r"\b(uploaded|published|posted|released|put online|shared online|made public)\b"
    r"|\b(upload|publication|publishing|posting|release)\s+(dates?|times?)\b",
    re.I,
)
_SHARED_WORDS = {"upload": "uploaded", "publication": "published", "publishing": "published",
                 "posting": "posted", "release": "released"}  # fmt: skip


def _direction(text: str) -> Direction | None:
    early, late = _EARLY_RE.search(text), _LATE_RE.search(text)
    if early and late:
        return "min" if early.start() < late.start() else "max"
    return "min" if early else "max" if late else None


def _one_video(text: str, videos: Sequence[str]) -> int | None:
    refs = video_refs(text, videos)
    return refs[0] if refs is not None and len(refs) == 1 and refs[0] >= 0 else None


def _recorded(
    direction: Direction | None, why: str, named: list[int] | None = None, among: list[int] | None = None
) -> WhenPlan:
    kind: Kind = "per_video" if direction is None else "comparison"
    return WhenPlan(kind, SubQuestion(form="recorded", question=None), direction, why, named, among)


def _among(question: str, videos: Sequence[str]) -> list[int] | None:
    """The videos a "which ..." question limits itself to ("..., video 2 or video 3?"), if two or more."""
    refs = video_refs(question, videos)
    return refs if refs is not None and len([i for i in refs if i >= 0]) >= 2 and -1 not in refs else None


def _time_of_day(direction: Direction) -> WhenPlan:
    why = (
        "asks when in the day the videos were filmed: judged from what each shows "
        "(an open answer read as night/dawn/morning/midday/afternoon/evening), compared"
    )
    return WhenPlan("comparison", SubQuestion(form="time_of_day", question=TIME_OF_DAY), direction, why)


def _count_made(question: str) -> WhenPlan | None:
    """ "How many videos were recorded after 2020?": a count of creation times in the dates."""
    m = _COUNT_MADE_RE.match(question)
    period = period_of(m.group(1), m.group(2), m.group(3)) if m else None
    if period is None:
        return None
    why = f"asks how many videos were recorded {period.said}: each file's creation time (dates read as UTC)"
    return WhenPlan("counting", SubQuestion(form="recorded", question=None), None, why, period=period)


def plan_when(question: str, videos: Sequence[str], *, counting: bool = False) -> WhenPlan | None:
    """The plan for a question about when the videos were made (``counting``: a "how many"
    question, planned only when it counts by dates), or None for any other question."""
    q = question.strip()
    shared = _SHARED_RE.search(q)
    if shared is None:
        return _count_made(q) or (None if counting else _plan_when(q, videos))
    # "which video was uploaded first": planned as if "recorded", then answered as not in the files
    as_made = _SHARED_RE.sub(lambda m: "recorded" if m.group(1) else f"recording {m.group(3)}", q)
    got = _count_made(as_made) or (None if counting else _plan_when(as_made, videos))
    if got is None:
        return None
    word = shared.group(1).lower() if shared.group(1) else _SHARED_WORDS[shared.group(2).lower()]
    note = f"no file states when it was {word} (a video's metadata holds at most when it was recorded)"
    why = f"asks when the videos were {word}, which the files do not state: their recording times are listed"
    sub = SubQuestion(form="recorded", question=None)
    return got._replace(sub=sub, why=why, not_in_files=note)


def _plan_when(q: str, videos: Sequence[str]) -> WhenPlan | None:
    if _ORDER_DAYTIME_RE.search(q):
        return _time_of_day("order")
    if _ORDER_RECORDED_RE.search(q):
        return _recorded("order", "asks the order the videos were recorded in: each file's creation time")
    made = _WHICH_MADE_RE.search(q)
    rest = made.group(1) if made else ""
    direction = _direction(rest)
    if made and _DAYTIME_RE.search(rest):
        if direction and _IN_THE_DAY_RE.search(rest):
            return _time_of_day(direction)
        if not direction:
            return None  # "which clip was filmed at night": a selection on what the videos show
    if made and direction:
        word = "first" if direction == "min" else "last"
        why = f"asks which video was recorded {word}: each file's creation time"
        return _recorded(direction, why, among=_among(q, videos))
    if (age := _AGE_RE.search(q) or _HAS_DATE_RE.search(q)) is not None:
        word = (age.group(1) or age.group(2) or "").lower()
        d: Direction = "min" if word in {"oldest", "older", "earliest", "earlier", "least recent"} else "max"
        return _recorded(d, f"asks which video is {word}: each file's creation time", among=_among(q, videos))
    if (pair := _PAIR_RE.match(q)) is not None:
        g = pair.groups()
        left, right = (g[0], g[3]) if g[0] is not None else (g[4], g[7])
        a, b = _one_video(left, videos), _one_video(right, videos)
        if a is not None and b is not None and a != b:
            d = "min" if (g[1] or g[5]) else "max"
            how = "before" if d == "min" else "after"
            return _recorded(
                d, f"asks whether one video was recorded {how} another: the files' creation times", [a, b]
            )
    if (alone := _ALONE_RE.match(q)) is not None and (a := _one_video(alone.group(1), videos)) is not None:
        d = _direction(alone.group(2)) or "min"
        how = "first" if d == "min" else "last"
        return _recorded(d, f"asks whether one video was recorded {how}: the files' creation times", [a])
    if _LIST_DAYTIME_RE.search(q):
        why = "asks what time of day each video was filmed at: judged from what each shows"
        return WhenPlan("per_video", SubQuestion(form="time_of_day", question=TIME_OF_DAY), None, why)
    if _LIST_RE.search(q):
        return _recorded(None, "asks when the videos were recorded: each file's creation time")
    return None


def films_time_of_day(question: str) -> bool:
    """True for "which clip was filmed at night / in the morning": about the time of day shown."""
    made = _WHICH_MADE_RE.search(question)
    return made is not None and _DAYTIME_RE.search(made.group(1)) is not None


def read_creation_time(value: str | None) -> tuple[datetime | None, str]:
    """(the time in UTC, a note) from a creation time as metadata writes it; None when unusable.

    A time with no zone is read as UTC (what MP4 and Matroska store); a time before 1971 or in the
    future is a camera clock never set, not used."""
    if not value:
        return None, "its metadata states no creation time"
    text = value.strip()
    if re.match(r"^\d{4}:\d\d:\d\d", text):  # EXIF style 2024:05:01 10:20:30
        text = text[:4] + "-" + text[5:7] + "-" + text[8:]
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None, f"its creation time {value!r} is not a date and time"
    note = ""
    if when.tzinfo is None:
        when, note = when.replace(tzinfo=timezone.utc), " (no time zone stated: read as UTC)"
    utc = when.astimezone(timezone.utc)
    if utc.year < 1971 or utc > datetime.now(timezone.utc) + timedelta(days=2):
        return None, f"its creation time {value} is not plausible (a camera clock never set?)"
    return utc, note


def recorded_evidence(
    index: int, path: str, creation_time: str | None, where: str | None, duration_s: float
) -> VideoEvidence:
    """A file's recording time as its metadata states it (no model call); ``number``: POSIX seconds."""
    when, note = read_creation_time(creation_time)
    if when is None:
        text, caption = (
            f"recording time unknown: {note}",
            "the whole clip (its file states no usable creation time)",
        )
    else:
        text = f"recorded {when:%Y-%m-%d %H:%M:%S} UTC{note} (from its {where})"
        caption = f"the whole clip (recording time from its {where})"
    return VideoEvidence(
        index=index,
        path=path,
        sub_question=None,
        answer_text=text,
        number=when.timestamp() if when is not None else None,
        segments=[
            Span(
                segment=-1,
                start_s=0.0,
                end_s=duration_s,
                start=mmss(0),
                end=mmss(duration_s),
                caption=caption,
            )
        ],
    )


def clock(seconds: float) -> str:
    """POSIX seconds as ``2024-05-01 10:20:30 UTC``."""
    return f"{datetime.fromtimestamp(seconds, timezone.utc):%Y-%m-%d %H:%M:%S} UTC"


def phase_of(text: str | None) -> int | None:
    """The phase of the day an answer names (its first word, else the one phase it mentions)."""
    if not text:
        return None
    words = re.findall(r"[a-z]+(?:-[a-z]+)?", text.lower())
    if words and words[0] in PHASES:
        return PHASES[words[0]]
    found = {PHASES[w] for w in words if w in PHASES}
    return found.pop() if len(found) == 1 else None
