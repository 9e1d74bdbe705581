"""Run a benchmark through a :class:`~vt_agent.reasoner.VideoReasoner`, one JSON line per question.

::

    loaded = load_benchmark("video-holmes", "test_Video-Holmes.json", "videos/")
    summary = run_benchmark(loaded, reasoner, "results.jsonl", protocol="video-thinker")

Protocols:

``video-thinker``
    The paper's exact prompt and answer rules (docs/protocol.md: Prompt, Answer rules), through
    :meth:`VideoReasoner.areason`. Multiple choice only: a benchmark with open questions is
    refused (:class:`ProtocolError`), since the ladder reads an option letter.
``official``
    Each benchmark's own prompt (:func:`official_messages`) and answer extraction
    (:func:`vt_agent.evaluation.extractors.extract_answer`). Frames are sampled exactly as under
    the video-thinker protocol (the preset); only the text around them changes.

Resume: each row's ``key`` is :func:`~vt_agent.evaluation.records.item_key` (docs/protocol.md, Answer rules, with
the video path relative to the videos directory), and questions whose key is already in the
output file are not run again. A file written with another benchmark, protocol, preset,
backend or model is refused rather than mixed. Rows with an error or a missing video count as
done unless ``retry_failed`` (they are then dropped from the file and run again).

Sharding: ``shard=(i, n)`` runs the questions at positions ``p`` (in file order, after
``limit``) with ``p % n == i``; shard outputs merge with :func:`merge_results` into the same
rows an unsharded run writes. A video that fails to decode, and a backend failure on one
question, become a row with ``error`` set; the run goes on.

Over 400 lines: the two protocols (video-thinker, official), resuming and sharding share the rules of one results file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

from vt_agent.busy import BusyMeter, busy_text
from vt_agent.errors import (
    BackendError,
    BackendUnavailableError,
    ConfigError,
    GenerationCancelled,
    ProtocolError,
    VideoError,
    VideoNotFoundError,
)
from vt_agent.evaluation.extractors import answer_matches
from vt_agent.evaluation.loaders import LoadedBenchmark
from vt_agent.evaluation.records import (
    LETTERS,
    EvalItem,
    EvalResult,
    ResultsFileError,
    read_results,
    write_results,
)
from vt_agent.jsonl import JsonlAppender, cut_partial_line

if TYPE_CHECKING:
    from vt_agent.batch.ray_run import RayOptions
    from vt_agent.pipeline import PreparedItem
    from vt_agent.reasoner import VideoReasoner

__all__ = [
    "PROTOCOLS",
    "MergeReport",
    "ProtocolError",
    "RunSummary",
    "arun_benchmark",
    "check_protocol",
    "merge_results",
    "official_messages",
    "parse_shard",
    "run_benchmark",
    "select_items",
]

PROTOCOLS = ("video-thinker", "official")


# ------------------------------------------------------------------------------ official prompts

VIDEO_HOLMES_TEMPLATE = (
    "Based on the given video, reason and answer the single-choice question. Provide your reasoning "
    "between the <think> and </think> tags, and then give your final answer between the <answer> and "
    "</answer> tags. The question is: {question}. The options are: {options}. Your answer:"
)
"""TencentARC/Video-Holmes ``evaluate.py``; options joined as ``"A: x, B: y"``."""

CG_BENCH_SYSTEM = (
    "You will be provided with sampled frames from a video, along with a multiple-choice question that "
    "includes a question and several answer options.\n"
    "Your task is to analyze the provided frames, infer the most plausible answer based on the visual "
    "information.\n"
    "If the video does not provide enough information, infer the answer based on the options available "
    "and still provide a result. Therefore, In all cases, an answer must be given.\n"
    "Only output the answer in the following format:\n\n"
    '```json\n{"result": "option"}\n```\n\n'
    'The "option" is the uppercase letter corresponding to your answer.\n\n'
)
"""CG-Bench/CG-Bench ``run/utils.py`` ``SYS['long_acc']`` (no subtitles, no frame times)."""

VIDEO_R1_TEMPLATE = (
    "{Question}\n"
    "Please think about this question as if you were a human pondering deeply. "
    "Engage in an internal dialogue using expressions such as 'let me think', 'wait', 'Hmm', 'oh, I see', "
    "'let's break it down', etc, or other natural language thought expressions "
    "It's encouraged to include self-reflection or verification in the reasoning process. "
    "Provide your detailed reasoning between the <think> </think> tags, and then give your final answer "
    "between the <answer> </answer> tags."
)
"""tulerfeng/Video-R1 ``src/eval_bench.py`` ``QUESTION_TEMPLATE``."""

VIDEO_R1_TYPE_TEMPLATE = {
    "multiple choice": " Please provide only the single option letter (e.g., A, B, C, D, etc.) within the "
    "<answer> </answer> tags.",
    "numerical": " Please provide the numerical value (e.g., 42 or 3.14) within the <answer> </answer> tags.",
    "OCR": " Please transcribe text from the image/video clearly and provide your text answer within the "
    "<answer> </answer> tags.",
    "free-form": " Please provide your text answer within the <answer> </answer> tags.",
    "regression": " Please provide the numerical value (e.g., 42 or 3.14) within the <answer> </answer> tags.",
}

LETTER_SUFFIX = "Answer the question with the option letter."
"""lmms-eval ``lvbench``; also used for ScaleLong, which publishes no prompt (this project's choice)."""

SHORT_ANSWER_SUFFIX = "Answer the question using a single word or phrase."
"""ActivityNet-QA publishes no model prompt, only its exact-match scorer; this short-answer
instruction (the usual lmms-eval wording) is this project's choice."""


def _user(text: str, system: str | None = None) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if system is not None:
        messages.append({"role": "system", "content": [{"type": "text", "text": system}]})
    messages.append(
        {"role": "user", "content": [{"type": "video", "video": 0}, {"type": "text", "text": text}]}
    )
    return messages


def official_messages(item: EvalItem) -> list[dict[str, Any]]:
    """The chat messages of ``item``'s benchmark's own prompt (video first, then the text).

    Without a system message, the Qwen chat template adds its default one, as in the official
    scripts that call ``apply_chat_template`` on a single user turn. STAR and vt-agent's JSONL
    have no official prompt: they get the Video-Thinker prompt (docs/protocol.md, Prompt).
    """
    from vt_agent.prompts import build_messages, build_question

    b = item.benchmark
    if b == "video-holmes":
        opts = ", ".join(f"{LETTERS[i]}: {o}" for i, o in enumerate(item.options))
        return _user(VIDEO_HOLMES_TEMPLATE.format(question=item.problem, options=opts))
    if b in ("cg-bench", "cg-bench-reasoning"):
        lines = "\n".join(f"{LETTERS[i]}:{o}" for i, o in enumerate(item.options))
        return _user(f"Question: {item.problem}\n\n{lines}\n\n", system=CG_BENCH_SYSTEM)
    if b == "vrbench":
        lines = "".join(f"\n{LETTERS[i]}: {o}" for i, o in enumerate(item.options))
        return _user(f"Question: {item.problem}\nOptions:{lines}")
    if b in ("lvbench", "scalelong"):
        lines = "".join(f"\n({LETTERS[i]}) {o}" for i, o in enumerate(item.options))
        return _user(f"{item.problem}{lines}\n{LETTER_SUFFIX}")
    if b == "activitynet-qa":
        return _user(f"{item.problem}\n{SHORT_ANSWER_SUFFIX}")
    if b == "youcook2":
        return _user(item.problem)
    if b == "video-r1":
        ptype = item.question_type or "multiple choice"
        question = item.problem
        if item.options:
            question += "Options:\n" + "".join(f"{o}\n" for o in item.lettered_options)
        suffix = VIDEO_R1_TYPE_TEMPLATE.get(ptype, VIDEO_R1_TYPE_TEMPLATE["free-form"])
        return _user(VIDEO_R1_TEMPLATE.format(Question=question) + suffix)
    return build_messages(build_question(item.problem, item.options or None))


def check_protocol(benchmark: str, items: Sequence[EvalItem], protocol: str) -> None:
    """Raise :class:`ProtocolError` if ``items`` cannot be run under ``protocol``."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}: use one of {', '.join(PROTOCOLS)}")
    if protocol != "video-thinker":
        return
    open_items = [it for it in items if not it.options]
    if open_items:
        raise ProtocolError(
            f"{benchmark} has {len(open_items)} open-ended question(s) (no options, e.g. {open_items[0].id!r}): "
            "the video-thinker protocol is the paper's multiple-choice prompt and answer rules, "
            "which reads an option letter and cannot score free-form answers. "
            "Run it with --protocol official (the benchmark's own prompt and scorer)."
        )


# ------------------------------------------------------------------------------ selection


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/N"`` (0-based) -> ``(i, N)``."""
    try:
        i_text, n_text = text.split("/")
        i, n = int(i_text), int(n_text)
    except ValueError:
        raise ConfigError(f"--shard must be i/N with 0 <= i < N, e.g. 0/4; got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise ConfigError(f"--shard {text}: need N >= 1 and 0 <= i < N (shards are 0-based)")
    return i, n


def select_items(
    items: Sequence[EvalItem], shard: tuple[int, int] | None = None, limit: int | None = None
) -> list[EvalItem]:
    """The first ``limit`` items in file order, then this shard's share (position % N == i)."""
    ordered = sorted(items, key=lambda it: it.index)
    if limit is not None:
        if limit < 0:
            raise ConfigError(f"limit must be >= 0, got {limit}")
        ordered = ordered[:limit]
    if shard is None:
        return ordered
    i, n = shard
    return [it for pos, it in enumerate(ordered) if pos % n == i]


# ------------------------------------------------------------------------------ running


@dataclass
class RunSummary:
    """What one run did."""

    benchmark: str
    protocol: str
    out: str
    selected: int = 0
    already_done: int = 0
    ran: int = 0
    errors: int = 0
    skipped: int = 0
    answered: int = 0
    correct: int = 0
    """Rows of this run whose prediction equals the gold answer exactly (a quick figure; the
    official scores come from ``vt-agent eval score``)."""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What the run did to the results file beyond appending (a row cut off mid-write dropped)."""
    wall_s: float = 0.0
    prepare_workers: int = 0
    prepare_busy: float | None = None
    """Share of the preparation workers' time spent preparing frames (:mod:`vt_agent.busy`)."""
    engine_busy: float | None = None
    """Share of the run with at least one generation running (None on Ray, or when nothing ran)."""

    def line(self) -> str:
        acc = f", {self.correct}/{self.answered} exact matches" if self.answered else ""
        busy = busy_text(self.prepare_workers, self.prepare_busy, self.engine_busy)
        busy = f", {busy}" if busy else ""
        return (
            f"{self.benchmark} ({self.protocol}): {self.selected} selected, {self.already_done} already in "
            f"{self.out}, {self.ran} run ({self.errors} error(s), {self.skipped} skipped: video missing){acc}, "
            f"{self.wall_s:.1f} s{busy}"
        )


def _check_compatible(
    existing: Sequence[EvalResult], benchmark: str, protocol: str, preset: str, backend: Any, out: Path
) -> None:
    for row in existing:
        mismatch = [
            f"{name} {theirs!r} (this run: {ours!r})"
            for name, theirs, ours in (
                ("benchmark", row.benchmark, benchmark),
                ("protocol", row.protocol, protocol),
                ("preset", row.preset, preset),
            )
            if theirs != ours
        ]
        if not row.skipped:
            for name, theirs, ours in (
                ("backend", row.backend, backend.name),
                ("model", row.model, backend.model),
            ):
                if theirs and theirs != ours:
                    mismatch.append(f"{name} {theirs!r} (this run: {ours!r})")
        if mismatch:
            raise ConfigError(
                f"{out} already holds results of another run: {'; '.join(mismatch)}. "
                "Write to another --out file (or delete this one) rather than mixing runs."
            )


def _base_row(item: EvalItem, protocol: str, preset: str, backend: Any) -> dict[str, Any]:
    return {
        "key": item.key,
        "benchmark": item.benchmark,
        "id": item.id,
        "video": item.video,
        "question_type": item.question_type,
        "problem": item.problem,
        "options": list(item.options),
        "answer": item.answer,
        "gold_spans": list(item.gold_spans),
        "protocol": protocol,
        "preset": preset,
        "backend": backend.name,
        "model": backend.model,
    }


def _segments(segments: Iterable[Any]) -> list[dict[str, Any]]:
    return [{"start_s": s.start_s, "end_s": s.end_s, "caption": s.caption} for s in segments]


async def _video_thinker(item: EvalItem, ready: PreparedItem, reasoner: VideoReasoner) -> dict[str, Any]:
    from vt_agent.pipeline import reason_with

    result = await reason_with(reasoner)(ready)
    return {
        "prediction": result.answer,
        "raw_output": result.trace,
        "format_ok": result.format.ok,
        "segments": _segments(result.segments),
        "timings": result.timings.model_dump(),
    }


async def _official(item: EvalItem, ready: PreparedItem, reasoner: VideoReasoner) -> dict[str, Any]:
    from vt_agent.evaluation.extractors import extract_answer
    from vt_agent.runs import generate_text
    from vt_agent.spans import seen_span
    from vt_agent.trace import parse_trace

    videos = list(ready.item.sources)
    out = await generate_text(
        reasoner,
        videos,
        official_messages(item),
        window=item.window,
        preset=ready.preset,
        prepared=ready.videos,
    )
    start, length = seen_span(out.videos[0])
    parsed = parse_trace(out.text, duration_s=length, window_start_s=start)
    prediction = extract_answer(item.benchmark, out.text, item)
    return {
        "prediction": prediction,
        "raw_output": out.text,
        "format_ok": prediction is not None,
        "segments": _segments(parsed.segments),
        "timings": {**out.timings.model_dump(), "decode_s": round(ready.prepare_s, 6)},
    }


def _video_path(videos_dir: Path, item: EvalItem) -> str:
    p = Path(item.video)
    return str(p if p.is_absolute() else videos_dir / p)


class _Progress:
    """A tqdm bar on stderr (a plain counter when tqdm is not installed)."""

    def __init__(self, total: int, desc: str, enabled: bool, stream: TextIO) -> None:
        self._bar: Any = None
        self._plain = False
        self._n = 0
        self._total = total
        self._desc = desc
        self._stream = stream
        if not enabled or total == 0:
            return
        try:
            from tqdm import tqdm
        except ImportError:
            self._plain = True
            return
        self._bar = tqdm(total=total, desc=desc, file=stream, unit="q", dynamic_ncols=True)

    def update(self, postfix: str) -> None:
        self._n += 1
        if self._bar is not None:
            self._bar.set_postfix_str(postfix, refresh=False)
            self._bar.update(1)
        elif self._plain:
            print(f"{self._desc}: {self._n}/{self._total} {postfix}", file=self._stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


async def arun_benchmark(
    loaded: LoadedBenchmark,
    reasoner: VideoReasoner,
    out: str | os.PathLike[str],
    *,
    protocol: str = "video-thinker",
    shard: tuple[int, int] | None = None,
    limit: int | None = None,
    concurrency: int = 1,
    progress: bool = False,
    retry_failed: bool = False,
    progress_stream: TextIO | None = None,
    prepare_workers: int | None = None,
    prepare_pool: Literal["thread", "process"] = "thread",
    ray: RayOptions | None = None,
) -> RunSummary:
    """Run ``loaded``'s questions (this shard's, not yet in ``out``) and append a row for each.

    Questions go through :class:`vt_agent.pipeline.Pipeline`: the frames of upcoming questions are
    prepared by ``prepare_workers`` threads (default: the cores; ``prepare_pool="process"``:
    processes) while ``concurrency`` generate.
    ``ray``: the same two stages on the connected Ray cluster instead (:mod:`vt_agent.batch.ray_run`;
    its engine actors build their own backend, named like ``reasoner``'s; no ``prepare_pool``).
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigError(f"concurrency must be a positive integer, got {concurrency!r}")
    from vt_agent.batch.runner import check_prepare_pool

    check_prepare_pool(prepare_pool, ray is not None)
    check_protocol(loaded.name, loaded.all_items, protocol)
    t0 = time.perf_counter()
    out_path = Path(out)
    videos_dir = Path(loaded.videos_dir).resolve()
    backend = reasoner.backend
    preset: str = reasoner.preset
    chosen = select_items(loaded.all_items, shard, limit)
    summary = RunSummary(loaded.name, protocol, str(out_path), selected=len(chosen))
    summary.problems = [str(p) for p in loaded.problems]

    existing = read_results(out_path)  # refuses a file that is not a results file, changing nothing
    try:
        cut = cut_partial_line(out_path)
    except ValueError as exc:
        raise ResultsFileError(str(exc)) from None
    if cut:  # a row cut off by a run stopped mid-write: its question runs again
        summary.notes.append(
            f"{out_path}: dropped its last row, cut off by an earlier run stopped mid-write; its question runs again"
        )
        existing = read_results(out_path)
    _check_compatible(existing, loaded.name, protocol, preset, backend, out_path)
    if retry_failed and any(r.failed for r in existing):
        existing = [r for r in existing if not r.failed]
        write_results(out_path, existing)
    done = {r.key for r in existing}
    todo = [it for it in chosen if it.key not in done]
    summary.already_done = len(chosen) - len(todo)
    if not todo:
        summary.wall_s = time.perf_counter() - t0
        return summary

    missing_keys = {it.key for it in loaded.missing}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    run_one = _video_thinker if protocol == "video-thinker" else _official
    bar = _Progress(len(todo), loaded.name, progress, progress_stream or sys.stderr)
    from vt_agent.pipeline import ItemResult, Pipeline, PipelineItem

    def row_of(item: EvalItem) -> dict[str, Any]:
        return _base_row(item, protocol, preset, backend)

    load_lock = asyncio.Lock()
    loaded_backend = False

    async def generate(ready: PreparedItem) -> EvalResult:
        nonlocal loaded_backend
        if not loaded_backend:  # once, at the first generation: later frames prepare meanwhile
            async with load_lock:
                if not loaded_backend:
                    await reasoner.load()
                    loaded_backend = True
        item: EvalItem = ready.item.data
        return EvalResult(**row_of(item), **(await run_one(item, ready, reasoner)))

    def finished(done: ItemResult[EvalResult]) -> EvalResult:
        if done.value is not None:
            return done.value
        row, exc = row_of(done.item.data), done.error
        if isinstance(exc, VideoNotFoundError):
            return EvalResult(**row, skipped=True, error=str(exc))
        if isinstance(exc, VideoError | BackendError):
            return EvalResult(**row, error=f"{type(exc).__name__}: {exc}")
        assert exc is not None
        raise exc  # a bug, not a question's failure

    def record(out: JsonlAppender, result: EvalResult) -> None:
        out.write(result.model_dump(mode="json"))
        summary.ran += 1
        if result.skipped:
            summary.skipped += 1
        elif result.error is not None:
            summary.errors += 1
        else:
            summary.answered += 1
            summary.correct += int(
                answer_matches(result.benchmark, result.prediction, result.answer, options=result.options)
            )
        bar.update(f"{summary.correct}/{summary.answered} exact" if summary.answered else "")

    runnable: list[PipelineItem] = []
    with JsonlAppender(out_path) as fh:
        for item in todo:
            path = _video_path(videos_dir, item)
            if item.key in missing_keys or not Path(path).is_file():
                record(fh, EvalResult(**row_of(item), skipped=True, error=f"video not found: {path}"))
            else:
                runnable.append(PipelineItem(item.key, path, item.problem, window=item.window, data=item))
        pipeline = Pipeline(
            preset,
            workers=prepare_workers,
            concurrency=concurrency,
            pool=prepare_pool,
            model_inputs=backend.name == "transformers",
        )
        try:
            if ray is not None:
                from vt_agent.evaluation.on_ray import run_on_ray

                await run_on_ray(runnable, ray, protocol, run_one, lambda done: record(fh, finished(done)))
            else:
                meter, started = BusyMeter(), time.time()
                stages = pipeline.run(
                    runnable, generate, fatal=(BackendUnavailableError, GenerationCancelled), meter=meter
                )
                async with contextlib.aclosing(stages):  # an error below cancels the items in flight at once
                    async for outcome in stages:
                        record(fh, finished(outcome))
                summary.prepare_workers = meter.workers
                summary.prepare_busy, summary.engine_busy = meter.shares(time.time() - started, meter.workers)
        finally:
            pipeline.close()
            bar.close()
    summary.wall_s = time.perf_counter() - t0
    return summary


def run_benchmark(
    loaded: LoadedBenchmark,
    reasoner: VideoReasoner,
    out: str | os.PathLike[str],
    **kwargs: Any,
) -> RunSummary:
    """Blocking :func:`arun_benchmark` (closes nothing: the caller owns the reasoner)."""
    return asyncio.run(arun_benchmark(loaded, reasoner, out, **kwargs))


# ------------------------------------------------------------------------------ merging


@dataclass
class MergeReport:
    """Rows of several result files, one per key."""

    results: list[EvalResult]
    files: list[str]
    duplicates: int = 0
    """Keys found in more than one row with the same prediction (kept once)."""
    conflicts: list[str] = field(default_factory=list)
    """Keys whose rows disagree (the first answered row is kept)."""


def merge_results(paths: Sequence[str | os.PathLike[str]]) -> MergeReport:
    """Merge shard outputs (or resumed runs): one row per key, in the order first seen.

    A row with a prediction wins over an error or skipped row for the same key. Files from
    different benchmarks, protocols or presets are refused (:class:`ConfigError`).
    """
    if not paths:
        raise ConfigError("nothing to merge: give at least one results file")
    by_key: dict[str, EvalResult] = {}
    report = MergeReport(results=[], files=[str(p) for p in paths])
    seen: tuple[str, str, str] | None = None
    for p in paths:
        if not Path(p).exists():
            raise ConfigError(f"{p}: no such results file")
        for row in read_results(p):
            ident = (row.benchmark, row.protocol, row.preset)
            if seen is None:
                seen = ident
            elif ident != seen:
                raise ConfigError(
                    f"{p}: rows of {ident[0]}/{ident[1]}/{ident[2]} cannot be merged with {seen[0]}/{seen[1]}/{seen[2]} "
                    "(benchmark/protocol/preset differ)"
                )
            old = by_key.get(row.key)
            if old is None:
                by_key[row.key] = row
            elif old.failed and not row.failed:
                by_key[row.key] = row
                report.duplicates += 1
            elif (
                not old.failed
                and not row.failed
                and (old.prediction, old.raw_output) != (row.prediction, row.raw_output)
            ):
                report.conflicts.append(f"{row.key} ({row.benchmark} {row.id}): kept the first row")
            else:
                report.duplicates += 1
    report.results = list(by_key.values())
    return report
