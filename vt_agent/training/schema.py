"""The training record: one multiple-choice question on one video with its grounded trace.

One record per line of a JSONL file (UTF-8). Required fields:

``id``          unique within a file, e.g. ``"youcook2:9GX8f5EwwE4"`` or ``"star:Interaction_T1_4"``
``video``       path of the video file; a relative path is relative to the JSONL file's folder
``problem``     the question text, without its options
``options``     the options, each carrying its letter: ``["A. ...", "B. ...", ...]`` (2 to 15)
``solution``    ``"<answer>X</answer>"``, X one of the options' letters
``trace``       the grounded reasoning in the Video-Thinker grammar (docs/protocol.md, Trace grammar): free text and
                groups ``<time>MM:SS-MM:SS</time><caption>...</caption><think>...</think>``, then an
                option-by-option discussion; **without** the ``<answer>`` (that is ``solution``)
``source``      where the sample came from: ``activitynet-captions``, ``youcook2``, ``star``,
                ``scalelong``, ``lvbench``, or any name of your own

Optional fields:

``spans``           annotated spans ``[{"start_s", "end_s", "caption"}]`` (timed captions of
                    caption-labelled sources, the question's time reference of QA sources)
``clip``            ``{"start_s", "end_s"}``: the part of the video the question is about (STAR);
                    all times (spans, trace) are seconds from the video's first decoded frame
``description``     a description of the video given to the trace writer (QA-labelled sources)
``duration_s``, ``decoded_frames``: what the probe found (the builders' filters)
``source_id``       the sample's id in the source data set (question or video id)
``generator``       the model that wrote the trace (``model@base_url``)
``attempts``        LLM calls used to get an accepted reply
``curation``        hindsight curation outcome: ``{"status": "kept"|"dropped", "attempts",
                    "regenerations", "answer_given", "judge"}``
``meta``            anything else (a JSON object)

Checks on every record: the options are lettered A, B, C... in order; the solution's letter is
one of them; the trace holds no ``<answer>``; and the training target
``trace + "\\n" + solution`` passes the project's format rule (:func:`vt_agent.trace.check_format`).

:func:`read_records` reports malformed lines with the file name and line number.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vt_agent.errors import ConfigError, RecordError
from vt_agent.jsonl import JsonlAppender

__all__ = [
    "KNOWN_SOURCES",
    "Clip",
    "Curation",
    "JsonlWriter",
    "RecordError",
    "Span",
    "TrainRecord",
    "iter_records",
    "read_jsonl",
    "read_records",
    "write_records",
]

KNOWN_SOURCES = ("activitynet-captions", "youcook2", "star", "scalelong", "lvbench")
"""Sources the builders know (records may name any other source)."""

_SOLUTION_RE = re.compile(r"^\s*<answer>\s*([A-Z])\s*</answer>\s*$")
_ANSWER_TAG_RE = re.compile(r"<\s*/?\s*answer\s*>", re.IGNORECASE)


class Span(BaseModel):
    """An annotated span in seconds from the video's first decoded frame."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_s: float = Field(ge=0, description="start, seconds")
    end_s: float = Field(ge=0, description="end, seconds (>= start_s)")
    caption: str | None = Field(default=None, description="what happens in the span")

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.end_s < self.start_s:
            raise ValueError(f"end_s {self.end_s} is before start_s {self.start_s}")
        return self


class Clip(BaseModel):
    """The part of the video a question is about."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Clip:
        if self.end_s < self.start_s:
            raise ValueError(f"end_s {self.end_s} is before start_s {self.start_s}")
        return self


class Curation(BaseModel):
    """Outcome of hindsight curation for one record."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["kept", "dropped"]
    attempts: int = Field(ge=1, description="judge calls made")
    regenerations: int = Field(ge=0, description="times the trace was rewritten")
    answer_given: str | None = Field(description="the judge's letter on the last attempt (None: no letter)")
    judge: str = Field(description="the model that judged, model@base_url or backend name")


class TrainRecord(BaseModel):
    """One training sample (see the module docstring for the fields)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    video: str = Field(min_length=1)
    problem: str = Field(min_length=1)
    options: list[str]
    solution: str
    trace: str = Field(min_length=1)
    source: str = Field(min_length=1)
    spans: list[Span] = Field(default_factory=list)
    clip: Clip | None = None
    description: str | None = None
    duration_s: float | None = Field(default=None, ge=0)
    decoded_frames: int | None = Field(default=None, ge=0)
    source_id: str | None = None
    generator: str | None = None
    attempts: int = Field(default=1, ge=0)
    curation: Curation | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @field_validator("options")
    @classmethod
    def _options(cls, value: list[str]) -> list[str]:
        from vt_agent.prompts import format_options

        if len(value) < 2:
            raise ValueError(f"a multiple-choice record needs at least 2 options, got {len(value)}")
        try:
            lettered = format_options(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from exc
        if lettered != [o.strip() for o in value]:
            raise ValueError('options must carry their letters as "A. text", "B. text", ...')
        return lettered

    @field_validator("trace")
    @classmethod
    def _trace(cls, value: str) -> str:
        if _ANSWER_TAG_RE.search(value):
            raise ValueError("the trace must not hold <answer>: the answer goes in 'solution'")
        return value.strip()

    @model_validator(mode="after")
    def _consistent(self) -> TrainRecord:
        from vt_agent.trace import check_format

        m = _SOLUTION_RE.match(self.solution)
        if m is None:
            raise ValueError(
                f"solution must be '<answer>X</answer>' with one capital letter, got {self.solution!r}"
            )
        letter = m.group(1)
        if letter not in self.letters:
            raise ValueError(f"solution letter {letter} is not an option letter ({', '.join(self.letters)})")
        self.solution = f"<answer>{letter}</answer>"
        check = check_format(self.target)
        if not check.ok:
            raise ValueError("trace + solution break the format rule: " + "; ".join(check.problems))
        return self

    @property
    def letters(self) -> list[str]:
        """The option letters, ``["A", "B", ...]``."""
        return [o[0] for o in self.options]

    @property
    def answer(self) -> str:
        """The correct letter."""
        return self.solution[len("<answer>")]

    @property
    def target(self) -> str:
        """The SFT target: ``trace + "\\n" + solution`` (docs/protocol.md, Training recipe)."""
        return self.trace + "\n" + self.solution

    @property
    def question_text(self) -> str:
        """The ``{Question}`` text the model sees (problem, ``Options:``, lettered options)."""
        from vt_agent.prompts import build_question

        return build_question(self.problem, self.options)

    def to_json(self) -> str:
        """One JSONL line (no trailing newline); unset optional fields are left out."""
        return json.dumps(self.model_dump(mode="json", exclude_none=True), ensure_ascii=False)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line; malformed lines raise :class:`RecordError`."""
    p = Path(path)
    try:
        fh = p.open(encoding="utf-8")
    except FileNotFoundError as exc:
        raise RecordError(f"{p}: no such file") from exc
    except IsADirectoryError as exc:
        raise RecordError(f"{p}: is a folder, expected a JSONL file") from exc
    with fh:
        lines = enumerate(fh, start=1)
        while True:
            try:
                number, line = next(lines)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:
                raise RecordError(f"{p}: not a text file ({exc.reason}); expected JSONL records") from exc
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RecordError(
                    f"{p} line {number}: not valid JSON ({exc.msg} at column {exc.colno}); "
                    "records are JSONL, one JSON object per line"
                ) from exc
            if not isinstance(obj, dict):
                raise RecordError(f"{p} line {number}: expected a JSON object, got {type(obj).__name__}")
            yield number, obj


def iter_records(path: str | os.PathLike[str], *, resolve_videos: bool = True) -> Iterator[TrainRecord]:
    """The records of a JSONL file, one at a time (see :func:`read_records`)."""
    p = Path(path)
    seen: dict[str, int] = {}
    for number, obj in read_jsonl(p):
        try:
            record = TrainRecord.model_validate(obj)
        except ValidationError as exc:
            rid = obj.get("id")
            name = f" (id {rid!r})" if isinstance(rid, str) else ""
            raise RecordError(f"{p} line {number}{name}: {_describe(exc)}") from exc
        if record.id in seen:
            raise RecordError(
                f"{p} line {number}: id {record.id!r} already used on line {seen[record.id]}; ids must be unique"
            )
        seen[record.id] = number
        if resolve_videos and not Path(record.video).is_absolute():
            record.video = str((p.parent / record.video).resolve())
        yield record


def read_records(path: str | os.PathLike[str], *, resolve_videos: bool = True) -> list[TrainRecord]:
    """All records of a JSONL file.

    Blank lines are skipped. A line that is not JSON, not an object, breaks the schema, or
    repeats an id raises :class:`RecordError` naming the file and line. With ``resolve_videos``
    (default) relative ``video`` paths become absolute, taken from the file's folder.
    """
    return list(iter_records(path, resolve_videos=resolve_videos))


class JsonlWriter(JsonlAppender):
    """Writes records (or dicts) as JSON lines, flushed line by line (a crash keeps what was
    written). ``mode="w"`` starts the file afresh; ``"a"`` appends after dropping a last line cut
    off mid-write (:mod:`vt_agent.jsonl`). Use as a context manager."""

    def __init__(self, path: str | os.PathLike[str], mode: Literal["w", "a"] = "w") -> None:
        super().__init__(path, mode)

    def write(self, item: TrainRecord | dict[str, Any] | str) -> None:
        super().write(item.to_json() if isinstance(item, TrainRecord) else item)


def write_records(path: str | os.PathLike[str], records: Iterable[TrainRecord]) -> int:
    """Write ``records`` as JSONL (replacing the file atomically); returns how many."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(record.to_json() + "\n")
            n += 1
    tmp.replace(p)
    return n
