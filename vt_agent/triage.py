"""Long-video triage: where in a long video does something happen?

The core of ``vt-agent triage`` and of the ``graphs.triage`` graph, as plain async functions
over a reasoner::

    plan = await plan_triage("long.mp4", "someone crosses the lawn", window_s=60, overlap_s=5)
    outcomes = [o async for o in scan_windows(reasoner, plan, concurrency=2)]  # as each window ends
    report = build_report(plan, outcomes)                                      # ranked findings
    report = await triage(reasoner, "long.mp4", "someone crosses the lawn")    # the three at once

* :func:`plan_triage` probes the video and cuts it into windows of ``window_s`` seconds that
  overlap by ``overlap_s`` (:func:`plan_windows`; the last window ends at the end of the clip).
* :func:`scan_windows` asks the model about each window (:func:`scan_window`), sampled on its
  own (the frames of one window only), with a multiple-choice question so the answer ladder
  applies::

      Does the following happen in this part of the video: "<query>"? If so, when?
      Options: A. Yes  B. No

  The reasoner maps the model's window-local ``<time>`` spans to global seconds. It yields one
  outcome per window as each one ends; ``indices`` scans only some windows (the others' outcomes
  kept from an earlier run), so a caller can store outcomes and resume.
* :func:`build_report` keeps the spans cited by windows that answered Yes, merges spans that
  overlap (neighbouring windows see the same event twice) and ranks the findings
  (:func:`merge_findings`).

Confidence of a finding (0..1): the share of the windows that saw the finding's whole span
(or cited it) and answered Yes citing it, times ``0.5 + 0.5 * (share of those traces that pass the
format check)``, halved when the Yes carried no readable span (the finding is then the whole
window). Ties are broken by the number of supporting segments, then by time.

Memory: each window is sampled separately and nothing but its parsed outcome (spans, captions,
think text) is kept, so peak memory is that of one window times the scan's look-ahead
(``concurrency + 2 * prepare_workers`` windows), whatever the video's length. Give the reasoner a small frame cache (``vt_agent.video.set_cache_limit``) or
none when triaging very long videos, since windows are never asked twice.

Over 400 lines: planning, scanning, merging and the report are one pipeline over shared types; durable progress lives in :mod:`vt_agent.triage_resume`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from vt_agent.errors import ConfigError, VTAgentError
from vt_agent.result import mmss
from vt_agent.sandbox import OpenedFile

if TYPE_CHECKING:
    from vt_agent.busy import BusyMeter
    from vt_agent.events import ReasonerEvent
    from vt_agent.video.prepared import PreparedVideo

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_OVERLAP_S",
    "DEFAULT_WINDOW_S",
    "MERGE_TOLERANCE_S",
    "OPTIONS",
    "StreamingReasoner",
    "TriagePlan",
    "build_report",
    "check_windowing",
    "merge_findings",
    "plan_triage",
    "plan_windows",
    "scan_window",
    "scan_windows",
    "triage",
    "triage_question",
]

DEFAULT_WINDOW_S = 60.0
DEFAULT_OVERLAP_S = 5.0
DEFAULT_CONCURRENCY = 2
MERGE_TOLERANCE_S = 0.5
"""Spans closer than this are one finding."""
OPTIONS = ("Yes", "No")
"""The options every window is asked with (answers ``A`` / ``B``)."""


class StreamingReasoner(Protocol):
    """What triage needs of :class:`vt_agent.reasoner.VideoReasoner`: its event stream."""

    def astream(
        self,
        videos: Sequence[str | OpenedFile],
        question: str,
        options: Sequence[str] | None = None,
        *,
        window: tuple[float, float] | None = None,
        preset: str | None = None,
    ) -> AsyncIterator[ReasonerEvent]: ...


@dataclass(frozen=True)
class TriagePlan:
    """A probed video, the query and its windows: everything a scan and a report need."""

    video: str
    """Path of the video (as the probe resolved it)."""
    query: str
    """What to look for."""
    window_s: float
    overlap_s: float
    info: dict[str, Any]
    """Probe of the video: path, duration, size, frame rate, codec, container, file id."""
    windows: tuple[tuple[float, float], ...]
    """The windows, ``(start_s, end_s)`` in global seconds; a window's index is its position."""

    @property
    def question(self) -> str:
        """The question asked of every window."""
        return triage_question(self.query)


def triage_question(query: str) -> str:
    """The question asked of every window (answered with options Yes/No)."""
    text = " ".join(query.split()).rstrip("?.").strip()
    return f'Does the following happen in this part of the video: "{text}"? If so, when?'


def check_windowing(window_s: float, overlap_s: float) -> None:
    """ConfigError unless ``window_s > 0`` and ``0 <= overlap_s < window_s`` (finite seconds)."""
    if not (isinstance(window_s, int | float) and math.isfinite(window_s) and window_s > 0):
        raise ConfigError(f"window must be a positive number of seconds, got {window_s!r}")
    if not (isinstance(overlap_s, int | float) and math.isfinite(overlap_s) and 0 <= overlap_s < window_s):
        raise ConfigError(
            f"overlap must be >= 0 and shorter than the window ({window_s} s), got {overlap_s!r}"
        )


def plan_windows(duration_s: float, window_s: float, overlap_s: float) -> list[tuple[float, float]]:
    """Windows of ``window_s`` stepping by ``window_s - overlap_s``; the last one ends at ``duration_s``."""
    check_windowing(window_s, overlap_s)
    if not duration_s > 0:
        raise ConfigError(f"the video has no duration ({duration_s!r} s): nothing to triage")
    step = window_s - overlap_s
    out: list[tuple[float, float]] = []
    start = 0.0
    while True:
        end = min(start + window_s, duration_s)
        out.append((round(start, 6), round(end, 6)))
        if end >= duration_s:
            return out
        start += step


async def plan_triage(
    video: str | OpenedFile,
    query: str,
    *,
    window_s: float = DEFAULT_WINDOW_S,
    overlap_s: float = DEFAULT_OVERLAP_S,
) -> TriagePlan:
    """Check the query, probe ``video`` (its packet index, in a thread) and plan the windows."""
    from vt_agent.video import probe

    if not isinstance(query, str) or not query.strip():
        raise ConfigError("'query' is empty: say what to look for")
    if not isinstance(video, str | OpenedFile) or not str(video):
        raise ConfigError("'video' must be the path of a video file")
    info = await asyncio.to_thread(probe, video, decode_all=False)  # the packet index is enough
    windows = plan_windows(info.duration_s, window_s, overlap_s)
    return TriagePlan(
        video=info.path,
        query=query,
        window_s=float(window_s),
        overlap_s=float(overlap_s),
        info={
            "path": info.path,
            "duration_s": info.duration_s,
            "width": info.width,
            "height": info.height,
            "fps": info.fps,
            "codec": info.codec,
            "container": info.container,
            "file_id": info.file_id,
        },
        windows=tuple(windows),
    )


async def scan_window(
    reasoner: StreamingReasoner,
    video: str | OpenedFile,
    question: str,
    index: int,
    start_s: float,
    end_s: float,
    *,
    preset: str | None = None,
    prepared: Sequence[PreparedVideo] | None = None,
) -> dict[str, Any]:
    """Ask the model about one window; its outcome (answer, spans in global seconds) or its error.

    A vt-agent error (decoding, backend) becomes the outcome's ``error``: one failed window does
    not stop a triage. ``prepared``: the window's frames sampled ahead (:mod:`vt_agent.pipeline`).
    """
    from vt_agent.runs import drain

    base: dict[str, Any] = {"index": index, "start_s": start_s, "end_s": end_s}
    extra: dict[str, Any] = {} if prepared is None else {"prepared": prepared}
    try:
        result = await drain(
            reasoner.astream(
                [video], question, list(OPTIONS), window=(start_s, end_s), preset=preset, **extra
            )
        )
    except VTAgentError as exc:
        return {**base, "answer": None, "error": str(exc), "segments": []}
    return {
        **base,
        "answer": result.answer,
        "format_ok": result.format.ok,
        "segments": [s.model_dump(mode="json") for s in result.segments],
        "reasoning": result.reasoning,
        "answer_text": result.answer_text,
        "warnings": result.warnings,
        "backend": result.backend,
        "model": result.model,
        "scripted": result.scripted,
        "source": result.source,
        "answer_fallback": result.answer_fallback,
        "finish_reason": result.finish_reason,
    }


async def scan_windows(
    reasoner: StreamingReasoner,
    plan: TriagePlan,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    preset: str | None = None,
    indices: Iterable[int] | None = None,
    prepare_workers: int | None = None,
    prepare_pool: Literal["thread", "process"] = "thread",
    meter: BusyMeter | None = None,
) -> AsyncGenerator[dict[str, Any], None]:
    """Scan the plan's windows (or only ``indices``), ``concurrency`` at once; yield each outcome as it ends.

    ``meter``: fed each window's preparation time and generation span (:mod:`vt_agent.busy`).

    Outcomes come in the order the windows finish (each carries its ``index``). Windows go
    through :class:`vt_agent.pipeline.Pipeline`: ``prepare_workers`` threads (default: the cores;
    processes with ``prepare_pool="process"``)
    sample the next windows while ``concurrency`` are asked, at most ``concurrency + 2 *
    prepare_workers`` windows' frames in memory. Closing the iterator early cancels the windows in
    flight.
    """
    from vt_agent.pipeline import Pipeline, PipelineItem, PreparedItem

    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigError(f"concurrency must be an integer >= 1, got {concurrency!r}")
    todo = list(range(len(plan.windows))) if indices is None else list(indices)
    for i in todo:
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(plan.windows):
            raise ConfigError(f"window index {i!r} is not one of the plan's 0..{len(plan.windows) - 1}")
    if len(set(todo)) != len(todo):
        raise ConfigError(f"window indices repeat: {todo}; give each window once")
    question = plan.question
    default_preset = preset or getattr(reasoner, "preset", None)
    # a reasoner whose astream takes no ready frames finds them in the frame cache, filled ahead
    takes_prepared = "prepared" in inspect.signature(reasoner.astream).parameters

    async def ask(ready: PreparedItem) -> dict[str, Any]:
        i: int = ready.item.data
        start, end = plan.windows[i]
        return await scan_window(
            reasoner,
            plan.video,
            question,
            i,
            start,
            end,
            preset=ready.preset,
            prepared=ready.videos if takes_prepared else None,
        )

    items = (PipelineItem(i, plan.video, question, window=plan.windows[i], data=i) for i in todo)
    pipeline = Pipeline(default_preset, workers=prepare_workers, concurrency=concurrency, pool=prepare_pool)
    try:
        results = pipeline.run(items, ask, meter=meter)
        async with contextlib.aclosing(results):  # closed on an early exit too
            async for done in results:
                if done.stage == "generate":  # a bug, not a window's error (those are outcomes): stop
                    assert done.error is not None
                    raise done.error
                if done.error is not None:  # the window's frames could not be sampled
                    start, end = plan.windows[done.item.data]
                    err = done.error
                    if not isinstance(err, VTAgentError):
                        raise err
                    yield {
                        "index": done.item.data,
                        "start_s": start,
                        "end_s": end,
                        "answer": None,
                        "error": str(err),
                        "segments": [],
                    }
                    continue
                assert done.value is not None
                yield done.value
    finally:
        pipeline.close()


def _usable_span(seg: dict[str, Any]) -> bool:
    """A readable span inside the window (a span clamped to nothing lay outside what the model saw)."""
    start, end = seg.get("start_s"), seg.get("end_s")
    if start is None or end is None:
        return False
    return not (end <= start and seg.get("warnings"))


def _candidates(scans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for scan in scans:
        if scan.get("answer") != "A":
            continue
        spans = [s for s in scan["segments"] if _usable_span(s)]
        if not spans:
            out.append(
                {
                    "start_s": scan["start_s"],
                    "end_s": scan["end_s"],
                    "window": scan["index"],
                    "whole_window": True,
                    "format_ok": bool(scan.get("format_ok")),
                    "segment": None,
                }
            )
            continue
        for seg in spans:
            out.append(
                {
                    "start_s": float(seg["start_s"]),
                    "end_s": float(seg["end_s"]),
                    "window": scan["index"],
                    "whole_window": False,
                    "format_ok": bool(scan.get("format_ok")),
                    "segment": {
                        "window": scan["index"],
                        "index": seg["index"],
                        "start_s": seg["start_s"],
                        "end_s": seg["end_s"],
                        "time_text": seg.get("time_text"),
                        "caption": seg.get("caption"),
                        "think": seg.get("think"),
                    },
                }
            )
    return out


def merge_findings(scans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Spans cited by windows that answered Yes, overlapping ones merged, ranked best first."""
    cands = sorted(_candidates(scans), key=lambda c: (c["start_s"], c["end_s"]))
    groups: list[list[dict[str, Any]]] = []
    for cand in cands:
        if groups and cand["start_s"] <= max(c["end_s"] for c in groups[-1]) + MERGE_TOLERANCE_S:
            groups[-1].append(cand)
        else:
            groups.append([cand])
    findings: list[dict[str, Any]] = []
    for group in groups:
        start = min(c["start_s"] for c in group)
        end = max(c["end_s"] for c in group)
        yes_windows = sorted({c["window"] for c in group})
        seen_by = [
            s["index"]
            for s in scans
            if s["index"] in yes_windows
            or (s.get("error") is None and s["start_s"] <= start + 1e-6 and s["end_s"] >= end - 1e-6)
        ]
        per_window_ok = {c["window"]: c["format_ok"] for c in group}
        share_yes = len(yes_windows) / max(1, len(seen_by))
        share_ok = sum(per_window_ok.values()) / len(per_window_ok)
        whole = all(c["whole_window"] for c in group)
        confidence = min(1.0, share_yes) * (0.5 + 0.5 * share_ok) * (0.5 if whole else 1.0)
        segments = [c["segment"] for c in group if c["segment"] is not None]
        findings.append(
            {
                "start_s": round(start, 3),
                "end_s": round(end, 3),
                "start": mmss(start),
                "end": mmss(end),
                "confidence": round(confidence, 3),
                "windows": yes_windows,
                "seen_by": seen_by,
                "whole_window": whole,
                "segments": segments,
            }
        )
    findings.sort(key=lambda f: (-f["confidence"], -len(f["segments"]), f["start_s"]))
    for rank, f in enumerate(findings, 1):
        f["rank"] = rank
    return findings


def build_report(plan: TriagePlan, outcomes: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The triage report: video info, query, per-window outcomes, ranked findings and errors."""
    scans = sorted(outcomes, key=lambda s: s["index"])
    ok = [s for s in scans if s.get("error") is None]
    return {
        "video": plan.video,
        "info": plan.info,
        "query": plan.query,
        "question": plan.question,
        "options": ["A. Yes", "B. No"],
        "window_s": plan.window_s,
        "overlap_s": plan.overlap_s,
        "windows": scans,
        "findings": merge_findings(scans),
        "errors": [
            {"window": s["index"], "start_s": s["start_s"], "end_s": s["end_s"], "message": s["error"]}
            for s in scans
            if s.get("error") is not None
        ],
        "backend": ok[0]["backend"] if ok else "",
        "model": ok[0]["model"] if ok else "",
        "scripted": any(s.get("scripted") for s in ok),
        "source": next(
            (n for n in ("scripted", "random weights") if any(s.get("source") == n for s in ok)), "model"
        ),
    }


async def triage(
    reasoner: StreamingReasoner,
    video: str,
    query: str,
    *,
    window_s: float = DEFAULT_WINDOW_S,
    overlap_s: float = DEFAULT_OVERLAP_S,
    concurrency: int = DEFAULT_CONCURRENCY,
    preset: str | None = None,
) -> dict[str, Any]:
    """Plan, scan every window and report: :func:`plan_triage`, :func:`scan_windows`, :func:`build_report`."""
    plan = await plan_triage(video, query, window_s=window_s, overlap_s=overlap_s)
    outcomes = [o async for o in scan_windows(reasoner, plan, concurrency=concurrency, preset=preset)]
    return build_report(plan, outcomes)
