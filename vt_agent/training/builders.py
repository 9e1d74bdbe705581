"""Build Video-Thinker-10K style training records from public annotation files.

Two kinds of sources (docs/protocol.md, Training recipe):

* **caption-labelled** (``activitynet-captions``, ``youcook2``): the video has timed captions; a
  text LLM writes a multiple-choice question that needs them and a grounded trace;
* **QA-labelled** (``star``, ``scalelong``, ``lvbench``): the question, options and answer exist;
  the LLM writes the trace for them, from the question's time reference and, when given, a
  description of the video (``descriptions``: ``{video_id: text or [{start_s, end_s, caption}]}``).

Every sample first passes the video filters: the file must be found under the videos folder
(``<id>.<ext>`` anywhere below it, ActivityNet's ``v_`` prefix optional), decode
(:func:`vt_agent.video.probe`), and have at least ``min_frames`` (64) decoded frames. The LLM's
reply is parsed and validated with :mod:`vt_agent.trace` (format rule, answer letter, spans inside
the clip, at least one span on an annotated moment); a rejected reply is asked again up to
``max_attempts`` times. Every drop and every rejected reply goes to the build log with its reason.

A caption-labelled video can give several questions (``questions_per_video``, Video-Thinker-10K
has several per video): they are asked one after the other, each prompt listing the questions
already written and the annotated moments they did not use yet; a reply repeating an earlier
question's text is rejected. Question ``k`` of ``N > 1`` gets the stable id ``<sample id>#q<k>``
(``N = 1`` keeps the plain sample id).

The pieces live in their own modules and are re-exported here: :mod:`~vt_agent.training.sources`
(reading the sources through :mod:`vt_agent.benchmarks`), :mod:`~vt_agent.training.video_check`
(the video filters), :mod:`~vt_agent.training.writer_prompts`, :mod:`~vt_agent.training.replies`
(parsing and validating replies) and :mod:`~vt_agent.training.writer` (asking again).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vt_agent.benchmarks.videos import VIDEO_EXTENSIONS
from vt_agent.errors import ConfigError
from vt_agent.training.llm import ChatLLM
from vt_agent.training.replies import (
    SPAN_TOLERANCE_S,
    GeneratedSample,
    ReplyRejected,
    moments_of,
    parse_question_reply,
    parse_trace_reply,
)
from vt_agent.training.schema import JsonlWriter, Span, TrainRecord
from vt_agent.training.sources import (
    CAPTION_SOURCES,
    QA_SOURCES,
    SOURCES,
    SourceSample,
    fit_span,
    load_source,
    question_id,
)
from vt_agent.training.video_check import MIN_FRAMES, VideoCheck, VideoIndex, check_video
from vt_agent.training.writer import REPLY_LOG_CHARS, LogFn, TraceWriter
from vt_agent.training.writer_prompts import clock

__all__ = [
    "CAPTION_SOURCES",
    "MIN_FRAMES",
    "QA_SOURCES",
    "REPLY_LOG_CHARS",
    "SOURCES",
    "SPAN_TOLERANCE_S",
    "VIDEO_EXTENSIONS",
    "BuildStats",
    "DatasetBuilder",
    "GeneratedSample",
    "ReplyRejected",
    "SourceSample",
    "TraceWriter",
    "VideoCheck",
    "VideoIndex",
    "check_video",
    "clock",
    "load_source",
    "parse_question_reply",
    "parse_trace_reply",
    "question_id",
]


@dataclass
class BuildStats:
    """Counts of one build."""

    samples: int = 0
    written: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    rejected_replies: int = 0
    duplicate_questions: int = 0
    llm_calls: int = 0

    def drop(self, kind: str) -> None:
        self.dropped[kind] = self.dropped.get(kind, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "written": self.written,
            "dropped": dict(sorted(self.dropped.items())),
            "rejected_replies": self.rejected_replies,
            "duplicate_questions": self.duplicate_questions,
            "llm_calls": self.llm_calls,
        }


Done = Mapping[str, Mapping[str, Any]]  # records already written, by id (``--resume``)


class DatasetBuilder:
    """Turns source samples into :class:`TrainRecord` lines (see the module docstring).

    ``workers`` LLM requests run at once (threads); output order follows the input.
    ``questions_per_video`` questions are asked of each caption-labelled sample (QA-labelled
    samples keep their one question).
    """

    def __init__(
        self,
        llm: ChatLLM,
        videos: str | os.PathLike[str],
        *,
        min_frames: int = MIN_FRAMES,
        max_attempts: int = 3,
        workers: int = 1,
        seed: int | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        questions_per_video: int = 1,
    ) -> None:
        if workers < 1:
            raise ConfigError(f"workers must be at least 1, got {workers}")
        if questions_per_video < 1:
            raise ConfigError(f"questions_per_video must be at least 1, got {questions_per_video}")
        self.llm = llm
        self.index = VideoIndex(videos)
        self.min_frames = min_frames
        self.workers = workers
        self.questions_per_video = questions_per_video
        self.writer = TraceWriter(
            llm, max_attempts=max_attempts, temperature=temperature, max_tokens=max_tokens, seed=seed
        )

    def record_ids(self, sample: SourceSample) -> list[str]:
        """The ids of the records ``sample`` gives (one per question)."""
        if sample.kind != "captions":
            return [sample.id]
        n = self.questions_per_video
        return [question_id(sample.id, k, n) for k in range(1, n + 1)]

    def _done(self, sample: SourceSample, k: int, done: Done) -> Mapping[str, Any] | None:
        """The record already written for question ``k`` (an ``N = 1`` build's record counts as q1)."""
        got = done.get(self.record_ids(sample)[k - 1])
        if got is None and k == 1:
            got = done.get(sample.id)
        return got

    def pending(self, sample: SourceSample, done: Done) -> bool:
        """Whether some record of ``sample`` is not in ``done`` yet."""
        return any(self._done(sample, k, done) is None for k in range(1, len(self.record_ids(sample)) + 1))

    def done_count(self, sample: SourceSample, done: Done) -> int:
        """How many records of ``sample`` ``done`` already holds."""
        return sum(
            self._done(sample, k, done) is not None for k in range(1, len(self.record_ids(sample)) + 1)
        )

    def _check(self, video_id: str) -> VideoCheck:
        path = self.index.find(video_id)
        if path is None:
            return VideoCheck(
                video_id, False, f"video not found: no {video_id}.<ext> under {self.index.root}"
            )
        return check_video(path, self.min_frames)

    def build_one(
        self, sample: SourceSample, check: VideoCheck, done: Done | None = None
    ) -> tuple[list[TrainRecord], list[dict[str, Any]]]:
        """One sample: its records (none, one, or one per question) and its log entries.

        ``done``: records already written; their questions are not asked again, and new ones
        must differ from them.
        """
        done = done or {}
        log: list[dict[str, Any]] = []
        base = {"sample": sample.id, "source": sample.source, "video": check.path}
        if not check.ok:
            log.append({**base, "stage": "video", "status": "dropped", "reason": check.reason})
            return [], log
        assert check.duration_s is not None
        duration = check.duration_s
        spans = [
            s
            for s in (fit_span(s.start_s, s.end_s, s.caption, duration) for s in sample.spans)
            if s is not None
        ]

        def adder(record_id: str) -> LogFn:
            def add(entry: dict[str, Any]) -> None:
                log.append({**base, "sample": record_id, **entry})

            return add

        meta = dict(sample.meta)
        if sample.duration_s is not None and abs(sample.duration_s - duration) > max(1.0, 0.05 * duration):
            meta["annotated_duration_s"] = sample.duration_s
        if sample.kind != "captions":
            assert sample.problem is not None and sample.options is not None and sample.answer is not None
            add = adder(sample.id)
            got, attempts = self.writer.trace(
                sample.id,
                sample.problem,
                sample.options,
                sample.answer,
                duration,
                add,
                spans=spans,
                description=sample.description,
                clip=sample.clip,
                time_reference=sample.meta.get("time_reference") if isinstance(sample.meta, dict) else None,
            )
            record = self._record(sample, sample.id, check, spans, meta, got, attempts, add)
            return ([] if record is None else [record]), log
        if not any(s.caption for s in spans):
            adder(sample.id)(
                {
                    "stage": "generate",
                    "status": "dropped",
                    "reason": "no timed caption inside the decoded video",
                }
            )
            return [], log
        n = self.questions_per_video
        earlier: list[tuple[str, tuple[int, ...]]] = []
        for k in range(1, n + 1):
            old = self._done(sample, k, done)
            if old is not None:
                earlier.append((str(old.get("problem", "")), moments_of(str(old.get("trace", "")), spans)))
        records: list[TrainRecord] = []
        for k, record_id in enumerate(self.record_ids(sample), start=1):
            if self._done(sample, k, done) is not None:
                continue
            add = adder(record_id)
            got, attempts = self.writer.question(record_id, spans, duration, add, earlier=earlier)
            extra = dict(meta)
            if n > 1 and got is not None:
                extra.update(question=k, question_moments=list(got.moments))
            record = self._record(sample, record_id, check, spans, extra, got, attempts, add)
            if record is not None and got is not None:
                records.append(record)
                earlier.append((record.problem, got.moments))
        return records, log

    def _record(
        self,
        sample: SourceSample,
        record_id: str,
        check: VideoCheck,
        spans: list[Span],
        meta: dict[str, Any],
        got: GeneratedSample | None,
        attempts: int,
        add: LogFn,
    ) -> TrainRecord | None:
        if got is None:
            add(
                {
                    "stage": "generate",
                    "status": "dropped",
                    "reason": f"no valid reply in {attempts} attempts",
                }
            )
            return None
        meta = dict(meta)
        if got.grounding is not None:
            meta["grounding_miou"] = round(got.grounding, 4)
        try:
            record = TrainRecord(
                id=record_id,
                video=str(Path(check.path).resolve()),
                problem=got.problem or sample.problem or "",
                options=got.options,
                solution=f"<answer>{got.answer}</answer>",
                trace=got.trace,
                source=sample.source,
                spans=spans,
                clip=sample.clip,
                description=sample.description,
                duration_s=round(check.duration_s or 0.0, 4),
                decoded_frames=check.decoded_frames,
                source_id=sample.source_id,
                generator=self.llm.label,
                attempts=attempts,
                meta=meta,
            )
        except ValueError as exc:
            add({"stage": "record", "status": "dropped", "reason": f"record breaks the schema: {exc}"})
            return None
        add({"stage": "generate", "status": "accepted", "attempt": attempts, "reason": ""})
        return record

    def build(
        self,
        samples: Iterable[SourceSample],
        out: JsonlWriter,
        log: JsonlWriter,
        *,
        done: Done | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> BuildStats:
        """Filter, generate and write every sample; returns the counts.

        ``done`` (``--resume``): records already in the output, by id; samples with all their
        records there are skipped (videos not probed), the others ask only the missing questions.
        """
        done = done or {}
        items = [s for s in samples if self.pending(s, done)]
        stats = BuildStats(samples=len(items))
        calls_before = self.llm.calls
        videos = sorted({s.video_id for s in items})
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            checks = dict(zip(videos, pool.map(self._check, videos), strict=True))
            results = pool.map(lambda s: self.build_one(s, checks[s.video_id], done), items)
            for i, (records, entries) in enumerate(results, start=1):
                for entry in entries:
                    log.write(entry)
                    if entry["status"] == "rejected":
                        stats.rejected_replies += 1
                        if str(entry["reason"]).startswith("duplicate question"):
                            stats.duplicate_questions += 1
                    elif entry["status"] == "dropped":
                        stats.drop(_drop_kind(str(entry["reason"])))
                for record in records:
                    out.write(record)
                    stats.written += 1
                if progress is not None:
                    progress(i, len(items))
        stats.llm_calls = self.llm.calls - calls_before
        return stats


def _drop_kind(reason: str) -> str:
    for prefix, kind in (
        ("undecodable", "undecodable"),
        ("too short", "too_short"),
        ("video not found", "video_not_found"),
        ("no valid reply", "llm_rejected"),
        ("record breaks", "schema"),
    ):
        if reason.startswith(prefix):
            return kind
    return "other"
