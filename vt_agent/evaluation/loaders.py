"""Benchmark loaders: the official file shapes (``FORMATS.md``) -> :class:`EvalItem` lists.

::

    loaded = load_benchmark("video-holmes", "test_Video-Holmes.json", "videos/")
    loaded.items      # questions whose video exists, in file order
    loaded.missing    # questions whose video is not in the videos directory (skipped, counted)
    loaded.problems   # malformed records: file, line or record number, what is wrong

Malformed records never stop a load: each becomes a :class:`LoadProblem` (``strict=True``
raises :class:`BenchmarkFormatError` on the first one instead). A file that is not JSON at all
raises :class:`BenchmarkFormatError`. Positions: ``line N`` (1-based) in JSONL files,
``record N`` (1-based position in the top-level list, or key) in JSON files.

Every loader reads a ``.json`` document or a ``.jsonl`` file (one record a line); the registry
(:data:`LOADERS`) names them. Videos are looked up in ``videos_dir`` by the path the record
gives, then by file name, then by stem with any common video extension, anywhere below
``videos_dir`` (ActivityNet's ``v_`` prefix is tried both ways).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from vt_agent.errors import ConfigError
from vt_agent.evaluation.records import LETTERS, EvalItem

__all__ = [
    "CG_BENCH_REASONING_RULE",
    "LOADERS",
    "VIDEO_EXTENSIONS",
    "BenchmarkFormatError",
    "LoadProblem",
    "LoadedBenchmark",
    "benchmark_names",
    "load_benchmark",
    "parse_inline_options",
]

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".mpg", ".mpeg", ".m4v", ".flv", ".ts")

CG_BENCH_REASONING_RULE = "sub_category ends with 'Cognition'"
"""Default choice of the CG-Bench-Reasoning subset (the paper does not say which sub-categories
it used; FORMATS.md: "presumably the cognition-type sub_categories"). Override with
``subcategories=[...]`` (exact names) or ``subcategories="all"``."""


class BenchmarkFormatError(ConfigError):
    """A benchmark file that cannot be read, or (``strict=True``) a malformed record in it."""


@dataclass(frozen=True)
class LoadProblem:
    """A malformed record: which file, where in it, and what is wrong."""

    file: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.message}"


@dataclass
class LoadedBenchmark:
    """What :func:`load_benchmark` read."""

    name: str
    data_path: str
    videos_dir: str
    items: list[EvalItem] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)
    missing: list[EvalItem] = field(default_factory=list)
    filtered: int = 0
    """Well-formed records left out on purpose (CG-Bench-Reasoning sub-categories, subsets)."""

    @property
    def all_items(self) -> list[EvalItem]:
        """Items with and without their video, in file order."""
        return sorted([*self.items, *self.missing], key=lambda it: it.index)

    def summary(self) -> str:
        parts = [f"{len(self.items)} question(s) with their video"]
        if self.missing:
            parts.append(f"{len(self.missing)} skipped (video missing)")
        if self.problems:
            parts.append(f"{len(self.problems)} malformed record(s)")
        if self.filtered:
            parts.append(f"{self.filtered} left out by the subset rule")
        return f"{self.name}: " + ", ".join(parts)


class _Bad(Exception):
    """A malformed record (message for :class:`LoadProblem`)."""


# ------------------------------------------------------------------------------------ reading


def _records(path: Path) -> Iterator[tuple[str, Any]]:
    """``(where, record)`` for every record: JSONL lines, or a JSON list / object's entries.

    A JSONL line that is not JSON yields ``(where, _Bad)``.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BenchmarkFormatError(f"{path}: no such benchmark file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchmarkFormatError(f"{path}: cannot read it ({exc})") from None
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
            yield f"line {i + 1}", _Bad(f"not valid JSON ({exc.msg} at column {exc.colno})")


def _get(rec: Mapping[str, Any], key: str, kind: type | tuple[type, ...] = str) -> Any:
    if key not in rec:
        raise _Bad(f"missing field {key!r}")
    value = rec[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise _Bad(f"field {key!r} must be {want}, got {type(value).__name__}: {str(value)[:60]!r}")
    if isinstance(value, str) and not value.strip():
        raise _Bad(f"field {key!r} is empty")
    return value


def _letter_dict(options: Any, key: str = "options") -> list[str]:
    """``{"A": x, "B": y, ...}`` -> ``[x, y, ...]`` (letters must run A, B, C, ... without gaps)."""
    if not isinstance(options, dict) or not options:
        raise _Bad(f"field {key!r} must be a non-empty object {{'A': ..., 'B': ...}}")
    letters = sorted(str(k).strip().upper() for k in options)
    if letters != list(LETTERS[: len(letters)]):
        raise _Bad(f"field {key!r} has letters {''.join(letters)}; expected A, B, C, ... without gaps")
    by_letter = {str(k).strip().upper(): v for k, v in options.items()}
    out = []
    for letter in letters:
        text = by_letter[letter]
        if not isinstance(text, str | int | float) or not str(text).strip():
            raise _Bad(f"option {letter} is empty or not text")
        out.append(str(text).strip())
    return out


def _gold_letter(answer: Any, n_options: int, key: str = "answer") -> str:
    if not isinstance(answer, str) or not answer.strip():
        raise _Bad(f"field {key!r} must be an option letter, got {answer!r}")
    letter = answer.strip().upper()
    if len(letter) != 1 or letter not in LETTERS[:n_options]:
        raise _Bad(f"answer {answer!r} is not one of the option letters A-{LETTERS[n_options - 1]}")
    return letter


def _span(value: Any, what: str) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise _Bad(f"{what} must be [start_s, end_s], got {value!r}")
    try:
        start, end = float(value[0]), float(value[1])
    except (TypeError, ValueError):
        raise _Bad(f"{what} must hold two numbers of seconds, got {value!r}") from None
    if end < start or start < 0:
        raise _Bad(f"{what} {value!r} must satisfy 0 <= start <= end")
    return start, end


_HMS_SPAN = re.compile(r"\[(\d+):(\d{2}):(\d{2})\s*->\s*(\d+):(\d{2}):(\d{2})\]")


def _hms_spans(texts: Sequence[str]) -> list[tuple[float, float]]:
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


# ------------------------------------------------------------------------------------ videos


class _Videos:
    """Finds a record's video under ``root`` (see the module doc for the order)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._by_name: dict[str, str] | None = None
        self._by_stem: dict[str, str] | None = None

    def _index(self) -> tuple[dict[str, str], dict[str, str]]:
        if self._by_name is None or self._by_stem is None:
            by_name: dict[str, str] = {}
            by_stem: dict[str, str] = {}
            if self.root.is_dir():
                for dirpath, dirnames, filenames in os.walk(self.root):
                    dirnames.sort()
                    for name in sorted(filenames):
                        rel = (Path(dirpath) / name).relative_to(self.root).as_posix()
                        by_name.setdefault(name, rel)
                        if Path(name).suffix.lower() in VIDEO_EXTENSIONS:
                            by_stem.setdefault(Path(name).stem, rel)
            self._by_name, self._by_stem = by_name, by_stem
        return self._by_name, self._by_stem

    def find(self, candidates: Sequence[str]) -> tuple[str, bool]:
        """``(relative path, exists)``; when nothing is found, the first candidate and False."""
        for cand in candidates:
            p = Path(cand)
            if p.is_absolute():
                if p.is_file():
                    try:
                        return p.relative_to(self.root).as_posix(), True
                    except ValueError:
                        return p.as_posix(), True
                continue
            if (self.root / p).is_file():
                return p.as_posix(), True
        by_name, by_stem = self._index()
        for cand in candidates:
            name = Path(cand).name
            if name in by_name and Path(name).suffix:
                return by_name[name], True
            stem = Path(name).stem if Path(name).suffix.lower() in VIDEO_EXTENSIONS else name
            for s in (stem, f"v_{stem}", stem[2:] if stem.startswith("v_") else None):
                if s and s in by_stem:
                    return by_stem[s], True
        first = Path(candidates[0])
        return (first.as_posix() if first.suffix else f"{first.as_posix()}.mp4"), False


# ------------------------------------------------------------------------------------ loaders

# A record parser: (record, options) -> list of item field dicts (without benchmark/index).
_Parser = Callable[[Any, dict[str, Any]], list[dict[str, Any]]]


def _listed(fn: Callable[..., dict[str, Any]], *args: Any) -> list[dict[str, Any]]:
    return [fn(*args)]


def _each(
    opts: dict[str, Any], parts: Iterable[tuple[str, Callable[[], list[dict[str, Any]]]]]
) -> list[dict[str, Any]]:
    """Parse the questions of a multi-question record one by one: a malformed one is reported
    (``opts["_soft"]``) and the others are kept."""
    out: list[dict[str, Any]] = []
    for label, parse in parts:
        try:
            out.extend(parse())
        except _Bad as exc:
            opts.setdefault("_soft", []).append(f"{label}: {exc}")
    return out


def _video_holmes(rec: Any, opts: dict[str, Any]) -> list[dict[str, Any]]:
    options = _letter_dict(_get(rec, "Options", dict), "Options")
    video_id = _get(rec, "video ID")
    qid = _get(rec, "Question ID", (int, str))
    return [
        {
            "id": str(qid),
            "video": [f"{video_id}.mp4", video_id],
            "problem": _get(rec, "Question").strip(),
            "options": options,
            "answer": _gold_letter(rec.get("Answer"), len(options), "Answer"),
            "question_type": _get(rec, "Question Type"),
            "extra": {"video_id": video_id, "explanation": rec.get("Explanation")},
        }
    ]


def _cg_bench(rec: Any, opts: dict[str, Any]) -> list[dict[str, Any]]:
    choices = _get(rec, "choices", list)
    if not 2 <= len(choices) <= len(LETTERS) or not all(isinstance(c, str) and c.strip() for c in choices):
        raise _Bad("field 'choices' must be a list of 2 to 15 non-empty texts")
    letter = _gold_letter(rec.get("right_answer"), len(choices), "right_answer")
    answer_text = rec.get("answer")
    if isinstance(answer_text, str) and answer_text.strip() != choices[LETTERS.index(letter)].strip():
        raise _Bad(
            f"right_answer {letter} is {choices[LETTERS.index(letter)]!r} but answer is {answer_text!r}"
        )
    video_uid = _get(rec, "video_uid")
    spans = [_span(s, "clue_intervals entry") for s in rec.get("clue_intervals") or []]
    return [
        {
            "id": str(_get(rec, "qid", (int, str))),
            "video": [f"{video_uid}.mp4", video_uid],
            "problem": _get(rec, "question").strip(),
            "options": [c.strip() for c in choices],
            "answer": letter,
            "question_type": rec.get("sub_category"),
            "gold_spans": spans,
            "extra": {
                "answer_text": answer_text,
                "domain": rec.get("domain"),
                "duration": rec.get("duration"),
                "video_id": video_uid,
            },
        }
    ]


def _cg_bench_reasoning_keep(rec: Any, opts: dict[str, Any]) -> bool:
    chosen = opts.get("subcategories")
    sub = rec.get("sub_category") if isinstance(rec, dict) else None
    if chosen is None:
        return isinstance(sub, str) and sub.strip().endswith("Cognition")
    if chosen == "all":
        return True
    names = {chosen} if isinstance(chosen, str) else set(chosen)
    return sub in names


def _vrbench_one(
    rec: Mapping[str, Any], qa_key: str, qa: Any, video_id: str, video_path: str | None
) -> dict[str, Any]:
    if not isinstance(qa, dict):
        raise _Bad(f"mcq {qa_key!r} must be an object")
    options = _letter_dict(qa.get("options"))
    steps = qa.get("reasoning_process") or {}
    step_texts = [str(v) for v in steps.values()] if isinstance(steps, dict) else []
    candidates = [c for c in (video_path, Path(video_path).name if video_path else None) if c]
    return {
        "id": f"{video_id}/{qa_key}",
        "video": [*candidates, f"{video_id}.mp4"],
        "problem": _get(qa, "question").strip(),
        "options": options,
        "answer": _gold_letter(qa.get("answer"), len(options)),
        "question_type": qa.get("reasoning_type"),
        "gold_spans": _hms_spans(step_texts),
        "extra": {
            "video_id": video_id,
            "reasoning_process": steps,
            "original_answer": qa.get("original_answer"),
        },
    }


def _vrbench(rec: Any, opts: dict[str, Any]) -> list[dict[str, Any]]:
    video_id = _get(rec, "video_id")
    video_path = rec.get("video_path") if isinstance(rec.get("video_path"), str) else None
    if "mcq" in rec:  # the official shape: one line per video
        mcq = _get(rec, "mcq", dict)
        return _each(
            opts,
            (
                (f"mcq {k}", partial(_listed, _vrbench_one, rec, k, qa, video_id, video_path))
                for k, qa in mcq.items()
            ),
        )
    if "qa_key" in rec:  # one MCQ a line (the flattened sample shape)
        return [_vrbench_one(rec, str(rec["qa_key"]), rec, video_id, video_path)]
    raise _Bad("a VRBench line needs 'mcq' (one line per video) or 'qa_key' (one MCQ a line)")


def _activitynet_answers(path: Path, opts: dict[str, Any]) -> dict[str, dict[str, Any]] | None:
    answers = opts.get("answers")
    if answers is None:
        if not path.name.endswith("_q.json"):
            return None
        sibling = path.with_name(path.name[: -len("_q.json")] + "_a.json")
        if not sibling.exists():
            raise BenchmarkFormatError(
                f"{path}: a question file needs its answers: {sibling.name} is not beside it; "
                "pass answers=PATH (CLI: --answers PATH)"
            )
        answers = sibling
    out: dict[str, dict[str, Any]] = {}
    for _where, rec in _records(Path(answers)):
        if isinstance(rec, dict) and "question_id" in rec:
            out[str(rec["question_id"])] = rec
    return out


def _activitynet_qa(rec: Any, opts: dict[str, Any]) -> list[dict[str, Any]]:
    from vt_agent.evaluation.activitynet_qa import TYPE_NAMES

    qid = str(_get(rec, "question_id"))
    answers: dict[str, dict[str, Any]] | None = opts.get("_answers")
    ans = rec if answers is None else answers.get(qid)
    if ans is None:
        raise _Bad(f"question {qid} has no answer in the answer file")
    answer = _get(ans, "answer")
    qtype = ans.get("type")
    if not isinstance(qtype, int) or qtype not in TYPE_NAMES:
        raise _Bad(f"question {qid}: 'type' must be an integer 0-8, got {qtype!r}")
    name = _get(rec, "video_name")
    return [
        {
            "id": qid,
            "video": [f"v_{name}.mp4", f"{name}.mp4", name],
            "problem": _get(rec, "question").strip(),
            "options": [],
            "answer": answer.strip(),
            "question_type": TYPE_NAMES[qtype],
            "extra": {"type": qtype, "video_name": name},
        }
    ]


def _star(rec: Any, opts: dict[str, Any]) -> list[dict[str, Any]]:
    choices = _get(rec, "choices", list)
    if not choices or not all(isinstance(c, dict) and isinstance(c.get("choice"), str) for c in choices):
        raise _Bad("field 'choices' must be a list of {choice_id, choice} objects")
    ordered = (
        sorted(choices, key=lambda c: c.get("choice_id", 0))
        if all(isinstance(c.get("choice_id"), int) for c in choices)
        else choices
    )
    texts = [c["choice"].strip() for c in ordered]
    answer = _get(rec, "answer").strip()
    if answer not in texts:
        raise _Bad(f"answer {answer!r} is not one of the choices {texts}")
    if texts.count(answer) > 1:
        raise _Bad(f"answer {answer!r} appears more than once among the choices")
    qid = _get(rec, "question_id")
    video_id = _get(rec, "video_id")
    window = None
    if "start" in rec and "end" in rec:
        window = _span([rec["start"], rec["end"]], "start/end")
        if window[1] <= window[0]:
            raise _Bad(f"start/end {window} is an empty clip")
    return [
        {
            "id": qid,
            "video": [f"{video_id}.mp4", video_id],
            "problem": _get(rec, "question").strip(),
            "options": texts,
            "answer": LETTERS[texts.index(answer)],
            "question_type": qid.split("_")[0],
            "window": window,
            "extra": {"video_id": video_id, "answer_text": answer},
        }
    ]


YOUCOOK2_CAPTION_PROMPT = "Provide a one-sentence caption for the provided video."
YOUCOOK2_DENSE_PROMPT = (
    "Localize every cooking step shown in this video: for each step give its start and end time "
    "and describe it in one sentence."
)


def _youcook2_video(ytid: str, entry: Any, opts: dict[str, Any]) -> list[dict[str, Any]]:
    if not isinstance(entry, dict):
        raise _Bad(f"video {ytid}: the entry must be an object")
    subset = opts.get("subset")
    if subset is not None and entry.get("subset") != subset:
        return []
    anns = entry.get("annotations")
    if not isinstance(anns, list) or not anns:
        raise _Bad(f"video {ytid}: 'annotations' must be a non-empty list (the test split has none)")
    steps = []
    for k, ann in enumerate(anns):
        if not isinstance(ann, dict):
            raise _Bad(f"video {ytid}: annotation {k} must be an object")
        steps.append(
            (ann.get("id", k), _span(ann.get("segment"), f"annotation {k} segment"), _get(ann, "sentence"))
        )
    extra = {
        "video_id": ytid,
        "duration": entry.get("duration"),
        "recipe_type": entry.get("recipe_type"),
        "subset": entry.get("subset"),
    }
    video = [f"{ytid}.mp4", ytid]
    if opts.get("level", "segment") == "video":
        return [
            {
                "id": ytid,
                "video": video,
                "problem": YOUCOOK2_DENSE_PROMPT,
                "answer": " ".join(s for _, _, s in steps),
                "gold_spans": [sp for _, sp, _ in steps],
                "gold_captions": [s for _, _, s in steps],
                "extra": extra,
            }
        ]
    return [
        {
            "id": f"{ytid}/{seg_id}",
            "video": video,
            "problem": YOUCOOK2_CAPTION_PROMPT,
            "answer": sentence,
            "gold_spans": [span],
            "gold_captions": [sentence],
            "window": span if span[1] > span[0] else None,
            "extra": extra,
        }
        for seg_id, span, sentence in steps
    ]


def _youcook2(rec: Any, opts: dict[str, Any]) -> list[dict[str, Any]]:
    if "database" in rec:  # the official youcookii_annotations_trainval.json
        db = _get(rec, "database", dict)
        return _each(opts, ((f"video {y}", partial(_youcook2_video, y, e, opts)) for y, e in db.items()))
    ytid = _get(rec, "youtube_id")
    if "annotations" in rec:  # one database entry a line
        return _youcook2_video(ytid, rec, opts)
    if "segment" in rec:  # lmms-eval's youcook2_val doc: one segment a line
        span = _span(rec.get("segment"), "segment")
        sentence = _get(rec, "sentence")
        if opts.get("level", "segment") == "video":
            raise _Bad("segment-level lines cannot be read with level='video'; use level='segment'")
        return [
            {
                "id": f"{ytid}/{rec.get('seg_id', rec.get('id', f'{span[0]:g}-{span[1]:g}'))}",
                "video": [rec.get("video_path") or f"{ytid}.mp4", ytid],
                "problem": YOUCOOK2_CAPTION_PROMPT,
                "answer": sentence,
                "gold_spans": [span],
                "gold_captions": [sentence],
                "window": span if span[1] > span[0] else None,
                "extra": {"video_id": ytid, "duration": rec.get("duration")},
            }
        ]
    raise _Bad("a YouCook2 record needs 'database', 'annotations' or 'segment'")


def _scalelong_one(video_id: str, q: Any) -> dict[str, Any]:
    if not isinstance(q, dict):
        raise _Bad(f"video {video_id}: each question must be an object")
    options = _letter_dict(q.get("options"))
    return {
        "id": f"{video_id}/{q.get('data_id')}",
        "video": [f"{video_id}.mp4", video_id],
        "problem": _get(q, "question").strip(),
        "options": options,
        "answer": _gold_letter(q.get("answer"), len(options)),
        "question_type": q.get("question_type"),
        "extra": {"video_id": video_id, "data_id": q.get("data_id")},
    }


def _scalelong(rec: Any, opts: dict[str, Any]) -> list[dict[str, Any]]:
    if "video_id" in rec and "question" in rec:  # one question a line (the flattened sample shape)
        return [_scalelong_one(_get(rec, "video_id"), rec)]
    if len(rec) != 1:
        raise _Bad(
            "a ScaleLong line must be {video_id: [questions]} (one key) or one question with 'video_id'"
        )
    ((video_id, questions),) = rec.items()
    if not isinstance(questions, list):
        raise _Bad(f"video {video_id}: the value must be a list of questions")
    return _each(
        opts,
        (
            (f"question {k + 1}", partial(_listed, _scalelong_one, str(video_id), q))
            for k, q in enumerate(questions)
        ),
    )


def _lvbench(rec: Any, opts: dict[str, Any]) -> list[dict[str, Any]]:
    video_id = _get(rec, "key")
    qas = _get(rec, "qa", list)
    return _each(
        opts,
        ((f"qa {k + 1}", partial(_lvbench_one, rec, video_id, k, qa)) for k, qa in enumerate(qas)),
    )


def _lvbench_one(rec: Mapping[str, Any], video_id: str, k: int, qa: Any) -> list[dict[str, Any]]:
    if not isinstance(qa, dict):
        raise _Bad(f"video {video_id}: must be an object")
    try:
        stem, options = parse_inline_options(_get(qa, "question"))
    except ValueError as exc:
        raise _Bad(f"video {video_id}, uid {qa.get('uid')}: {exc}") from None
    caps = qa.get("question_type")
    caps_list = [str(c) for c in caps] if isinstance(caps, list) else ([str(caps)] if caps else [])
    return [
        {
            "id": str(qa.get("uid", f"{video_id}/{k}")),
            "video": [f"{video_id}.mp4", video_id],
            "problem": stem,
            "options": options,
            "answer": _gold_letter(qa.get("answer"), len(options)),
            "question_type": caps_list[0] if caps_list else None,
            "extra": {
                "video_id": video_id,
                "video_type": rec.get("type"),
                "question_types": caps_list,
                "time_reference": qa.get("time_reference"),
            },
        }
    ]


_VR1_ANSWER = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.DOTALL | re.IGNORECASE)
_VR1_LETTERED = re.compile(r"^\s*([A-O])\s*[.):]\s*(.*)$", re.DOTALL)


def _video_r1(rec: Any, opts: dict[str, Any]) -> list[dict[str, Any]]:
    if rec.get("data_type", "video") != "video":
        raise _Bad(f"data_type {rec.get('data_type')!r}: only video records can be evaluated")
    problem = _get(rec, "problem")  # verbatim: the official prompt appends "Options:" right after it
    ptype = _get(rec, "problem_type")
    solution = _get(rec, "solution")
    m = _VR1_ANSWER.search(solution)
    if m is None:
        raise _Bad(f"solution {solution[:60]!r} has no <answer>...</answer>")
    gold = m.group(1).strip()
    raw_options = rec.get("options") or []
    options: list[str] = []
    if ptype == "multiple choice":
        if not isinstance(raw_options, list) or not raw_options:
            raise _Bad("a multiple-choice record needs 'options' ['A. ...', 'B. ...']")
        for i, o in enumerate(raw_options):
            lm = _VR1_LETTERED.match(str(o))
            if lm is None or lm.group(1) != LETTERS[i]:
                raise _Bad(f"option {i + 1} {str(o)[:40]!r} does not start with its letter {LETTERS[i]}.")
            options.append(lm.group(2).strip())
        gold = _gold_letter(gold, len(options), "solution")
    path = _get(rec, "path")
    return [
        {
            "id": str(rec.get("problem_id", rec.get("id", ""))),
            "video": [path, Path(path).name],
            "problem": problem,
            "options": options,
            "answer": gold,
            "question_type": ptype,
            "extra": {
                "solution": solution,
                "data_source": rec.get("data_source"),
                "raw_options": raw_options,
            },
        }
    ]


def _jsonl(rec: Any, opts: dict[str, Any]) -> list[dict[str, Any]]:
    from vt_agent.prompts import format_options

    video = _get(rec, "video")
    options_in = rec.get("options") or []
    if not isinstance(options_in, list):
        raise _Bad("field 'options' must be a list of texts")
    options: list[str] = []
    if options_in:
        try:
            options = [o.split(". ", 1)[1] for o in format_options(options_in)]
        except ConfigError as exc:
            raise _Bad(str(exc)) from None
    answer = _get(rec, "answer")
    if options:
        answer = _gold_letter(answer, len(options))
    spans = [_span(s, "gold_spans entry") for s in rec.get("gold_spans") or []]
    captions = rec.get("gold_captions") or []
    if not isinstance(captions, list) or not all(isinstance(c, str) for c in captions):
        raise _Bad("field 'gold_captions' must be a list of texts")
    window = _span(rec["window"], "window") if rec.get("window") is not None else None
    extra = rec.get("extra") or {}
    if not isinstance(extra, dict):
        raise _Bad("field 'extra' must be an object")
    return [
        {
            "id": str(_get(rec, "id", (str, int))),
            "video": [video],
            "problem": _get(rec, "question").strip(),
            "options": options,
            "answer": answer.strip(),
            "question_type": rec.get("question_type"),
            "gold_spans": spans,
            "gold_captions": captions,
            "window": window,
            "extra": extra,
        }
    ]


@dataclass(frozen=True)
class _Loader:
    parse: _Parser
    title: str
    keep: Callable[[Any, dict[str, Any]], bool] | None = None
    options: tuple[str, ...] = ()


LOADERS: dict[str, _Loader] = {
    "video-holmes": _Loader(_video_holmes, "Video-Holmes (test_Video-Holmes.json)"),
    "cg-bench": _Loader(_cg_bench, "CG-Bench (cgbench.json), all sub-categories"),
    "cg-bench-reasoning": _Loader(
        _cg_bench,
        f"CG-Bench-Reasoning: CG-Bench with {CG_BENCH_REASONING_RULE}",
        _cg_bench_reasoning_keep,
        ("subcategories",),
    ),
    "vrbench": _Loader(_vrbench, "VRBench MCQs (VRBench_eval.jsonl, one line per video)"),
    "activitynet-qa": _Loader(
        _activitynet_qa, "ActivityNet-QA (open-ended; *_q.json + *_a.json)", None, ("answers",)
    ),
    "star": _Loader(_star, "STAR (STAR_val.json); letters from choice order"),
    "youcook2": _Loader(
        _youcook2, "YouCook2 captions (youcookii_annotations_trainval.json)", None, ("level", "subset")
    ),
    "scalelong": _Loader(_scalelong, "ScaleLong (questions_converted.jsonl, one line per video)"),
    "lvbench": _Loader(_lvbench, "LVBench (video_info.meta.jsonl); options inline in the question"),
    "video-r1": _Loader(_video_r1, "Video-R1 eval JSON (eval_*.json)"),
    "jsonl": _Loader(_jsonl, "vt-agent's own JSONL (docs/evaluation.md)"),
}

OPEN_ENDED = frozenset({"activitynet-qa", "youcook2"})
"""Benchmarks whose questions have no options."""


def benchmark_names() -> list[str]:
    return list(LOADERS)


def load_benchmark(
    name: str,
    data_path: str | os.PathLike[str],
    videos_dir: str | os.PathLike[str],
    *,
    strict: bool = False,
    **options: Any,
) -> LoadedBenchmark:
    """Read benchmark ``name`` from ``data_path``, looking for its videos in ``videos_dir``.

    ``options`` (per benchmark): ``subcategories`` (cg-bench-reasoning: a list of exact
    sub-category names, or "all"; default :data:`CG_BENCH_REASONING_RULE`), ``answers``
    (activitynet-qa: the ``*_a.json`` file; default: beside a ``*_q.json``), ``level``
    (youcook2: ``"segment"``, one captioning item per annotated step, the lmms-eval layout; or
    ``"video"``, one dense-captioning item per video with all spans and captions), ``subset``
    (youcook2: keep only ``"training"`` or ``"validation"``).
    """
    if name not in LOADERS:
        raise ConfigError(f"unknown benchmark {name!r}: use one of {', '.join(LOADERS)}")
    loader = LOADERS[name]
    unknown = set(options) - set(loader.options)
    if unknown:
        allowed = ", ".join(loader.options) or "none"
        raise ConfigError(f"{name} takes no option {', '.join(sorted(unknown))} (options: {allowed})")
    if name == "youcook2" and options.get("level", "segment") not in ("segment", "video"):
        raise ConfigError(f"youcook2 level must be 'segment' or 'video', got {options['level']!r}")
    path = Path(data_path)
    root = Path(videos_dir)
    if not root.is_dir():
        raise ConfigError(f"videos directory {root} does not exist or is not a directory")
    opts = dict(options)
    if name == "activitynet-qa":
        opts["_answers"] = _activitynet_answers(path, opts)
    videos = _Videos(root.resolve())
    out = LoadedBenchmark(name=name, data_path=str(path), videos_dir=str(root))
    index = 0
    for where, rec in _records(path):
        try:
            if isinstance(rec, _Bad):
                raise rec
            if not isinstance(rec, dict):
                raise _Bad(f"expected a JSON object, got {type(rec).__name__}")
            if loader.keep is not None and not loader.keep(rec, opts):
                out.filtered += 1
                continue
            opts["_soft"] = []
            parsed = loader.parse(rec, opts)
            for message in opts["_soft"]:
                problem = LoadProblem(str(path), where, message)
                if strict:
                    raise BenchmarkFormatError(str(problem))
                out.problems.append(problem)
        except _Bad as exc:
            problem = LoadProblem(str(path), where, str(exc))
            if strict:
                raise BenchmarkFormatError(str(problem)) from None
            out.problems.append(problem)
            continue
        for fields in parsed:
            candidates = fields.pop("video")
            video, exists = videos.find(candidates)
            item = EvalItem(benchmark=name, index=index, video=video, **fields)
            index += 1
            (out.items if exists else out.missing).append(item)
    return out
