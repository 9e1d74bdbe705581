"""LVBench (``video_info.meta.jsonl``): one line per video, options inline in the question."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from vt_agent.benchmarks.files import (
    Options,
    Question,
    RecordProblem,
    each,
    field,
    gold_letter,
    parse_inline_options,
)

__all__ = ["parse"]


def parse(rec: Any, opts: Options) -> list[Question]:
    video_id = field(rec, "key")
    qas = field(rec, "qa", list)
    return each(
        opts,
        ((f"qa {k + 1}", partial(_one, rec, video_id, k, qa)) for k, qa in enumerate(qas)),
    )


def _one(rec: Mapping[str, Any], video_id: str, k: int, qa: Any) -> list[Question]:
    if not isinstance(qa, dict):
        raise RecordProblem(f"video {video_id}: must be an object")
    try:
        stem, options = parse_inline_options(field(qa, "question"))
    except ValueError as exc:
        raise RecordProblem(f"video {video_id}, uid {qa.get('uid')}: {exc}") from None
    caps = qa.get("question_type")
    caps_list = [str(c) for c in caps] if isinstance(caps, list) else ([str(caps)] if caps else [])
    return [
        {
            "id": str(qa.get("uid", f"{video_id}/{k}")),
            "video": [f"{video_id}.mp4", video_id],
            "problem": stem,
            "options": options,
            "answer": gold_letter(qa.get("answer"), len(options)),
            "question_type": caps_list[0] if caps_list else None,
            "extra": {
                "video_id": video_id,
                "video_type": rec.get("type"),
                "question_types": caps_list,
                "time_reference": qa.get("time_reference"),
            },
        }
    ]
