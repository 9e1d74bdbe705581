"""STAR (``STAR_val.json``): choices as ``{choice_id, choice}``, the answer as the choice's text."""

from __future__ import annotations

from typing import Any

from vt_agent.benchmarks.files import LETTERS, Options, Question, RecordProblem, field, seconds_span

__all__ = ["parse"]


def _choice_id(choice: dict[str, Any]) -> int | None:
    value = choice.get("choice_id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and value.strip().isdigit() else None


def parse(rec: Any, opts: Options) -> list[Question]:
    """One question: letters follow ``choice_id`` order (file order when an id is not a number)."""
    choices = field(rec, "choices", list)
    if not choices or not all(isinstance(c, dict) and isinstance(c.get("choice"), str) for c in choices):
        raise RecordProblem("field 'choices' must be a list of {choice_id, choice} objects")
    if len(choices) > len(LETTERS):
        raise RecordProblem(f"{len(choices)} choices, at most {len(LETTERS)}")
    ids = [_choice_id(c) for c in choices]
    ordered = [c for _, c in sorted(zip(ids, choices, strict=True), key=lambda p: p[0] or 0)]
    if any(i is None for i in ids):
        ordered = choices
    texts = [c["choice"].strip() for c in ordered]
    answer = field(rec, "answer").strip()
    if answer not in texts:
        raise RecordProblem(
            f"answer {answer!r} is none of the choices {texts} (an answer that is not one of the "
            "choices cannot be given a letter)"
        )
    if texts.count(answer) > 1:
        raise RecordProblem(f"answer {answer!r} appears more than once among the choices")
    qid = str(field(rec, "question_id", (str, int)))
    video_id = field(rec, "video_id")
    window = None
    if "start" in rec and "end" in rec:
        window = seconds_span([rec["start"], rec["end"]], "start/end")
        if window[1] <= window[0]:
            raise RecordProblem(f"start/end {window} is an empty clip")
    return [
        {
            "id": qid,
            "video": [f"{video_id}.mp4", video_id],
            "problem": field(rec, "question").strip(),
            "options": texts,
            "answer": LETTERS[texts.index(answer)],
            "question_type": qid.split("_")[0],
            "window": window,
            "extra": {"video_id": video_id, "answer_text": answer},
        }
    ]
