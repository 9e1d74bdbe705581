"""Training samples read from public annotation files, through :mod:`vt_agent.benchmarks`.

Two kinds of sources (docs/protocol.md, Training recipe): **caption-labelled** (``activitynet-captions``,
``youcook2``: timed captions, a question is written from them) and **QA-labelled** (``star``,
``scalelong``, ``lvbench``: the question, options and answer exist). The files are read by the
same readers as evaluation (:mod:`vt_agent.benchmarks`); a malformed record raises
:class:`RecordError` with its place (``line N``, ``record N`` or ``document``) and the reader's
reason, a file that cannot be read a :class:`~vt_agent.errors.ConfigError`.

Source file shapes (FORMATS.md): ActivityNet Captions ``{"v_id": {"duration", "timestamps",
"sentences"}}``; YouCook2 ``{"database": {ytid: {"annotations": [{"segment", "sentence"}],
"duration", ...}}}``; STAR ``[{"question_id", "video_id", "start", "end", "question", "answer",
"choices": [{"choice_id", "choice"}]}]``; ScaleLong JSONL ``{ytid: [{"data_id", "question",
"options": {"A": ...}, "answer"}]}``; LVBench JSONL ``{"key", "qa": [{"uid", "question"
(options inline as "(A) ..."), "answer", "time_reference"}]}``. JSON files may also be JSONL.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vt_agent.benchmarks import activitynet, lvbench, scalelong, star, youcook2
from vt_agent.benchmarks.files import LETTERS, Options, Question, RecordProblem, read_records
from vt_agent.errors import ConfigError
from vt_agent.training.schema import Clip, RecordError, Span

__all__ = [
    "CAPTION_SOURCES",
    "QA_SOURCES",
    "SOURCES",
    "SourceSample",
    "fit_span",
    "load_source",
    "question_id",
]

CAPTION_SOURCES = ("activitynet-captions", "youcook2")
QA_SOURCES = ("star", "scalelong", "lvbench")
SOURCES = CAPTION_SOURCES + QA_SOURCES
_HINT = "; --data takes the source's annotation file"


@dataclass
class SourceSample:
    """One sample read from a source file, before any video check or LLM call."""

    source: str
    source_id: str
    video_id: str
    kind: Literal["captions", "qa"]
    spans: list[Span] = field(default_factory=list)
    duration_s: float | None = None
    problem: str | None = None
    options: list[str] | None = None
    answer: str | None = None
    clip: Clip | None = None
    description: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.source}:{self.source_id}"


def question_id(sample_id: str, k: int, per_video: int) -> str:
    """The record id of question ``k`` (1-based) of a caption-labelled sample asked ``per_video`` times."""
    return sample_id if per_video == 1 else f"{sample_id}#q{k}"


def fit_span(start: Any, end: Any, caption: str | None, duration: float | None) -> Span | None:
    """A span in order and inside ``[0, duration]``; None when nothing of it is left."""
    s, e = float(start), float(end)
    if e < s:
        s, e = e, s
    if duration is not None:
        s, e = min(max(s, 0.0), duration), min(max(e, 0.0), duration)
        if e <= s:
            return None
    return Span(start_s=max(s, 0.0), end_s=max(e, 0.0), caption=caption)


Parse = Callable[[Any, Options], list[Question]]


def _questions(path: Path, parse: Parse, opts: Options | None = None) -> Iterator[tuple[str, Question]]:
    """``(where, question)`` for every question of the file; the first problem raises."""
    opts = dict(opts or {})
    for where, rec in read_records(path, "source file", _HINT):
        try:
            if isinstance(rec, RecordProblem):
                raise rec
            if not isinstance(rec, dict):
                raise RecordProblem(f"expected a JSON object, got {type(rec).__name__}")
            opts["_soft"] = []
            got = parse(rec, opts)
            if opts["_soft"]:
                raise RecordProblem(opts["_soft"][0])
        except RecordProblem as exc:
            raise RecordError(f"{path}: {where}: {exc}") from None
        for q in got:
            yield where, q


def _lettered(options: list[str]) -> list[str]:
    return [f"{LETTERS[i]}. {text}" for i, text in enumerate(options)]


def _duration(path: Path, where: str, q: Question) -> float:
    try:
        return float(q.get("extra", {})["duration"])
    except (KeyError, TypeError, ValueError):
        raise RecordError(
            f"{path}: {where}: video {q.get('id')!r} needs a 'duration' in seconds "
            f"(got {q.get('extra', {}).get('duration')!r})"
        ) from None


def _captions(source: str, path: Path, parse: Parse, opts: Options) -> list[SourceSample]:
    out = []
    for where, q in _questions(path, parse, opts):
        duration = _duration(path, where, q)
        pairs = zip(q.get("gold_spans", []), q.get("gold_captions", []), strict=True)
        spans = [fit_span(s, e, c, duration) for (s, e), c in pairs]
        extra = q.get("extra", {})
        meta = {k: extra[k] for k in ("recipe_type", "subset") if extra.get(k) is not None}
        vid = str(extra.get("video_id", q["id"]))
        kept = [s for s in spans if s is not None]
        out.append(SourceSample(source, vid, vid, "captions", kept, duration, meta=meta))
    return out


def _activitynet(path: Path) -> list[SourceSample]:
    return _captions("activitynet-captions", path, activitynet.parse_captions, {})


def _youcook2(path: Path) -> list[SourceSample]:
    return _captions("youcook2", path, youcook2.parse, {"level": "video"})


def _star(path: Path) -> list[SourceSample]:
    out = []
    for _, q in _questions(path, star.parse):
        window = q.get("window")
        clip = None if window is None else Clip(start_s=window[0], end_s=window[1])
        spans = [] if clip is None else [Span(start_s=clip.start_s, end_s=clip.end_s)]
        video_id = str(q.get("extra", {})["video_id"])
        options = _lettered(q.get("options", []))
        out.append(
            SourceSample(
                "star", q["id"], video_id, "qa", spans, None, q["problem"], options, q["answer"], clip
            )
        )
    return out


def _scalelong(path: Path) -> list[SourceSample]:
    out = []
    for _, q in _questions(path, scalelong.parse):
        extra = q.get("extra", {})
        vid = str(extra["video_id"])
        out.append(
            SourceSample(
                "scalelong",
                f"{vid}:{extra.get('data_id')}",
                vid,
                "qa",
                problem=q["problem"],
                options=_lettered(q.get("options", [])),
                answer=q["answer"],
                meta={"question_type": q.get("question_type")},
            )
        )
    return out


def _lvbench(path: Path) -> list[SourceSample]:
    from vt_agent.trace import UnreadableSpanError, read_span

    out = []
    for _, q in _questions(path, lvbench.parse):
        extra = q.get("extra", {})
        spans: list[Span] = []
        ref = extra.get("time_reference")
        if isinstance(ref, str) and ref.strip():
            try:
                reading = read_span(ref)
                spans = [Span(start_s=reading.start_s, end_s=reading.end_s)]
            except UnreadableSpanError:
                pass  # kept in meta, shown to the writer as text
        out.append(
            SourceSample(
                "lvbench",
                q["id"],
                str(extra["video_id"]),
                "qa",
                spans,
                problem=q["problem"],
                options=_lettered(q.get("options", [])),
                answer=q["answer"],
                meta={
                    "type": extra.get("video_type"),
                    "question_type": extra.get("question_types"),
                    "time_reference": ref,
                },
            )
        )
    return out


_LOADERS: dict[str, Callable[[Path], list[SourceSample]]] = {
    "activitynet-captions": _activitynet,
    "youcook2": _youcook2,
    "star": _star,
    "scalelong": _scalelong,
    "lvbench": _lvbench,
}


def _descriptions(path: Path) -> dict[str, tuple[str | None, list[Span]]]:
    records = list(read_records(path, "descriptions file"))
    if len(records) != 1 or not isinstance(records[0][1], dict):
        raise RecordError(f"{path}: descriptions must be one JSON object {{video_id: text or [spans]}}")
    doc = records[0][1]
    out: dict[str, tuple[str | None, list[Span]]] = {}
    for vid, value in doc.items():
        if isinstance(value, str):
            out[str(vid)] = (value.strip(), [])
        elif isinstance(value, list):
            try:
                out[str(vid)] = (None, [Span.model_validate(s) for s in value])
            except ValueError as exc:
                raise RecordError(f"{path}: description of {vid!r}: {exc}") from exc
        else:
            raise RecordError(f"{path}: description of {vid!r} must be a text or a list of spans")
    return out


def load_source(
    source: str, path: str | os.PathLike[str], *, descriptions: str | os.PathLike[str] | None = None
) -> list[SourceSample]:
    """The samples of an annotation file in ``source``'s official shape (see the module docstring).

    ``descriptions`` (QA sources): a JSON file ``{video_id: "text" | [{start_s, end_s, caption}]}``
    handed to the trace writer. Malformed entries raise :class:`RecordError` with their place.
    """
    if source not in _LOADERS:
        raise ConfigError(f"unknown source {source!r}: choose one of {', '.join(SOURCES)}")
    samples = _LOADERS[source](Path(path))
    if descriptions is not None:
        table = _descriptions(Path(descriptions))
        for s in samples:
            text, spans = table.get(s.video_id, (None, []))
            s.description = text
            if spans and s.kind == "qa":
                s.spans = s.spans + spans
    seen: set[str] = set()
    for s in samples:
        if s.id in seen:
            raise RecordError(f"{path}: sample id {s.id!r} appears twice")
        seen.add(s.id)
    return samples
