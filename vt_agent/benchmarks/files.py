"""Reading benchmark files: records, typed fields, and the problems of a malformed record.

A benchmark file is a ``.json`` document or a ``.jsonl`` file (one record a line; JSON Lines
under a ``.json`` name are recognised). :func:`read_records` gives ``(where, record)`` pairs,
``where`` being ``line N`` (1-based) in JSONL files, ``record N`` in a JSON list, or
``document`` for a JSON object. A format's parser turns one record into :class:`Question` dicts
and raises :class:`RecordProblem` (the message names the field and what is wrong) on a
malformed one; :func:`each` keeps the good questions of a multi-question record and reports the
bad ones. Evaluation (:mod:`vt_agent.evaluation.loaders`) and training data building
(:mod:`vt_agent.training.sources`) both read through here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

from vt_agent.errors import BenchmarkFormatError
from vt_agent.prompts import OPTION_LETTERS as LETTERS

__all__ = [
    "LETTERS",
    "BenchmarkFormatError",
    "Options",
    "Question",
    "RecordProblem",
    "each",
    "field",
    "gold_letter",
    "hms_spans",
    "letter_options",
    "listed",
    "parse_inline_options",
    "read_records",
    "seconds_span",
]


class Question(TypedDict, total=False):
    """One question a parser read: the fields of an evaluation item, ``video`` being the
    candidate paths or names of its video (tried in order)."""

    id: str
    video: list[str]
    problem: str
    options: list[str]
    answer: str
    question_type: str | None
    gold_spans: list[tuple[float, float]]
    gold_captions: list[str]
    window: tuple[float, float] | None
    extra: dict[str, Any]


Options = dict[str, Any]
"""A parser's options (per format, see the registry) plus ``_soft``: the problems :func:`each`
collected for the record being parsed."""


class RecordProblem(Exception):
    """A malformed record; the message says which field and what is wrong."""


def read_records(path: Path, what: str = "benchmark file", hint: str = "") -> Iterator[tuple[str, Any]]:
    """``(where, record)`` for every record: JSONL lines, or a JSON list / object's entries.

    A JSONL line that is not JSON yields ``(where, RecordProblem)``. A file that cannot be read
    raises :class:`BenchmarkFormatError` naming ``what`` it should be, followed by ``hint``.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BenchmarkFormatError(f"{path}: no such {what}{hint}") from None
    except IsADirectoryError:
        raise BenchmarkFormatError(f"{path}: is a folder" + (hint or f", not a {what}")) from None
    except UnicodeDecodeError:
        raise BenchmarkFormatError(f"{path}: not a text (JSON or JSONL) file{hint}") from None
    except OSError as exc:
        raise BenchmarkFormatError(f"{path}: cannot read it ({exc}){hint}") from None
    if not text.strip():
        raise BenchmarkFormatError(f"{path}: the file is empty")
    jsonl = path.suffix.lower() == ".jsonl"
    if not jsonl:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            if len([ln for ln in text.splitlines() if ln.strip()]) > 1 and text.lstrip().startswith("{"):
                jsonl = True  # JSON Lines under a .json name
            else:
                raise BenchmarkFormatError(
                    f"{path}: line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})"
                ) from None
        else:
            if isinstance(doc, list):
                for i, rec in enumerate(doc):
                    yield f"record {i + 1}", rec
            elif isinstance(doc, dict):
                yield "document", doc
            else:
                raise BenchmarkFormatError(
                    f"{path}: expected a JSON list or object, got {type(doc).__name__}"
                )
            return
    for i, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            yield f"line {i + 1}", json.loads(line)
        except json.JSONDecodeError as exc:
            yield f"line {i + 1}", RecordProblem(f"not valid JSON ({exc.msg} at column {exc.colno})")


def field(rec: Mapping[str, Any], key: str, kind: type | tuple[type, ...] = str) -> Any:
    """``rec[key]``, which must exist, be of ``kind`` (never a bool) and, for text, not be blank."""
    if key not in rec:
        raise RecordProblem(f"missing field {key!r}")
    value = rec[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise RecordProblem(f"field {key!r} must be {want}, got {type(value).__name__}: {str(value)[:60]!r}")
    if isinstance(value, str) and not value.strip():
        raise RecordProblem(f"field {key!r} is empty")
    return value


def letter_options(options: Any, key: str = "options") -> list[str]:
    """``{"A": x, "B": y, ...}`` -> ``[x, y, ...]`` (letters must run A, B, C, ... without gaps)."""
    if not isinstance(options, dict) or not options:
        raise RecordProblem(f"field {key!r} must be a non-empty object {{'A': ..., 'B': ...}}")
    letters = sorted(str(k).strip().upper() for k in options)
    if letters != list(LETTERS[: len(letters)]):
        raise RecordProblem(
            f"field {key!r} has letters {''.join(letters)}; expected A, B, C, ... without gaps "
            f"(option keys {letters} are not {list(LETTERS[: len(letters)])})"
        )
    by_letter = {str(k).strip().upper(): v for k, v in options.items()}
    out = []
    for letter in letters:
        text = by_letter[letter]
        if not isinstance(text, str | int | float) or not str(text).strip():
            raise RecordProblem(f"option {letter} is empty or not text")
        out.append(str(text).strip())
    return out


def gold_letter(answer: Any, n_options: int, key: str = "answer") -> str:
    if not isinstance(answer, str) or not answer.strip():
        raise RecordProblem(f"field {key!r} must be an option letter, got {answer!r}")
    letter = answer.strip().upper()
    if len(letter) != 1 or letter not in LETTERS[:n_options]:
        raise RecordProblem(f"answer {answer!r} is not one of the option letters A-{LETTERS[n_options - 1]}")
    return letter


def seconds_span(value: Any, what: str) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise RecordProblem(f"{what} must be [start_s, end_s], got {value!r}")
    try:
        start, end = float(value[0]), float(value[1])
    except (TypeError, ValueError):
        raise RecordProblem(f"{what} must hold two numbers of seconds, got {value!r}") from None
    if end < start or start < 0:
        raise RecordProblem(f"{what} {value!r} must satisfy 0 <= start <= end")
    return start, end


_HMS_SPAN = re.compile(r"\[(\d+):(\d{2}):(\d{2})\s*->\s*(\d+):(\d{2}):(\d{2})\]")


def hms_spans(texts: Sequence[str]) -> list[tuple[float, float]]:
    """Every ``[HH:MM:SS->HH:MM:SS]`` marker (VRBench reasoning steps) as seconds."""
    out = []
    for text in texts:
        for m in _HMS_SPAN.finditer(text):
            h1, m1, s1, h2, m2, s2 = (int(g) for g in m.groups())
            out.append((float(h1 * 3600 + m1 * 60 + s1), float(h2 * 3600 + m2 * 60 + s2)))
    return out


_INLINE_OPT = re.compile(r"(?:^|\n)\s*\(([A-O])\)\s*")


def parse_inline_options(question: str) -> tuple[str, list[str]]:
    """LVBench-style ``"text\\n(A) x\\n(B) y"`` -> ``("text", ["x", "y"])``.

    Raises ValueError when no ``(A)`` line is found or the letters do not run A, B, C, ...
    """
    marks = list(_INLINE_OPT.finditer(question))
    if not marks:
        raise ValueError("no inline options '(A) ...' found in the question")
    letters = "".join(m.group(1) for m in marks)
    if letters != LETTERS[: len(marks)]:
        raise ValueError(f"inline options run {letters}, expected A, B, C, ... in order")
    stem = question[: marks[0].start()].strip()
    options = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(question)
        text = question[m.end() : end].strip()
        if not text:
            raise ValueError(f"option ({m.group(1)}) has no text")
        options.append(text)
    if not stem:
        raise ValueError("the question has options but no question text before them")
    return stem, options


def listed(fn: Callable[..., Question], *args: Any) -> list[Question]:
    """``[fn(*args)]``: a one-question parser as a part for :func:`each`."""
    return [fn(*args)]


def each(opts: Options, parts: Iterable[tuple[str, Callable[[], list[Question]]]]) -> list[Question]:
    """Parse the questions of a multi-question record one by one: a malformed one is reported
    (``opts["_soft"]``, ``"label: problem"``) and the others are kept."""
    out: list[Question] = []
    for label, parse in parts:
        try:
            out.extend(parse())
        except RecordProblem as exc:
            opts.setdefault("_soft", []).append(f"{label}: {exc}")
    return out
