"""Benchmark and annotation file readers, shared by evaluation and training data building.

One module per format turns one record of the official file shape (``FORMATS.md``) into
:class:`~vt_agent.benchmarks.files.Question` dicts, or raises
:class:`~vt_agent.benchmarks.files.RecordProblem`: ``video_holmes``, ``cg_bench``, ``vrbench``,
``activitynet`` (QA and Captions), ``star``, ``youcook2``, ``scalelong``, ``lvbench``,
``video_r1``, ``own_jsonl``. :mod:`~vt_agent.benchmarks.files` reads the files and holds the
field checks, :mod:`~vt_agent.benchmarks.videos` finds a record's video and holds the one list
of video extensions. :data:`READERS` names the evaluation benchmarks;
:func:`vt_agent.evaluation.loaders.load_benchmark` turns questions into evaluation items and
:func:`vt_agent.training.sources.load_source` into training samples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vt_agent.benchmarks import (
    activitynet,
    cg_bench,
    lvbench,
    own_jsonl,
    scalelong,
    star,
    video_holmes,
    video_r1,
    vrbench,
    youcook2,
)
from vt_agent.benchmarks.cg_bench import CG_BENCH_REASONING_RULE
from vt_agent.benchmarks.files import (
    BenchmarkFormatError,
    Options,
    Question,
    RecordProblem,
    parse_inline_options,
    read_records,
)
from vt_agent.benchmarks.videos import VIDEO_EXTENSIONS, VideoFolder

__all__ = [
    "CG_BENCH_REASONING_RULE",
    "READERS",
    "VIDEO_EXTENSIONS",
    "BenchmarkFormatError",
    "Question",
    "Reader",
    "RecordProblem",
    "VideoFolder",
    "parse_inline_options",
    "read_records",
]


@dataclass(frozen=True)
class Reader:
    """A benchmark format: its record parser, a title, an optional record filter (a subset) and
    the options it takes."""

    parse: Callable[[Any, Options], list[Question]]
    title: str
    keep: Callable[[Any, Options], bool] | None = None
    options: tuple[str, ...] = ()


READERS: dict[str, Reader] = {
    "video-holmes": Reader(video_holmes.parse, "Video-Holmes (test_Video-Holmes.json)"),
    "cg-bench": Reader(cg_bench.parse, "CG-Bench (cgbench.json), all sub-categories"),
    "cg-bench-reasoning": Reader(
        cg_bench.parse,
        f"CG-Bench-Reasoning: CG-Bench with {CG_BENCH_REASONING_RULE}",
        cg_bench.keep_reasoning,
        ("subcategories",),
    ),
    "vrbench": Reader(vrbench.parse, "VRBench MCQs (VRBench_eval.jsonl, one line per video)"),
    "activitynet-qa": Reader(
        activitynet.parse_qa, "ActivityNet-QA (open-ended; *_q.json + *_a.json)", None, ("answers",)
    ),
    "star": Reader(star.parse, "STAR (STAR_val.json); letters from choice order"),
    "youcook2": Reader(
        youcook2.parse, "YouCook2 captions (youcookii_annotations_trainval.json)", None, ("level", "subset")
    ),
    "scalelong": Reader(scalelong.parse, "ScaleLong (questions_converted.jsonl, one line per video)"),
    "lvbench": Reader(lvbench.parse, "LVBench (video_info.meta.jsonl); options inline in the question"),
    "video-r1": Reader(video_r1.parse, "Video-R1 eval JSON (eval_*.json)"),
    "jsonl": Reader(own_jsonl.parse, "vt-agent's own JSONL (docs/evaluation.md)"),
}
"""The evaluation benchmarks by name (``vt-agent eval run --benchmark NAME``)."""
