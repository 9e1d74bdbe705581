"""The format rule of a trace (for rewards and checks): tags balanced, grounded groups, one answer.

:mod:`vt_agent.trace` re-exports :func:`check_format` and :func:`format_reward`.
"""

from __future__ import annotations

import re

from vt_agent.result import FormatCheck
from vt_agent.time_spans import UnreadableSpanError, read_span

__all__ = ["check_format", "format_reward"]

# ``<[ \t]*/?[ \t]*name[ \t]*>`` written so that no two space runs meet (linear time); group 1
# is "/" or None.
_ANY_TAG_RE = re.compile(r"<[ \t]*(?:(/)[ \t]*)?(time|caption|think|answer)[ \t]*>", re.IGNORECASE | re.ASCII)


def check_format(text: str) -> FormatCheck:
    """The format rule of this project, for rewards and checks (docs/protocol.md, Trace grammar:
    the paper leaves it open).

    A trace is well formed when all of these hold:

    1. tags are written exactly ``<time>``, ``</time>``, ... (lower case, no spaces);
    2. every tag is closed by its own closing tag before any other tag (balanced, not nested);
    3. there is at least one group ``<time>…</time><caption>…</caption><think>…</think>``
       (only whitespace between the three parts) and every ``<time>`` holds a readable span;
    4. there is exactly one ``<answer>…</answer>``, it is not empty, and only whitespace follows it.
    """
    problems: list[str] = []
    tags = list(_ANY_TAG_RE.finditer(text))
    odd = sorted({m.group(0) for m in tags if m.group(0) != f"<{m.group(1) or ''}{m.group(2)}>"})
    if odd:
        problems.append(f"tags not written exactly as <tag>: {', '.join(odd)}")
    # Balance and nesting.
    open_name: str | None = None
    open_at = content_at = 0
    pairs: list[tuple[str, int, int, int]] = []  # name, open start, content start, close end
    balanced = True
    for m in tags:
        closing, name = m.group(1) == "/", m.group(2).lower()
        if not closing:
            if open_name is not None:
                problems.append(f"<{name}> opens inside <{open_name}>: tags must not nest")
                balanced = False
            open_name, open_at, content_at = name, m.start(), m.end()
        elif open_name is None:
            problems.append(f"closing </{name}> with no matching opening tag")
            balanced = False
        elif open_name != name:
            problems.append(f"<{open_name}> is closed by </{name}>")
            balanced = False
            open_name = None
        else:
            pairs.append((name, open_at, content_at, m.end()))
            open_name = None
    if open_name is not None:
        problems.append(f"<{open_name}> is never closed")
        balanced = False
    # Groups.
    groups = 0
    if balanced:
        for a, b, c in zip(pairs, pairs[1:], pairs[2:], strict=False):
            if (
                (a[0], b[0], c[0]) == ("time", "caption", "think")
                and not text[a[3] : b[1]].strip()
                and not text[b[3] : c[1]].strip()
            ):
                groups += 1
        for name, _, content_at, end in pairs:
            if name != "time":
                continue
            inner = text[content_at : end - len("</time>")]
            try:
                read_span(inner)
            except UnreadableSpanError:
                problems.append(f"unreadable time span <time>{inner}</time>")
    if not any(m.group(2).lower() == "time" for m in tags):
        problems.append("no <time> segment: the trace is not grounded")
    elif balanced and groups == 0:
        problems.append("no complete <time><caption><think> group")
    # Answer.
    answers = [p for p in pairs if p[0] == "answer"]
    n_answer_tags = sum(1 for m in tags if m.group(2).lower() == "answer" and not m.group(1))
    if n_answer_tags == 0:
        problems.append("no <answer> tag")
    elif n_answer_tags > 1:
        problems.append(f"{n_answer_tags} <answer> tags: exactly one is allowed")
    if answers:
        name, _, content_at, end = answers[-1]
        if not text[content_at : end - len("</answer>")].strip():
            problems.append("the <answer> is empty")
        if text[end:].strip():
            problems.append("text after </answer>: the answer must come at the very end")
    return FormatCheck(ok=not problems, problems=problems)


def format_reward(text: str) -> float:
    """1.0 when :func:`check_format` passes, else 0.0 (the format part of the GRPO reward)."""
    return 1.0 if check_format(text).ok else 0.0
