"""Editing a paused step-by-step trace: keep, change or drop a closed grounded step.

A step-by-step run (``VideoReasoner.astream(..., stop_after_step=True)``) pauses after each
``<time>``/``<caption>``/``<think>`` step. Between steps a person or an agent may change the last
step's caption, think text or span, or drop a step; :func:`edit_trace` applies such an edit to the
trace text (the step is re-rendered in place, the free text around it kept) and the model then
continues from the edited trace. Segments are the JSON form of :class:`vt_agent.result.Segment`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from vt_agent.errors import ConfigError
from vt_agent.result import mmss

__all__ = ["EDIT_FIELDS", "edit_trace", "render_step", "step_bounds"]

EDIT_FIELDS = ("action", "index", "caption", "think", "start_s", "end_s")
"""The keys of an edit: ``action`` ("keep", "edit", "drop"), ``index`` (default: the last step),
``caption``, ``think``, ``start_s``/``end_s`` (global seconds)."""
_TAG = re.compile(r"</?(time|caption|think|answer)>", re.IGNORECASE)


def render_step(time_text: str, caption: str | None, think: str | None) -> str:
    """One grounded step as the model writes it."""
    return f"<time>{time_text}</time><caption>{caption or ''}</caption><think>{think or ''}</think>"


def step_bounds(trace: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each closed step in ``trace``: from its ``<time>`` to its ``</think>``."""
    out: list[tuple[int, int]] = []
    pos = 0
    while True:
        start = trace.find("<time>", pos)
        if start < 0:
            return out
        end = trace.find("</think>", start)
        if end < 0:
            return out
        nxt = trace.find("<time>", start + 1)
        if 0 <= nxt < end:  # a step without its own </think>: not a closed step
            pos = nxt
            continue
        out.append((start, end + len("</think>")))
        pos = end + len("</think>")


def _text(edit: Mapping[str, Any], key: str, old: str | None) -> str | None:
    value = edit.get(key, old)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"the step's {key} must be non-empty text, got {value!r}")
    if _TAG.search(value):
        raise ConfigError(
            f"the step's {key} may not contain trace tags (<time>, <caption>, <think>, <answer>)"
        )
    return " ".join(value.split())


def _span(edit: Mapping[str, Any], seg: Mapping[str, Any], seen: tuple[float, float]) -> tuple[float, float]:
    start, end = edit.get("start_s", seg.get("start_s")), edit.get("end_s", seg.get("end_s"))
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (start, end)):
        raise ConfigError(f"start_s and end_s must be numbers of seconds, got {start!r} and {end!r}")
    lo, hi = seen[0], seen[0] + seen[1]
    if not (lo - 1e-6 <= float(start) <= float(end) <= hi + 1e-6):  # type: ignore[arg-type]
        raise ConfigError(
            f"the span {start}-{end} s must lie inside what the model saw ({lo:g}-{hi:g} s) with start <= end"
        )
    return float(start), float(end)  # type: ignore[arg-type]


def edit_trace(
    trace: str,
    segments: Sequence[Mapping[str, Any]],
    edit: Mapping[str, Any] | str | None,
    seen: tuple[float, float],
) -> tuple[str, list[dict[str, Any]]] | None:
    """Apply ``edit`` to a paused trace; the new trace and segments, or None when nothing changed.

    ``seen`` is (global start, length) of what the model saw (:func:`vt_agent.spans.seen_span`): an
    edited span is written back in the model's own ``MM:SS`` frame. ``None``, ``"keep"`` and
    ``{"action": "keep"}`` keep the step; ``"drop"`` is ``{"action": "drop"}``.
    """
    if edit is None:
        return None
    if isinstance(edit, str):  # "keep" / "drop" as shorthands
        edit = {"action": edit}
    if not isinstance(edit, Mapping):
        raise ConfigError(f"a step edit must be an object with {', '.join(EDIT_FIELDS)}, got {edit!r}")
    unknown = set(edit) - set(EDIT_FIELDS)
    if unknown:
        raise ConfigError(f"unknown step edit field(s) {sorted(unknown)}; use {', '.join(EDIT_FIELDS)}")
    changes = set(edit) - {"action", "index"}
    action = edit.get("action", "edit" if changes else "keep")
    if action not in ("keep", "edit", "drop"):
        raise ConfigError(f"action must be 'keep', 'edit' or 'drop', got {action!r}")
    if action == "keep":
        return None
    bounds = step_bounds(trace)
    index = edit.get("index", len(segments) - 1)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(segments):
        raise ConfigError(f"index must name a step, 0..{len(segments) - 1}, got {index!r}")
    if len(bounds) != len(segments):
        raise ConfigError("the trace's steps cannot be located (malformed trace): it cannot be edited")
    start, end = bounds[index]
    segs = [dict(s) for s in segments]
    if action == "drop":
        rest = trace[end:]
        new_trace = trace[:start] + rest[len(rest) - len(rest.lstrip()) :]
        del segs[index]
        for i, s in enumerate(segs):
            s["index"] = i
        return new_trace, segs
    seg = segs[index]
    caption, think = _text(edit, "caption", seg.get("caption")), _text(edit, "think", seg.get("think"))
    time_text = str(seg.get("time_text", ""))
    if "start_s" in edit or "end_s" in edit:
        a, b = _span(edit, seg, seen)
        time_text = f"{mmss(a - seen[0])}-{mmss(b - seen[0])}"
        seg.update(start_s=a, end_s=b, start=mmss(a), end=mmss(b), time_text=time_text)
    seg.update(caption=caption, think=think)
    return trace[:start] + render_step(time_text, caption, think) + trace[end:], segs
