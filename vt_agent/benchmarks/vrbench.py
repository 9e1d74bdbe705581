"""VRBench (``VRBench_eval.jsonl``): one line per video with its MCQs, or one MCQ a line."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

from vt_agent.benchmarks.files import (
    Options,
    Question,
    RecordProblem,
    each,
    field,
    gold_letter,
    hms_spans,
    letter_options,
    listed,
)

__all__ = ["parse"]


def _one(rec: Mapping[str, Any], qa_key: str, qa: Any, video_id: str, video_path: str | None) -> Question:
    if not isinstance(qa, dict):
        raise RecordProblem(f"mcq {qa_key!r} must be an object")
    options = letter_options(qa.get("options"))
    steps = qa.get("reasoning_process") or {}
    step_texts = [str(v) for v in steps.values()] if isinstance(steps, dict) else []
    candidates = [c for c in (video_path, Path(video_path).name if video_path else None) if c]
    return {
        "id": f"{video_id}/{qa_key}",
        "video": [*candidates, f"{video_id}.mp4"],
        "problem": field(qa, "question").strip(),
        "options": options,
        "answer": gold_letter(qa.get("answer"), len(options)),
        "question_type": qa.get("reasoning_type"),
        "gold_spans": hms_spans(step_texts),
        "extra": {
            "video_id": video_id,
            "reasoning_process": steps,
            "original_answer": qa.get("original_answer"),
        },
    }


def parse(rec: Any, opts: Options) -> list[Question]:
    video_id = field(rec, "video_id")
    video_path = rec.get("video_path") if isinstance(rec.get("video_path"), str) else None
    if "mcq" in rec:  # the official shape: one line per video
        mcq = field(rec, "mcq", dict)
        return each(
            opts,
            ((f"mcq {k}", partial(listed, _one, rec, k, qa, video_id, video_path)) for k, qa in mcq.items()),
        )
    if "qa_key" in rec:  # one MCQ a line (the flattened sample shape)
        return [_one(rec, str(rec["qa_key"]), rec, video_id, video_path)]
    raise RecordProblem("a VRBench line needs 'mcq' (one line per video) or 'qa_key' (one MCQ a line)")
