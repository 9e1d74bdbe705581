"""ScaleLong (``questions_converted.jsonl``): ``{video_id: [questions]}`` a line, or one question a line."""

from __future__ import annotations

from functools import partial
from typing import Any

from vt_agent.benchmarks.files import (
    Options,
    Question,
    RecordProblem,
    each,
    field,
    gold_letter,
    letter_options,
    listed,
)

__all__ = ["parse"]


def _one(video_id: str, q: Any) -> Question:
    if not isinstance(q, dict):
        raise RecordProblem(f"video {video_id}: each question must be an object")
    options = letter_options(q.get("options"))
    return {
        "id": f"{video_id}/{q.get('data_id')}",
        "video": [f"{video_id}.mp4", video_id],
        "problem": field(q, "question").strip(),
        "options": options,
        "answer": gold_letter(q.get("answer"), len(options)),
        "question_type": q.get("question_type"),
        "extra": {"video_id": video_id, "data_id": q.get("data_id")},
    }


def parse(rec: Any, opts: Options) -> list[Question]:
    """``{video_id: [questions]}`` (a JSON document may hold several videos) or one question
    with its ``video_id``; a malformed question is reported and the others kept."""
    if "video_id" in rec and "question" in rec:  # one question a line (the flattened sample shape)
        return [_one(field(rec, "video_id"), rec)]
    if not rec:
        raise RecordProblem(
            "a ScaleLong line must be {video_id: [questions]} or one question with 'video_id'"
        )
    for video_id, questions in rec.items():
        if not isinstance(questions, list):
            raise RecordProblem(f"video {video_id}: the value must be a list of questions")
    several = len(rec) > 1
    return each(
        opts,
        (
            (
                f"{f'video {video_id} ' if several else ''}question {k + 1}",
                partial(listed, _one, str(video_id), q),
            )
            for video_id, questions in rec.items()
            for k, q in enumerate(questions)
        ),
    )
