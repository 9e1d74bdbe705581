"""ActivityNet: the QA benchmark (``*_q.json`` + ``*_a.json``) and the Captions annotations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vt_agent.benchmarks.files import (
    BenchmarkFormatError,
    Options,
    Question,
    RecordProblem,
    field,
    read_records,
)

__all__ = ["TYPE_NAMES", "parse_captions", "parse_qa", "qa_answers"]

TYPE_NAMES: dict[int, str] = {
    0: "Motion",
    1: "Spatial Relation",
    2: "Temporal Relation",
    3: "Yes/No",
    4: "Color",
    5: "Object",
    6: "Location",
    7: "Number",
    8: "Other",
}
"""ActivityNet-QA's question types (the ``type`` of an answer record)."""


def qa_answers(path: Path, opts: Options) -> dict[str, dict[str, Any]] | None:
    """The answer records by question id: from ``opts["answers"]``, or the ``*_a.json`` beside a
    ``*_q.json``; None when the questions carry their answers."""
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
    for _where, rec in read_records(Path(answers)):
        if isinstance(rec, dict) and "question_id" in rec:
            out[str(rec["question_id"])] = rec
    return out


def parse_qa(rec: Any, opts: Options) -> list[Question]:
    """One open question, its answer from ``opts["_answers"]`` (see :func:`qa_answers`) or the record."""
    qid = str(field(rec, "question_id"))
    answers: dict[str, dict[str, Any]] | None = opts.get("_answers")
    ans = rec if answers is None else answers.get(qid)
    if ans is None:
        raise RecordProblem(f"question {qid} has no answer in the answer file")
    answer = field(ans, "answer")
    qtype = ans.get("type")
    if not isinstance(qtype, int) or qtype not in TYPE_NAMES:
        raise RecordProblem(f"question {qid}: 'type' must be an integer 0-8, got {qtype!r}")
    name = field(rec, "video_name")
    return [
        {
            "id": qid,
            "video": [f"v_{name}.mp4", f"{name}.mp4", name],
            "problem": field(rec, "question").strip(),
            "options": [],
            "answer": answer.strip(),
            "question_type": TYPE_NAMES[qtype],
            "extra": {"type": qtype, "video_name": name},
        }
    ]


def parse_captions(rec: Any, opts: Options) -> list[Question]:
    """ActivityNet Captions ``{"v_<id>": {duration, timestamps, sentences}}``: one question per
    video holding its timed captions (``gold_spans``, ``gold_captions``; spans as written)."""
    out: list[Question] = []
    for vid, entry in rec.items():
        try:
            duration = float(entry["duration"])
            pairs = list(zip(entry["timestamps"], entry["sentences"], strict=True))
            spans = [(float(s), float(e)) for s, e in (ts for ts, _ in pairs)]
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordProblem(
                f"ActivityNet Captions entry {vid!r} needs 'duration', and 'timestamps' [[s, e], ...] "
                f"paired with 'sentences' ({type(exc).__name__}: {exc})"
            ) from None
        out.append(
            {
                "id": str(vid),
                "video": [f"{vid}.mp4", str(vid)],
                "problem": "",
                "answer": "",
                "gold_spans": spans,
                "gold_captions": [str(c).strip() for _, c in pairs],
                "extra": {"video_id": str(vid), "duration": duration},
            }
        )
    return out
