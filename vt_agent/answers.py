"""Answer extraction: the authors' answer ladder (docs/protocol.md, Answer rules) and tag blocks.

Every scan is linear in the text: :func:`tag_blocks` finds ``<name>...</name>`` pairs by forward
searches (the lazy regex it replaces is quadratic on many unclosed tags), and the ladder's rung 4
reads the text once. :mod:`vt_agent.trace` re-exports these functions.
"""

from __future__ import annotations

import re

__all__ = ["answer_letter", "extract_answer", "ground_truth_letter", "tag_blocks"]

_FINAL_RE = re.compile(r"final answer:", re.IGNORECASE)
_LETTER_RE = re.compile(r"\s*([A-Z])\b", re.IGNORECASE)
_GT_RE = re.compile(r"<answer>\s*([A-Z])\s*</answer>")
# "L:", "L " or "[L" for L in A..O. Matches never hide another letter's: a match consumes a
# letter plus ':' or ' ' (which start no match), or '[' plus a letter (whose own match is that letter).
_MARK_RE = re.compile(r"[A-O][: ]|\[[A-O]")


def tag_blocks(text: str, name: str, *, ignore_case: bool = True) -> list[str]:
    """The contents of the ``<name>...</name>`` pairs of ``text``, in order, in linear time.

    The same list as ``re.findall(r"<name>(.*?)</name>", text, re.DOTALL)`` (with IGNORECASE
    when ``ignore_case``), without that pattern's quadratic time on many unclosed tags.
    """
    flags = re.IGNORECASE if ignore_case else 0
    opener = re.compile(re.escape(f"<{name}>"), flags)
    closer = re.compile(re.escape(f"</{name}>"), flags)
    out: list[str] = []
    pos = 0
    while (o := opener.search(text, pos)) is not None:
        c = closer.search(text, o.end())
        if c is None:
            break  # no later opener has a closer either
        out.append(text[o.end() : c.start()])
        pos = c.end()
    return out


def extract_answer(text: str) -> str:
    """The answer letter by the answer rules of docs/protocol.md, or ``"WRONG"``.

    1. the last ``<answer>\\s*(.*?)\\s*</answer>`` match (DOTALL, IGNORECASE), stripped;
    2. else the text after the first ``Final answer:`` (case-insensitive), else the whole text;
    3. ``\\s*([A-Z])\\b`` at the start of that (IGNORECASE) gives the letter, upper-cased;
    4. else the first of A..O for which ``L:``, ``[L`` or ``L `` occurs in it (case-sensitive);
    5. else ``"WRONG"``.

    Rungs 3-4 apply to the rung-1 content when there is an ``<answer>`` tag: an empty
    ``<answer></answer>`` therefore gives ``"WRONG"`` even when the discussion names a letter.
    """
    matches = tag_blocks(text, "answer")
    if matches:
        candidate = matches[-1].strip()
    else:
        m = _FINAL_RE.search(text)
        candidate = text[m.end() :] if m else text
    m3 = _LETTER_RE.match(candidate)
    if m3:
        return m3.group(1).upper()
    # rung 4 in one pass: the letters for which "L:", "[L" or "L " occurs; the first of A..O wins
    marked: set[str] = {m[1] if m[0] == "[" else m[0] for m in _MARK_RE.findall(candidate)}
    return min(marked) if marked else "WRONG"


def answer_letter(text: str) -> str | None:
    """:func:`extract_answer`, with None instead of ``"WRONG"``."""
    letter = extract_answer(text)
    return None if letter == "WRONG" else letter


def ground_truth_letter(text: str) -> str | None:
    """The letter of a ground-truth solution ``<answer>X</answer>`` (strict), or None."""
    m = _GT_RE.search(text)
    return m.group(1) if m else None
