"""Normalised benchmark records and result rows.

:class:`EvalItem` is one question of any benchmark after loading (see
:mod:`vt_agent.evaluation.loaders`); :class:`EvalResult` is one line of ``results.jsonl``, written
by the runner and read by the scorers. Result rows carry exactly the keys listed in
:data:`RESULT_KEYS`.

Resume key (docs/protocol.md, Answer rules): ``md5(problem + str(options) + video_path)`` with ``options`` the
lettered options as shown to the model (``["A. x", "B. y"]``, ``[]`` for open questions) and
``video_path`` the video path *relative to the videos directory* in POSIX form, so a rerun from
another working directory, or with the videos directory mounted elsewhere, still resumes. Items
that look at a window of the video (YouCook2 segments, STAR clips) add ``@start-end`` to the
hashed text, since several of them share question and video.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vt_agent.errors import ResultsFileError

__all__ = [
    "RESULT_KEYS",
    "EvalItem",
    "EvalResult",
    "ResultsFileError",
    "item_key",
    "letter_options",
    "read_results",
    "write_results",
]

LETTERS = "ABCDEFGHIJKLMNO"

RESULT_KEYS = (
    "key",
    "benchmark",
    "id",
    "video",
    "question_type",
    "problem",
    "options",
    "answer",
    "prediction",
    "raw_output",
    "format_ok",
    "segments",
    "gold_spans",
    "protocol",
    "preset",
    "backend",
    "model",
    "error",
    "skipped",
    "timings",
)


def letter_options(options: Iterable[str]) -> list[str]:
    """``["x", "y"]`` -> ``["A. x", "B. y"]`` (options as the model sees them)."""
    return [f"{LETTERS[i]}. {text}" for i, text in enumerate(options)]


def item_key(
    problem: str,
    options: Iterable[str],
    video: str,
    window: tuple[float, float] | None = None,
) -> str:
    """The resume key: ``md5(problem + str(lettered options) + video)`` (see the module doc).

    ``options`` are unlettered texts; ``video`` is the path relative to the videos directory.
    """
    video_path = Path(video).as_posix() if video else ""
    text = problem + str(letter_options(options)) + video_path
    if window is not None:
        text += f"@{window[0]:.3f}-{window[1]:.3f}"
    return hashlib.md5(text.encode("utf-8")).hexdigest()


class EvalItem(BaseModel):
    """One benchmark question, normalised.

    ``options`` are the option texts without letters (the letter is the position: A, B, ...);
    ``answer`` is the gold letter for multiple choice, the gold text for open questions.
    ``video`` is the path relative to the videos directory (as the benchmark file names it, or
    as found there). ``index`` is the question's position in the file (sharding follows it).
    """

    model_config = ConfigDict(frozen=True)

    benchmark: str = Field(description="registry name of the benchmark, e.g. video-holmes")
    id: str = Field(description="the benchmark's own question id")
    index: int = Field(default=0, description="0-based position of the question in the file")
    video: str = Field(description="video path relative to the videos directory")
    problem: str = Field(description="the question text, without options")
    options: list[str] = Field(default_factory=list, description="option texts, unlettered, in letter order")
    answer: str = Field(description="gold letter (multiple choice) or gold text (open)")
    question_type: str | None = Field(default=None, description="the benchmark's question type or category")
    gold_spans: list[tuple[float, float]] = Field(
        default_factory=list, description="gold (start_s, end_s) spans, where the benchmark has them"
    )
    gold_captions: list[str] = Field(
        default_factory=list, description="gold captions (one per gold span), where the benchmark has them"
    )
    window: tuple[float, float] | None = Field(
        default=None, description="(start_s, end_s) of the video the question is about, if not all of it"
    )
    extra: dict[str, Any] = Field(default_factory=dict, description="other fields of the record")

    @property
    def is_mcq(self) -> bool:
        return bool(self.options)

    @property
    def lettered_options(self) -> list[str]:
        return letter_options(self.options)

    @property
    def key(self) -> str:
        return item_key(self.problem, self.options, self.video, self.window)


class EvalResult(BaseModel):
    """One row of ``results.jsonl`` (exactly the keys of :data:`RESULT_KEYS`).

    ``prediction``: the extracted answer (a letter for multiple choice, text for open questions,
    None when nothing could be extracted). ``format_ok``: under the video-thinker protocol, the
    documented trace format rule (:func:`vt_agent.trace.check_format`); under the official
    protocol, whether the benchmark's extractor found an answer. ``segments``: the model's cited
    spans, ``{"start_s", "end_s", "caption"}`` in global seconds. ``error``: why no prediction
    was made (a video that does not decode, a backend failure), else None. ``skipped``: the video
    is missing; such rows are not counted in N (docs/protocol.md, Answer rules).
    """

    model_config = ConfigDict(extra="forbid")

    key: str
    benchmark: str
    id: str
    video: str
    question_type: str | None = None
    problem: str
    options: list[str] = Field(default_factory=list)
    answer: str
    prediction: str | None = None
    raw_output: str = ""
    format_ok: bool = False
    segments: list[dict[str, Any]] = Field(default_factory=list)
    gold_spans: list[tuple[float, float]] = Field(default_factory=list)
    protocol: str
    preset: str
    backend: str = ""
    model: str = ""
    error: str | None = None
    skipped: bool = False
    timings: dict[str, Any] = Field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """True for rows without a real attempt at an answer (error or skipped)."""
        return self.skipped or self.error is not None


def read_results(path: str | os.PathLike[str]) -> list[EvalResult]:
    """Every row of a results JSONL file, in file order (an absent file gives ``[]``).

    Blank lines are ignored. A truncated *last* line (a run killed while writing) is ignored;
    any other unreadable line raises :class:`ResultsFileError` naming the file and line.
    """
    p = Path(path)
    if not p.exists():
        return []
    lines = p.read_text(encoding="utf-8").splitlines()
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    out: list[EvalResult] = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            if i == last and not line.rstrip().endswith("}"):
                break  # a row cut off mid-write: rerun to redo it
            raise ResultsFileError(
                f"{p}:{i + 1}: not valid JSON ({exc.msg}); fix or delete that line"
            ) from None
        try:
            out.append(EvalResult.model_validate(data))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(x) for x in e['loc']) or 'row'}: {e['msg']}" for e in exc.errors()
            )
            raise ResultsFileError(f"{p}:{i + 1}: not a vt-agent result row ({problems})") from None
    return out


def _line(result: EvalResult) -> str:
    return json.dumps(result.model_dump(mode="json"), ensure_ascii=False) + "\n"


def write_results(path: str | os.PathLike[str], results: Iterable[EvalResult]) -> None:
    """Write ``results`` to ``path`` (replacing it atomically)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for r in results:
            fh.write(_line(r))
    os.replace(tmp, p)
