"""vt-agent's own JSONL (docs/evaluation.md): one question a line in the fields of an item."""

from __future__ import annotations

from typing import Any

from vt_agent.benchmarks.files import Options, Question, RecordProblem, field, gold_letter, seconds_span
from vt_agent.errors import ConfigError

__all__ = ["parse"]


def parse(rec: Any, opts: Options) -> list[Question]:
    from vt_agent.prompts import format_options

    video = field(rec, "video")
    options_in = rec.get("options") or []
    if not isinstance(options_in, list):
        raise RecordProblem("field 'options' must be a list of texts")
    options: list[str] = []
    if options_in:
        try:
            options = [o.split(". ", 1)[1] for o in format_options(options_in)]
        except ConfigError as exc:
            raise RecordProblem(str(exc)) from None
    answer = field(rec, "answer")
    if options:
        answer = gold_letter(answer, len(options))
    spans = [seconds_span(s, "gold_spans entry") for s in rec.get("gold_spans") or []]
    captions = rec.get("gold_captions") or []
    if not isinstance(captions, list) or not all(isinstance(c, str) for c in captions):
        raise RecordProblem("field 'gold_captions' must be a list of texts")
    window = seconds_span(rec["window"], "window") if rec.get("window") is not None else None
    extra = rec.get("extra") or {}
    if not isinstance(extra, dict):
        raise RecordProblem("field 'extra' must be an object")
    return [
        {
            "id": str(field(rec, "id", (str, int))),
            "video": [video],
            "problem": field(rec, "question").strip(),
            "options": options,
            "answer": answer.strip(),
            "question_type": rec.get("question_type"),
            "gold_spans": spans,
            "gold_captions": captions,
            "window": window,
            "extra": extra,
        }
    ]
