"""Reading options and answers: which videos an option names, which number a text says.

Videos are 0-based indices here; people write them 1-based ("Video 2", "the second clip") or by
file name ("vtest.avi", "vtest").
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

__all__ = ["ALL", "number_in", "option_names_videos", "video_refs"]

ALL = -1
"""Marker in a reference list: "all of them" / "both"."""

_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5,
    "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10,
}  # fmt: skip
_NUMBER_WORDS = {
    "zero": 0, "no": 0, "none": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip
_NONE_RE = re.compile(
    r"^\s*(?:none|neither|no (?:video|clip)s?|not any)\b|\bnone of (?:them|the (?:videos|clips))\b", re.I
)
_ALL_RE = re.compile(r"^\s*(?:all|both|every|each)\b|\ball of (?:them|the (?:videos|clips))\b", re.I)
_NUMBERED_RE = re.compile(r"\b(?:video|clip)s?\s*#?\s*(\d+(?:\s*(?:,|and|&|\+|or)\s*#?\s*\d+)*)", re.I)
_ORDINAL_RE = re.compile(r"\b(?:the\s+)?(" + "|".join(_ORDINALS) + r")\b(?:\s+(?:video|clip|one))?", re.I)
_BARE_SEQ_RE = re.compile(r"^\s*\d+(?:\s*(?:,|->|→|>|then|and)\s*\d+)+\s*$")
_NUMBER_RE = re.compile(r"\b(\d+(?:\.\d+)?)\b|\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.I)


def _names(paths: Sequence[str]) -> list[tuple[int, str]]:
    """(index, lower-case name) for each file name and stem, longest first (to match greedily)."""
    out = []
    for i, p in enumerate(paths):
        base = os.path.basename(p).lower()
        out.append((i, base))
        stem = os.path.splitext(base)[0]
        if len(stem) >= 3:
            out.append((i, stem))
    return sorted(out, key=lambda x: -len(x[1]))


def video_refs(text: str, paths: Sequence[str]) -> list[int] | None:
    """The videos ``text`` names, in the order written (0-based; ``[]`` for "none", ``[ALL]`` for
    "all"/"both"); None when it names none at all (an option about content, not about videos)."""
    n = len(paths)
    if _NONE_RE.search(text):
        return []
    if _ALL_RE.search(text):
        return [ALL]
    found: list[tuple[int, int]] = []  # (position, index)
    for m in _NUMBERED_RE.finditer(text):
        for d in re.finditer(r"\d+", m.group(1)):
            found.append((m.start(1) + d.start(), int(d.group()) - 1))
    for m in _ORDINAL_RE.finditer(text):
        word = m.group(1).lower()
        alone = text.strip(" .").lower() in {word, "the " + word}
        if alone or m.group(0).lower().endswith(("video", "clip", "one")):
            found.append((m.start(), _ORDINALS[word] - 1))
    low = text.lower()
    taken: list[tuple[int, int]] = []
    for i, name in _names(paths):
        start = low.find(name)
        if start >= 0 and not any(a <= start < b for a, b in taken):
            taken.append((start, start + len(name)))
            found.append((start, i))
    if not found and _BARE_SEQ_RE.match(text):
        found = [(d.start(), int(d.group()) - 1) for d in re.finditer(r"\d+", text)]
    if not found:
        return None
    out: list[int] = []
    for _, i in sorted(found):
        if 0 <= i < n and i not in out:
            out.append(i)
    return out if out else None


def option_names_videos(options: Sequence[str], paths: Sequence[str]) -> bool:
    """True when every option names videos (or none/all of them) and one names a concrete video."""
    refs = [video_refs(o, paths) for o in options]
    return bool(refs) and all(r is not None for r in refs) and any(r and r != [ALL] for r in refs)


def number_in(text: str | None, n_videos: int | None = None) -> float | None:
    """The first number a text says (digits or a word up to twelve); "all"/"every" is ``n_videos``."""
    if not text:
        return None
    m = _NUMBER_RE.search(text)
    if m is not None:
        if m.group(1):
            return float(m.group(1))
        return float(_NUMBER_WORDS[m.group(2).lower()])
    if n_videos is not None and re.search(r"\b(?:all|every|each|both)\b", text, re.I):
        return float(n_videos)
    return None
