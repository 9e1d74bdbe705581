"""YouCook2 (``youcookii_annotations_trainval.json``, one entry a line, or lmms-eval's segment lines)."""

from __future__ import annotations

from functools import partial
from typing import Any

from vt_agent.benchmarks.files import Options, Question, RecordProblem, each, field, seconds_span

__all__ = ["CAPTION_PROMPT", "DENSE_PROMPT", "parse"]


CAPTION_PROMPT = "Provide a one-sentence caption for the provided video."


DENSE_PROMPT = (
    "Localize every cooking step shown in this video: for each step give its start and end time "
    "and describe it in one sentence."
)


def _video(ytid: str, entry: Any, opts: Options) -> list[Question]:
    if not isinstance(entry, dict):
        raise RecordProblem(f"video {ytid}: the entry must be an object")
    subset = opts.get("subset")
    if subset is not None and entry.get("subset") != subset:
        return []
    anns = entry.get("annotations")
    if not isinstance(anns, list) or not anns:
        raise RecordProblem(f"video {ytid}: 'annotations' must be a non-empty list (the test split has none)")
    steps = []
    for k, ann in enumerate(anns):
        if not isinstance(ann, dict):
            raise RecordProblem(f"video {ytid}: annotation {k} must be an object")
        steps.append(
            (
                ann.get("id", k),
                seconds_span(ann.get("segment"), f"annotation {k} segment"),
                field(ann, "sentence"),
            )
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
                "problem": DENSE_PROMPT,
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
            "problem": CAPTION_PROMPT,
            "answer": sentence,
            "gold_spans": [span],
            "gold_captions": [sentence],
            "window": span if span[1] > span[0] else None,
            "extra": extra,
        }
        for seg_id, span, sentence in steps
    ]


def parse(rec: Any, opts: Options) -> list[Question]:
    if "database" in rec:  # the official youcookii_annotations_trainval.json
        db = field(rec, "database", dict)
        return each(opts, ((f"video {y}", partial(_video, y, e, opts)) for y, e in db.items()))
    ytid = field(rec, "youtube_id")
    if "annotations" in rec:  # one database entry a line
        return _video(ytid, rec, opts)
    if "segment" in rec:  # lmms-eval's youcook2_val doc: one segment a line
        span = seconds_span(rec.get("segment"), "segment")
        sentence = field(rec, "sentence")
        if opts.get("level", "segment") == "video":
            raise RecordProblem("segment-level lines cannot be read with level='video'; use level='segment'")
        return [
            {
                "id": f"{ytid}/{rec.get('seg_id', rec.get('id', f'{span[0]:g}-{span[1]:g}'))}",
                "video": [rec.get("video_path") or f"{ytid}.mp4", ytid],
                "problem": CAPTION_PROMPT,
                "answer": sentence,
                "gold_spans": [span],
                "gold_captions": [sentence],
                "window": span if span[1] > span[0] else None,
                "extra": {"video_id": ytid, "duration": rec.get("duration")},
            }
        ]
    raise RecordProblem("a YouCook2 record needs 'database', 'annotations' or 'segment'")
