"""Dates a question gives, for counting videos by recording time: "after 2020", "before June 2023",
"in 2024-05", "on 15 June 2023", "between 2019 and 2021", read as a :class:`Period` in UTC.

A year, a month and year, or a day is a span: "before" counts what is before its start, "after"
what is after its end ("after 2020": from 2021-01-01), "in"/"on"/"during" what is inside it,
"since" what is at or after its start, "between A and B" from A's start to B's end.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from vt_agent.errors import ConfigError
from vt_agent.multi.types import Period

__all__ = ["BOUND", "DATE", "near_bounds", "period_of", "within"]

_MONTH_NAMES = [
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
]  # fmt: skip
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
DATE = (
    rf"(?:\d{{4}}-\d{{1,2}}(?:-\d{{1,2}})?|{_MONTH}\s+(?:{_DAY},?\s+)?(?:of\s+)?\d{{4}}|"
    rf"(?:the\s+)?{_DAY}\s+(?:of\s+)?{_MONTH},?\s+\d{{4}}|(?:the\s+year\s+)?\d{{4}})"
)
"""A year (2020), a month and year (June 2023, 2023-06) or a day (2023-06-15, June 15, 2023, 15 June 2023)."""
BOUND = r"before|prior to|earlier than|after|later than|since|in|during|on|between"
"""How a count is bounded by a date ("recorded before 2020")."""


def _span(text: str) -> tuple[datetime, datetime]:
    """The [start, end) a date names, in UTC: a whole year, month or day."""
    t = text.lower().strip()
    iso = re.fullmatch(r"(\d{4})-(\d{1,2})(?:-(\d{1,2}))?", t)
    month: int | None
    day: int | None
    if iso is not None:
        year, month = int(iso.group(1)), int(iso.group(2))
        day = int(iso.group(3)) if iso.group(3) else None
    else:
        found = re.search(r"\d{4}", t)
        assert found is not None  # DATE always ends with its year
        year = int(found.group())
        name = re.search(_MONTH, t[: found.start()])
        month = (
            next(k for k, m in enumerate(_MONTH_NAMES, 1) if m.startswith(name.group().rstrip(".")[:3]))
            if name
            else None
        )
        days = re.findall(r"\b(\d{1,2})(?:st|nd|rd|th)?\b", t[: found.start()])
        day = int(days[0]) if days else None
    try:
        if month is None:
            return datetime(year, 1, 1, tzinfo=timezone.utc), datetime(year + 1, 1, 1, tzinfo=timezone.utc)
        start = datetime(year, month, 1 if day is None else day, tzinfo=timezone.utc)
    except ValueError:
        raise ConfigError(
            f"the question's date {text!r} is not a date: write a year (2020), a month and year "
            "(June 2023, 2023-06) or a day (2023-06-15)"
        ) from None
    if day is not None:
        return start, start + timedelta(days=1)
    return start, start.replace(year=year + month // 12, month=month % 12 + 1)


def period_of(bound: str, first: str, second: str | None = None) -> Period | None:
    """The period ``recorded <bound> <first> [and <second>]`` says; None for "between" with one date."""
    word, date = " ".join(bound.lower().split()), " ".join(first.split())
    start, end = _span(first)
    said = f"{word} {date}"
    if word == "between":
        if second is None:
            return None
        end = _span(second)[1]
        said += " and " + " ".join(second.split())
        if end <= start:
            raise ConfigError(f"'{said}' is an empty span of dates: give the earlier date first")
    since: datetime | None = start
    until: datetime | None = end
    if word in {"before", "prior to", "earlier than"}:
        since, until = None, start
    elif word in {"after", "later than"}:
        since, until = end, None
    elif word == "since":
        until = None
    return Period(
        said=said,
        start=since.isoformat() if since else None,
        end=until.isoformat() if until else None,
    )


def within(period: Period, seconds: float) -> bool:
    """True when a time (POSIX seconds) falls in the period."""
    start = datetime.fromisoformat(period.start).timestamp() if period.start else None
    end = datetime.fromisoformat(period.end).timestamp() if period.end else None
    return (start is None or seconds >= start) and (end is None or seconds < end)


def near_bounds(period: Period, seconds: float, hours: float = 14.0) -> str | None:
    """The period's bound a time is within ``hours`` of (a local date may differ from UTC's), if any."""
    for bound in (period.start, period.end):
        if bound and abs(datetime.fromisoformat(bound).timestamp() - seconds) < hours * 3600:
            return f"{datetime.fromisoformat(bound):%Y-%m-%d %H:%M} UTC"
    return None
