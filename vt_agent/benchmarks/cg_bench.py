"""CG-Bench (``cgbench.json``) and its reasoning subset: choices as a list, clue intervals in seconds."""

from __future__ import annotations

from typing import Any

from vt_agent.benchmarks.files import (
    LETTERS,
    Options,
    Question,
    RecordProblem,
    field,
    gold_letter,
    seconds_span,
)

__all__ = ["CG_BENCH_REASONING_RULE", "keep_reasoning", "parse"]


CG_BENCH_REASONING_RULE = "sub_category ends with 'Cognition'"
"""Default choice of the CG-Bench-Reasoning subset (the paper does not say which sub-categories
it used; FORMATS.md: "presumably the cognition-type sub_categories"). Override with
``subcategories=[...]`` (exact names) or ``subcategories="all"``."""


def parse(rec: Any, opts: Options) -> list[Question]:
    choices = field(rec, "choices", list)
    if not 2 <= len(choices) <= len(LETTERS) or not all(isinstance(c, str) and c.strip() for c in choices):
        raise RecordProblem("field 'choices' must be a list of 2 to 15 non-empty texts")
    letter = gold_letter(rec.get("right_answer"), len(choices), "right_answer")
    answer_text = rec.get("answer")
    if isinstance(answer_text, str) and answer_text.strip() != choices[LETTERS.index(letter)].strip():
        raise RecordProblem(
            f"right_answer {letter} is {choices[LETTERS.index(letter)]!r} but answer is {answer_text!r}"
        )
    video_uid = field(rec, "video_uid")
    spans = [seconds_span(s, "clue_intervals entry") for s in rec.get("clue_intervals") or []]
    return [
        {
            "id": str(field(rec, "qid", (int, str))),
            "video": [f"{video_uid}.mp4", video_uid],
            "problem": field(rec, "question").strip(),
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


def keep_reasoning(rec: Any, opts: Options) -> bool:
    chosen = opts.get("subcategories")
    sub = rec.get("sub_category") if isinstance(rec, dict) else None
    if chosen is None:
        return isinstance(sub, str) and sub.strip().endswith("Cognition")
    if chosen == "all":
        return True
    names = {chosen} if isinstance(chosen, str) else set(chosen)
    return sub in names
