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

Source file shapes (FORMATS.md): ActivityNet Captions ``{"v_id": {"duration", "timestamps",
"sentences"}}``; YouCook2 ``{"database": {ytid: {"annotations": [{"segment", "sentence"}],
"duration", ...}}}``; STAR ``[{"question_id", "video_id", "start", "end", "question", "answer",
"choices": [{"choice_id", "choice"}]}]``; ScaleLong JSONL ``{ytid: [{"data_id", "question",
"options": {"A": ...}, "answer"}]}``; LVBench JSONL ``{"key", "qa": [{"uid", "question"
(options inline as "(A) ..."), "answer", "time_reference"}]}``. JSON files may also be JSONL.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vt_agent.errors import ConfigError, VideoError
from vt_agent.training.llm import ChatLLM
from vt_agent.training.schema import Clip, JsonlWriter, RecordError, Span, TrainRecord

__all__ = [
    "CAPTION_SOURCES",
    "QA_SOURCES",
    "SOURCES",
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

CAPTION_SOURCES = ("activitynet-captions", "youcook2")
QA_SOURCES = ("star", "scalelong", "lvbench")
SOURCES = CAPTION_SOURCES + QA_SOURCES
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".mpg", ".mpeg", ".m4v", ".flv", ".wmv", ".ts")
MIN_FRAMES = 64
SPAN_TOLERANCE_S = 1.0  # a span may end this far past the clip (MM:SS rounding)
REPLY_LOG_CHARS = 4000


# ---------------------------------------------------------------------------------------------
# Source samples


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


def _load_objects(path: Path) -> list[tuple[int, Any]]:
    """The file as one JSON document ``[(0, doc)]``, or as JSONL ``[(line, obj), ...]``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such source file") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"{path}: is a folder; --data takes the source's annotation file") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not a text (JSON or JSONL) file; --data takes the source's annotation file"
        ) from exc
    if path.suffix.lower() != ".jsonl":
        try:
            return [(0, json.loads(text))]
        except json.JSONDecodeError:
            pass
    out: list[tuple[int, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise RecordError(f"{path} line {number}: neither a JSON file nor JSONL ({exc.msg})") from exc
    return out


def _where(path: Path, line: int) -> str:
    return f"{path} line {line}" if line else str(path)


def _span(start: Any, end: Any, caption: str | None, duration: float | None) -> Span | None:
    s, e = float(start), float(end)
    if e < s:
        s, e = e, s
    if duration is not None:
        s, e = min(max(s, 0.0), duration), min(max(e, 0.0), duration)
        if e <= s:
            return None
    return Span(start_s=max(s, 0.0), end_s=max(e, 0.0), caption=caption)


def _activitynet(path: Path) -> list[SourceSample]:
    out = []
    for line, doc in _load_objects(path):
        if not isinstance(doc, dict):
            raise RecordError(
                f"{_where(path, line)}: expected {{'v_<id>': {{duration, timestamps, sentences}}}}"
            )
        for vid, entry in doc.items():
            try:
                duration = float(entry["duration"])
                pairs = list(zip(entry["timestamps"], entry["sentences"], strict=True))
                spans = [_span(s, e, str(c).strip(), duration) for (s, e), c in pairs]
            except (KeyError, TypeError, ValueError) as exc:
                raise RecordError(
                    f"{_where(path, line)}: ActivityNet Captions entry {vid!r} needs 'duration', and "
                    f"'timestamps' [[s, e], ...] paired with 'sentences' ({type(exc).__name__}: {exc})"
                ) from exc
            out.append(
                SourceSample(
                    "activitynet-captions",
                    str(vid),
                    str(vid),
                    "captions",
                    [s for s in spans if s is not None],
                    duration,
                )
            )
    return out


def _youcook2(path: Path) -> list[SourceSample]:
    out = []
    for line, doc in _load_objects(path):
        if isinstance(doc, dict) and "database" in doc:
            items = list(doc["database"].items())
        elif isinstance(doc, dict) and "youtube_id" in doc:
            items = [(doc["youtube_id"], doc)]
        else:
            raise RecordError(
                f"{_where(path, line)}: expected {{'database': {{ytid: {{annotations, duration}}}}}}"
            )
        for vid, entry in items:
            try:
                duration = float(entry["duration"])
                spans = [
                    _span(a["segment"][0], a["segment"][1], str(a["sentence"]).strip(), duration)
                    for a in entry["annotations"]
                ]
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                raise RecordError(
                    f"{_where(path, line)}: YouCook2 entry {vid!r} needs 'duration' and 'annotations' "
                    f"[{{'segment': [s, e], 'sentence'}}] ({type(exc).__name__}: {exc}); the test split has no captions"
                ) from exc
            meta = {k: entry[k] for k in ("recipe_type", "subset") if k in entry}
            out.append(
                SourceSample(
                    "youcook2",
                    str(vid),
                    str(vid),
                    "captions",
                    [s for s in spans if s is not None],
                    duration,
                    meta=meta,
                )
            )
    return out


def _letters(n: int) -> str:
    from vt_agent.prompts import OPTION_LETTERS

    if n > len(OPTION_LETTERS):
        raise ValueError(f"{n} options, at most {len(OPTION_LETTERS)}")
    return OPTION_LETTERS[:n]


def _star(path: Path) -> list[SourceSample]:
    out = []
    for line, doc in _load_objects(path):
        for i, q in enumerate(doc if isinstance(doc, list) else [doc]):
            where = _where(path, line) + (f" item {i}" if not line else "")
            try:
                choices = sorted(q["choices"], key=lambda c: int(c["choice_id"]))
                texts = [str(c["choice"]).strip() for c in choices]
                letters = _letters(len(texts))
                answer_text = str(q["answer"]).strip()
                if answer_text not in texts:
                    raise ValueError(f"answer {answer_text!r} is none of the choices")
                answer = letters[texts.index(answer_text)]
                start, end = float(q["start"]), float(q["end"])
                clip = Clip(start_s=min(start, end), end_s=max(start, end))
                sample = SourceSample(
                    "star",
                    str(q["question_id"]),
                    str(q["video_id"]),
                    "qa",
                    [Span(start_s=clip.start_s, end_s=clip.end_s)],
                    None,
                    str(q["question"]).strip(),
                    [f"{letter}. {t}" for letter, t in zip(letters, texts, strict=True)],
                    answer,
                    clip,
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise RecordError(
                    f"{where}: STAR record needs question_id, video_id, start, end, question, answer and "
                    f"choices [{{choice_id, choice}}] ({type(exc).__name__}: {exc})"
                ) from exc
            out.append(sample)
    return out


def _options_dict(options: Any) -> list[str]:
    keys = sorted(options)
    letters = _letters(len(keys))
    if "".join(keys) != letters:
        raise ValueError(f"option keys {keys} are not {list(letters)}")
    return [f"{k}. {str(options[k]).strip()}" for k in keys]


def _scalelong(path: Path) -> list[SourceSample]:
    out = []
    for line, doc in _load_objects(path):
        if not isinstance(doc, dict):
            raise RecordError(f"{_where(path, line)}: expected {{ytid: [questions]}} or a question object")
        groups = [(doc["video_id"], [doc])] if "video_id" in doc else list(doc.items())
        for vid, questions in groups:
            for q in questions:
                try:
                    options = _options_dict(q["options"])
                    answer = str(q["answer"]).strip().upper()
                    sample = SourceSample(
                        "scalelong",
                        f"{vid}:{q['data_id']}",
                        str(vid),
                        "qa",
                        problem=str(q["question"]).strip(),
                        options=options,
                        answer=answer,
                        meta={"question_type": q.get("question_type")},
                    )
                except (KeyError, TypeError, ValueError) as exc:
                    raise RecordError(
                        f"{_where(path, line)}: ScaleLong question of {vid!r} needs data_id, question, "
                        f"options {{A: ..}} and answer ({type(exc).__name__}: {exc})"
                    ) from exc
                out.append(sample)
    return out


_INLINE_OPTION_RE = re.compile(r"^\s*\(([A-Z])\)\s*(.+?)\s*$")


def _split_inline(question: str) -> tuple[str, list[str]]:
    problem: list[str] = []
    options: list[str] = []
    for row in question.splitlines():
        m = _INLINE_OPTION_RE.match(row)
        if m:
            options.append(f"{m.group(1)}. {m.group(2)}")
        elif options:
            raise ValueError(f"text after the options: {row!r}")
        else:
            problem.append(row)
    text = "\n".join(problem).strip()
    if not text or len(options) < 2:
        raise ValueError("expected the question followed by option lines '(A) ...'")
    return text, options


def _lvbench(path: Path) -> list[SourceSample]:
    from vt_agent.trace import UnreadableSpanError, read_span

    out = []
    for line, doc in _load_objects(path):
        for entry in doc if isinstance(doc, list) else [doc]:
            try:
                vid = str(entry["key"])
                for q in entry["qa"]:
                    problem, options = _split_inline(str(q["question"]))
                    spans: list[Span] = []
                    ref = q.get("time_reference")
                    if isinstance(ref, str) and ref.strip():
                        try:
                            reading = read_span(ref)
                            spans = [Span(start_s=reading.start_s, end_s=reading.end_s)]
                        except UnreadableSpanError:
                            pass  # kept in meta, shown to the writer as text
                    out.append(
                        SourceSample(
                            "lvbench",
                            str(q["uid"]),
                            vid,
                            "qa",
                            spans,
                            problem=problem,
                            options=options,
                            answer=str(q["answer"]).strip().upper(),
                            meta={
                                "type": entry.get("type"),
                                "question_type": q.get("question_type"),
                                "time_reference": ref,
                            },
                        )
                    )
            except (KeyError, TypeError, ValueError) as exc:
                raise RecordError(
                    f"{_where(path, line)}: LVBench line needs key and qa [{{uid, question (with '(A) ...' "
                    f"option lines), answer, time_reference}}] ({type(exc).__name__}: {exc})"
                ) from exc
    return out


_LOADERS: dict[str, Callable[[Path], list[SourceSample]]] = {
    "activitynet-captions": _activitynet,
    "youcook2": _youcook2,
    "star": _star,
    "scalelong": _scalelong,
    "lvbench": _lvbench,
}


def _descriptions(path: Path) -> dict[str, tuple[str | None, list[Span]]]:
    (_, doc), *rest = _load_objects(path)
    if rest or not isinstance(doc, dict):
        raise RecordError(f"{path}: descriptions must be one JSON object {{video_id: text or [spans]}}")
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


# ---------------------------------------------------------------------------------------------
# Videos


class VideoIndex:
    """Video files under a folder, found by file stem (``<id>.<ext>`` at any depth)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ConfigError(f"{self.root}: the videos folder does not exist")
        self._by_stem: dict[str, Path] = {}
        for p in sorted(self.root.rglob("*")):
            if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file():
                self._by_stem.setdefault(p.stem, p)

    def find(self, video_id: str) -> Path | None:
        """The file for ``video_id`` (also tried with the ``v_`` prefix added or removed)."""
        alt = video_id[2:] if video_id.startswith("v_") else "v_" + video_id
        return self._by_stem.get(video_id) or self._by_stem.get(alt)

    def __len__(self) -> int:
        return len(self._by_stem)


@dataclass(frozen=True)
class VideoCheck:
    """The outcome of the video filters for one file."""

    path: str
    ok: bool
    reason: str = ""
    duration_s: float | None = None
    decoded_frames: int | None = None


def check_video(path: str | os.PathLike[str], min_frames: int = MIN_FRAMES) -> VideoCheck:
    """Drop videos that do not decode or have fewer than ``min_frames`` decoded frames.

    The frame count is the decoded count (:func:`vt_agent.video.probe` decodes every frame), not
    the header's claim.
    """
    from vt_agent.video import probe

    try:
        info = probe(path)
    except VideoError as exc:
        return VideoCheck(str(path), False, f"undecodable: {exc.problem}")
    if info.decoded_frames < min_frames:
        return VideoCheck(
            str(path),
            False,
            f"too short: {info.decoded_frames} decoded frames < {min_frames}",
            info.duration_s,
            info.decoded_frames,
        )
    return VideoCheck(str(path), True, "", info.duration_s, info.decoded_frames)


# ---------------------------------------------------------------------------------------------
# Prompts


def clock(seconds: float, duration_s: float) -> str:
    """A time as the traces write it: ``MM:SS``; with tenths (``00:04.6``) for clips under 60 s."""
    from vt_agent.result import mmss

    if duration_s >= 60:
        return mmss(seconds)
    whole, tenth = divmod(round(max(seconds, 0.0) * 10), 10)
    return f"{whole // 60:02d}:{whole % 60:02d}.{tenth}"


GRAMMAR = """\
The reasoning must follow this grammar exactly:
- one or two untagged sentences saying what to look for;
- then 2 to 6 groups, each written <time>{t0}-{t1}</time><caption>what is visible in that span</caption><think>what it \
means for the question</think>, with short untagged transitions between groups \
("Let's see what happens next...");
- times are {fmt} within {start}-{end}; each group looks at one moment of the video;
- captions describe what can be seen, concretely, in the present tense; thinks reason about it;
- tags are never nested; use only the tags <time>, <caption>, <think> and <answer>;
- then an untagged discussion of each option in turn;
- the very last thing is <answer>X</answer> with X the correct letter.
Write as someone watching the video: never mention captions, annotations, descriptions or these instructions."""

QUESTION_SYSTEM = (
    "You write training data for a video reasoning model. You cannot see the video: you get timed "
    "captions that people wrote while watching it. You write one hard multiple-choice question about the "
    "video and the reasoning a careful viewer writes while watching it, grounded in time."
)

QUESTION_USER = """\
Video length: {duration} ({duration_s:.1f} s).
Timed captions (start-end: caption):
{captions}

Write ONE multiple-choice question about this video that can only be answered by looking at at least two of \
these moments (for example: the order of events, what happens before or after something, how many times, why \
something is done, what changes). Give 4 options, A to D, exactly one correct, the wrong ones plausible.

{grammar}

Reply in exactly this layout and nothing else:
<question>the question</question>
<options>
A. ...
B. ...
C. ...
D. ...
</options>
<correct>X</correct>
<trace>the reasoning, ending with <answer>X</answer></trace>"""

TRACE_SYSTEM = (
    "You write training data for a video reasoning model. You get a multiple-choice question about a "
    "video, its correct answer and what is known about the video. You write the reasoning a careful viewer "
    "writes while watching the video, grounded in time, that reaches the correct answer."
)

TRACE_USER = """\
Video length: {duration} ({duration_s:.1f} s).{clip}
What is known about the video:
{known}

Question: {problem}
Options:
{options}
Correct answer: {answer}

{grammar}{retry}

Reply in exactly this layout and nothing else:
<trace>the reasoning, ending with <answer>{answer}</answer></trace>"""

EARLIER_QUESTIONS = """

Questions already written for this video (yours must ask something else, not reword them):
{questions}"""

UNUSED_MOMENTS = """
Build your question on these moments, which no earlier question used, where you can:
{moments}"""

RETRY_HINT = """

An earlier reasoning for this question was not specific enough: someone who read only its <time> and <caption> \
parts could not tell the answer. Make the captions state the decisive visible evidence concretely."""


def _end_clock(duration_s: float) -> str:
    """The clip's end as traces may write it (whole seconds rounded down from one minute on)."""
    return clock(math.floor(duration_s) if duration_s >= 60 else duration_s, duration_s)


def _grammar(duration_s: float) -> str:
    fmt = "MM:SS" if duration_s >= 60 else "MM:SS.s (tenths of a second)"
    t0, t1 = ("00:15", "00:30") if duration_s >= 60 else ("00:01.0", "00:02.5")
    return GRAMMAR.format(t0=t0, t1=t1, fmt=fmt, start=clock(0, duration_s), end=_end_clock(duration_s))


def _span_lines(spans: Sequence[Span], duration_s: float) -> str:
    return "\n".join(
        f"{clock(s.start_s, duration_s)}-{clock(s.end_s, duration_s)}: {s.caption}"
        for s in spans
        if s.caption
    )


Earlier = Sequence[tuple[str, Sequence[int]]]  # (question, indices of the annotated spans it used)


def question_prompt(spans: Sequence[Span], duration_s: float, earlier: Earlier = ()) -> str:
    """The user message asking for a question and a trace from timed captions.

    ``earlier``: the questions already written for this video, with the indices (into ``spans``)
    of the annotated moments their traces used; the prompt lists them and the unused moments.
    """
    text = QUESTION_USER.format(
        duration=_end_clock(duration_s),
        duration_s=duration_s,
        captions=_span_lines(spans, duration_s),
        grammar=_grammar(duration_s),
    )
    if not earlier:
        return text
    head, sep, layout = text.rpartition("\n\nReply in exactly this layout")
    extra = EARLIER_QUESTIONS.format(questions="\n".join(f"- {q}" for q, _ in earlier))
    used = {i for _, moments in earlier for i in moments}
    unused = _span_lines([s for i, s in enumerate(spans) if i not in used], duration_s)
    if unused:
        extra += UNUSED_MOMENTS.format(moments=unused)
    return head + extra + sep + layout


def trace_prompt(
    problem: str,
    options: Sequence[str],
    answer: str,
    duration_s: float,
    *,
    spans: Sequence[Span] = (),
    description: str | None = None,
    clip: Clip | None = None,
    time_reference: str | None = None,
    retry: bool = False,
) -> str:
    """The user message asking for a trace for an existing question."""
    known: list[str] = []
    if description:
        known.append(description.strip())
    captioned = _span_lines(spans, duration_s)
    if captioned:
        known.append("Timed descriptions (start-end: what happens):\n" + captioned)
    plain = [s for s in spans if not s.caption]
    for s in plain:
        known.append(
            f"The question concerns {clock(s.start_s, duration_s)}-{clock(s.end_s, duration_s)} of the video."
        )
    if time_reference and not plain:
        known.append(f"Time reference of the question: {time_reference}")
    if not known:
        known.append("Nothing beyond the question: ground the reasoning in plausible moments of the video.")
    clip_text = ""
    if clip is not None:
        clip_text = (
            f" The question is about the part {clock(clip.start_s, duration_s)}-{clock(clip.end_s, duration_s)}; "
            "times count from the start of the whole video."
        )
    return TRACE_USER.format(
        duration=_end_clock(duration_s),
        duration_s=duration_s,
        clip=clip_text,
        known="\n".join(known),
        problem=problem,
        options="\n".join(options),
        answer=answer,
        grammar=_grammar(duration_s),
        retry=RETRY_HINT if retry else "",
    )


# ---------------------------------------------------------------------------------------------
# Reply parsing and validation


class ReplyRejected(ValueError):
    """An LLM reply that does not give a usable sample; the message is the reason logged."""


@dataclass(frozen=True)
class GeneratedSample:
    """A validated reply: question, lettered options, correct letter, trace without its answer."""

    problem: str
    options: list[str]
    answer: str
    trace: str
    grounding: float | None  # mean over annotated spans of the best IoU with a trace span
    moments: tuple[int, ...] = ()  # indices of the annotated spans a trace span overlaps


_FENCE_RE = re.compile(r"^```[a-zA-Z]*\s*\n?|\n?```\s*$")


def _block(reply: str, name: str, *, required: bool = True) -> str | None:
    from vt_agent.trace import tag_blocks

    found = tag_blocks(reply, name)  # the first <name>...</name>, in linear time
    if not found:
        if required:
            raise ReplyRejected(f"no <{name}>...</{name}> block in the reply")
        return None
    return found[0].strip()


# ``<\s*/?\s*(time|...)\s*>`` written without two adjacent space runs (linear time)
_TAG_RE = re.compile(r"<\s*(?:/\s*)?(?:time|caption|think|answer)\s*>", re.IGNORECASE)
_META_WORDS_RE = re.compile(r"\b(?:captions?|captioned|annotations?|annotated)\b", re.IGNORECASE)


def _iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else (1.0 if a == b else 0.0)


def _validate_trace(
    trace: str, answer: str, letters: str, duration_s: float, spans: Sequence[Span], require_overlap: bool
) -> tuple[str, float | None, tuple[int, ...]]:
    from vt_agent.trace import answer_letter, check_format, parse_trace

    check = check_format(trace)
    if not check.ok:
        raise ReplyRejected("trace breaks the format rule: " + "; ".join(check.problems))
    given = answer_letter(trace)
    if given != answer:
        raise ReplyRejected(f"trace ends with answer {given}, but the correct answer is {answer}")
    body = trace[: trace.lower().rindex("<answer>")].rstrip()
    if _META_WORDS_RE.search(_TAG_RE.sub(" ", body)):
        raise ReplyRejected(
            "the trace talks about captions or annotations instead of what is seen in the video"
        )
    parsed = parse_trace(body)
    found: list[tuple[float, float]] = []
    for seg in parsed.segments:
        if seg.start_s is None or seg.end_s is None:
            raise ReplyRejected(f"unreadable time span <time>{seg.time_text}</time>")
        if seg.start_s >= duration_s or seg.end_s > duration_s + SPAN_TOLERANCE_S:
            raise ReplyRejected(
                f"span <time>{seg.time_text}</time> lies outside the video (00:00-{_end_clock(duration_s)})"
            )
        if not (seg.caption or "").strip():
            raise ReplyRejected(f"segment <time>{seg.time_text}</time> has an empty caption")
        found.append((seg.start_s, min(seg.end_s, duration_s)))
    grounding = None
    moments: tuple[int, ...] = ()
    if spans:
        best = [max((_iou((s.start_s, s.end_s), f) for f in found), default=0.0) for s in spans]
        grounding = sum(best) / len(best)
        moments = tuple(i for i, b in enumerate(best) if b > 0.0)
        if require_overlap and max(best) == 0.0:
            raise ReplyRejected("no <time> span of the trace overlaps an annotated moment of the video")
    return body, grounding, moments


def _moments_of(trace: str, spans: Sequence[Span]) -> tuple[int, ...]:
    """Indices of the annotated spans that a readable ``<time>`` span of ``trace`` overlaps."""
    from vt_agent.trace import parse_trace

    found = [
        (seg.start_s, seg.end_s)
        for seg in parse_trace(trace).segments
        if seg.start_s is not None and seg.end_s is not None
    ]
    return tuple(i for i, s in enumerate(spans) if any(_iou((s.start_s, s.end_s), f) > 0.0 for f in found))


def _question_key(problem: str) -> str:
    """A question's text for duplicate checks: case, spacing and punctuation ignored."""
    return " ".join(re.sub(r"[^\w\s]", " ", problem.lower()).split())


def parse_question_reply(
    reply: str, duration_s: float, spans: Sequence[Span], earlier: Sequence[str] = ()
) -> GeneratedSample:
    """Validate a caption-labelled reply (question, options, correct letter, trace).

    ``earlier``: questions already written for the video; a reply repeating one (same text, case,
    spacing and punctuation aside) is rejected as a duplicate.
    """
    from vt_agent.prompts import format_options

    text = _FENCE_RE.sub("", reply.strip())
    problem = _block(text, "question")
    options_text = _block(text, "options")
    correct = _block(text, "correct")
    trace = _block(text, "trace")
    assert problem is not None and options_text is not None and correct is not None and trace is not None
    if not problem:
        raise ReplyRejected("the question is empty")
    if _TAG_RE.search(problem):
        raise ReplyRejected("the question holds trace tags")
    key = _question_key(problem)
    for k, other in enumerate(earlier, start=1):
        if _question_key(other) == key:
            raise ReplyRejected(
                f"duplicate question: the same text as question {k} of this video: {problem!r}"
            )
    lines = [row.strip() for row in options_text.splitlines() if row.strip()]
    try:
        options = format_options(lines)
    except ConfigError as exc:
        raise ReplyRejected(f"options unusable: {exc}") from exc
    if len(options) < 2:
        raise ReplyRejected(f"{len(options)} option(s): a multiple-choice question needs at least 2")
    if any(not re.match(r"^\(?[A-O][.)]", row) for row in lines):
        raise ReplyRejected("every option must start with its letter (A. ...)")
    letter = correct.strip().strip("()").upper()
    letters = "".join(o[0] for o in options)
    if len(letter) != 1 or letter not in letters:
        raise ReplyRejected(f"<correct> is {correct!r}, not one of the option letters {', '.join(letters)}")
    body, grounding, moments = _validate_trace(
        trace, letter, letters, duration_s, spans, require_overlap=True
    )
    return GeneratedSample(problem, options, letter, body, grounding, moments)


def parse_trace_reply(
    reply: str, answer: str, options: Sequence[str], duration_s: float, spans: Sequence[Span]
) -> GeneratedSample:
    """Validate a trace written for an existing question (the ``<trace>`` wrapper may be missing)."""
    text = _FENCE_RE.sub("", reply.strip())
    trace = _block(text, "trace", required=False)
    if trace is None:
        if "<time>" not in text.lower():
            raise ReplyRejected("no <trace>...</trace> block and no <time> in the reply")
        trace = text
    letters = "".join(o[0] for o in options)
    body, grounding, moments = _validate_trace(
        trace, answer, letters, duration_s, spans, require_overlap=bool(spans)
    )
    return GeneratedSample("", list(options), answer, body, grounding, moments)


# ---------------------------------------------------------------------------------------------
# Writing traces


def _clip_reply(text: str) -> str:
    return text if len(text) <= REPLY_LOG_CHARS else text[:REPLY_LOG_CHARS] + "...[cut]"


LogFn = Callable[[dict[str, Any]], None]


class TraceWriter:
    """Asks the LLM for a sample and validates the reply, up to ``max_attempts`` times.

    Every rejected reply is reported to ``log`` with its reason and (cut) text.
    """

    def __init__(
        self,
        llm: ChatLLM,
        *,
        max_attempts: int = 3,
        temperature: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ConfigError(f"max_attempts must be at least 1, got {max_attempts}")
        self.llm = llm
        self.max_attempts = max_attempts
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed

    def _ask(self, system: str, user: str, attempt: int) -> tuple[str, str | None]:
        seed = None if self.seed is None else self.seed + attempt
        reply = self.llm.complete(
            system, user, temperature=self.temperature, max_tokens=self.max_tokens, seed=seed
        )
        return reply.text, reply.finish_reason

    def _loop(
        self,
        sample_id: str,
        system: str,
        user: str,
        parse: Callable[[str], GeneratedSample],
        log: LogFn,
        stage: str,
    ) -> tuple[GeneratedSample | None, int]:
        for attempt in range(1, self.max_attempts + 1):
            text, finish = self._ask(system, user, attempt)
            try:
                if finish == "length":
                    raise ReplyRejected("reply cut off at max_tokens")
                got = parse(text)
            except ReplyRejected as exc:
                log(
                    {
                        "sample": sample_id,
                        "stage": stage,
                        "attempt": attempt,
                        "status": "rejected",
                        "reason": str(exc),
                        "reply": _clip_reply(text),
                    }
                )
                continue
            return got, attempt
        return None, self.max_attempts

    def question(
        self,
        sample_id: str,
        spans: Sequence[Span],
        duration_s: float,
        log: LogFn,
        *,
        earlier: Earlier = (),
    ) -> tuple[GeneratedSample | None, int]:
        """A question, options, answer and trace from timed captions, unlike the ``earlier`` ones."""
        user = question_prompt(spans, duration_s, earlier)
        asked = [q for q, _ in earlier]
        return self._loop(
            sample_id,
            QUESTION_SYSTEM,
            user,
            lambda t: parse_question_reply(t, duration_s, spans, asked),
            log,
            "generate",
        )

    def trace(
        self,
        sample_id: str,
        problem: str,
        options: Sequence[str],
        answer: str,
        duration_s: float,
        log: LogFn,
        *,
        spans: Sequence[Span] = (),
        description: str | None = None,
        clip: Clip | None = None,
        time_reference: str | None = None,
        retry: bool = False,
        stage: str = "generate",
    ) -> tuple[GeneratedSample | None, int]:
        """A trace for an existing question that reaches ``answer``."""
        user = trace_prompt(
            problem,
            options,
            answer,
            duration_s,
            spans=spans,
            description=description,
            clip=clip,
            time_reference=time_reference,
            retry=retry,
        )
        return self._loop(
            sample_id,
            TRACE_SYSTEM,
            user,
            lambda t: parse_trace_reply(t, answer, options, duration_s, spans),
            log,
            stage,
        )


# ---------------------------------------------------------------------------------------------
# The builder


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
            s for s in (_span(s.start_s, s.end_s, s.caption, duration) for s in sample.spans) if s is not None
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
                earlier.append((str(old.get("problem", "")), _moments_of(str(old.get("trace", "")), spans)))
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
