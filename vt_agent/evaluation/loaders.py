"""Benchmark loaders: the official file shapes (``FORMATS.md``) -> :class:`EvalItem` lists.

::

    loaded = load_benchmark("video-holmes", "test_Video-Holmes.json", "videos/")
    loaded.items      # questions whose video exists, in file order
    loaded.missing    # questions whose video is not in the videos directory (skipped, counted)
    loaded.problems   # malformed records: file, line or record number, what is wrong

Malformed records never stop a load: each becomes a :class:`LoadProblem` (``strict=True``
raises :class:`BenchmarkFormatError` on the first one instead). A file that is not JSON at all
raises :class:`BenchmarkFormatError`. Positions: ``line N`` (1-based) in JSONL files,
``record N`` (1-based position in the top-level list, or key) in JSON files.

Every loader reads a ``.json`` document or a ``.jsonl`` file (one record a line); the registry
(:data:`LOADERS`) names them. The file readers live in :mod:`vt_agent.benchmarks` (shared with
training data building); this module turns their questions into :class:`EvalItem` lists. Videos
are looked up in ``videos_dir`` by the path the record gives, then by file name, then by stem
with any common video extension, anywhere below ``videos_dir`` (ActivityNet's ``v_`` prefix is
tried both ways).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vt_agent.benchmarks import (
    CG_BENCH_REASONING_RULE,
    READERS,
    VIDEO_EXTENSIONS,
    BenchmarkFormatError,
    RecordProblem,
    VideoFolder,
    activitynet,
    parse_inline_options,
    read_records,
)
from vt_agent.errors import ConfigError
from vt_agent.evaluation.records import EvalItem

__all__ = [
    "CG_BENCH_REASONING_RULE",
    "LOADERS",
    "OPEN_ENDED",
    "VIDEO_EXTENSIONS",
    "BenchmarkFormatError",
    "LoadProblem",
    "LoadedBenchmark",
    "benchmark_names",
    "load_benchmark",
    "parse_inline_options",
]


@dataclass(frozen=True)
class LoadProblem:
    """A malformed record: which file, where in it, and what is wrong."""

    file: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.message}"


@dataclass
class LoadedBenchmark:
    """What :func:`load_benchmark` read."""

    name: str
    data_path: str
    videos_dir: str
    items: list[EvalItem] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)
    missing: list[EvalItem] = field(default_factory=list)
    filtered: int = 0
    """Well-formed records left out on purpose (CG-Bench-Reasoning sub-categories, subsets)."""

    @property
    def all_items(self) -> list[EvalItem]:
        """Items with and without their video, in file order."""
        return sorted([*self.items, *self.missing], key=lambda it: it.index)

    def summary(self) -> str:
        parts = [f"{len(self.items)} question(s) with their video"]
        if self.missing:
            parts.append(f"{len(self.missing)} skipped (video missing)")
        if self.problems:
            parts.append(f"{len(self.problems)} malformed record(s)")
        if self.filtered:
            parts.append(f"{self.filtered} left out by the subset rule")
        return f"{self.name}: " + ", ".join(parts)


LOADERS = READERS
"""The benchmarks by name (:data:`vt_agent.benchmarks.READERS`)."""

OPEN_ENDED = frozenset({"activitynet-qa", "youcook2"})
"""Benchmarks whose questions have no options."""


def benchmark_names() -> list[str]:
    return list(LOADERS)


def load_benchmark(
    name: str,
    data_path: str | os.PathLike[str],
    videos_dir: str | os.PathLike[str],
    *,
    strict: bool = False,
    **options: Any,
) -> LoadedBenchmark:
    """Read benchmark ``name`` from ``data_path``, looking for its videos in ``videos_dir``.

    ``options`` (per benchmark): ``subcategories`` (cg-bench-reasoning: a list of exact
    sub-category names, or "all"; default :data:`CG_BENCH_REASONING_RULE`), ``answers``
    (activitynet-qa: the ``*_a.json`` file; default: beside a ``*_q.json``), ``level``
    (youcook2: ``"segment"``, one captioning item per annotated step, the lmms-eval layout; or
    ``"video"``, one dense-captioning item per video with all spans and captions), ``subset``
    (youcook2: keep only ``"training"`` or ``"validation"``).
    """
    if name not in LOADERS:
        raise ConfigError(f"unknown benchmark {name!r}: use one of {', '.join(LOADERS)}")
    loader = LOADERS[name]
    unknown = set(options) - set(loader.options)
    if unknown:
        allowed = ", ".join(loader.options) or "none"
        raise ConfigError(f"{name} takes no option {', '.join(sorted(unknown))} (options: {allowed})")
    if name == "youcook2" and options.get("level", "segment") not in ("segment", "video"):
        raise ConfigError(f"youcook2 level must be 'segment' or 'video', got {options['level']!r}")
    path = Path(data_path)
    root = Path(videos_dir)
    if not root.is_dir():
        raise ConfigError(f"videos directory {root} does not exist or is not a directory")
    opts = dict(options)
    if name == "activitynet-qa":
        opts["_answers"] = activitynet.qa_answers(path, opts)
    videos = VideoFolder(root.resolve())
    out = LoadedBenchmark(name=name, data_path=str(path), videos_dir=str(root))
    index = 0
    for where, rec in read_records(path):
        try:
            if isinstance(rec, RecordProblem):
                raise rec
            if not isinstance(rec, dict):
                raise RecordProblem(f"expected a JSON object, got {type(rec).__name__}")
            if loader.keep is not None and not loader.keep(rec, opts):
                out.filtered += 1
                continue
            opts["_soft"] = []
            parsed = loader.parse(rec, opts)
            for message in opts["_soft"]:
                problem = LoadProblem(str(path), where, message)
                if strict:
                    raise BenchmarkFormatError(str(problem))
                out.problems.append(problem)
        except RecordProblem as exc:
            problem = LoadProblem(str(path), where, str(exc))
            if strict:
                raise BenchmarkFormatError(str(problem)) from None
            out.problems.append(problem)
            continue
        for question in parsed:
            fields: dict[str, Any] = dict(question)
            video, exists = videos.find(fields.pop("video"))
            item = EvalItem(benchmark=name, index=index, video=video, **fields)
            index += 1
            (out.items if exists else out.missing).append(item)
    return out
