"""Video-Holmes (``test_Video-Holmes.json``): one question a record, options ``{"A": ...}``."""

from __future__ import annotations

from typing import Any

from vt_agent.benchmarks.files import Options, Question, field, gold_letter, letter_options

__all__ = ["parse"]


def parse(rec: Any, opts: Options) -> list[Question]:
    options = letter_options(field(rec, "Options", dict), "Options")
    video_id = field(rec, "video ID")
    qid = field(rec, "Question ID", (int, str))
    return [
        {
            "id": str(qid),
            "video": [f"{video_id}.mp4", video_id],
            "problem": field(rec, "Question").strip(),
            "options": options,
            "answer": gold_letter(rec.get("Answer"), len(options), "Answer"),
            "question_type": field(rec, "Question Type"),
            "extra": {"video_id": video_id, "explanation": rec.get("Explanation")},
        }
    ]
