"""What a synthesis rule decides (:class:`Decision`), and how it names videos and picks options."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from vt_agent.multi.refs import ALL
from vt_agent.multi.types import Plan
from vt_agent.prompts import OPTION_LETTERS

__all__ = ["Decision", "match_videos", "names", "yes_no_letter"]


@dataclass
class Decision:
    """A rule's answer (letter or text), its words, the videos it rests on, each video's use."""

    answer: str | None
    answer_text: str | None
    cited: set[int]
    used: dict[int, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def names(indices: Sequence[int], labels: dict[int, str]) -> str:
    """``Video 1 (a.mp4) and Video 3 (c.avi)``; ``None of them`` for none."""
    parts = [labels[i] for i in indices]
    if not parts:
        return "None of them"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _expand(ref: list[int], n: int) -> list[int]:
    return list(range(n)) if ref == [ALL] else ref


def match_videos(
    plan: Plan, options: Sequence[str], chosen: Sequence[int], n: int, *, ordered: bool = False
) -> tuple[str | None, list[str]]:
    """The option letter naming exactly ``chosen`` (in order when ``ordered``); else the closest."""
    warnings: list[str] = []
    refs = [None if r is None else _expand(r, n) for r in plan.option_refs]
    for k, ref in enumerate(refs):
        if ref is None:
            continue
        if (ref == list(chosen)) if ordered else (set(ref) == set(chosen)):
            return OPTION_LETTERS[k], warnings
    if ordered:
        return None, [f"no option gives the videos in the order the evidence shows ({list(chosen)})"]
    best: tuple[int, int] | None = None
    for k, ref in enumerate(refs):
        if not ref:
            continue
        score = len(set(ref) & set(chosen)) - len(set(ref) - set(chosen))
        if score > 0 and (best is None or score > best[0]):
            best = (score, k)
    if best is None:
        return None, [
            f"no option matches the videos the evidence points to ({options and 'options: ' + '; '.join(options)})"
        ]
    warnings.append(
        f"no option names exactly the videos the evidence points to; {options[best[1]]!r} is the closest"
    )
    return OPTION_LETTERS[best[1]], warnings


def yes_no_letter(options: Sequence[str], yes: bool) -> tuple[str | None, list[str]]:
    """The option saying Yes (or No): the option that is the word, else the one it starts
    ("Yes, video 2 was"); without options the word itself."""
    word = "Yes" if yes else "No"
    if not options:
        return word, []
    texts = [o.split(". ", 1)[-1].strip().rstrip(".").lower() for o in options]
    for k, text in enumerate(texts):
        if text == word.lower():
            return OPTION_LETTERS[k], []
    starts = [k for k, text in enumerate(texts) if re.match(rf"{word.lower()}\b", text)]
    if len(starts) == 1:
        return OPTION_LETTERS[starts[0]], []
    return None, [f"no option says {word}"]
