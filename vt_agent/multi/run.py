"""``answer_videos``: the whole multi-video answer from Python, without LangGraph.

Per-video mode asks the videos through :class:`vt_agent.pipeline.Pipeline`: the next videos'
frames are sampled in a thread pool (one thread per core) while at most ``concurrency`` calls
generate; at most ``concurrency + 2 * cores`` videos hold frames at once (plus the frame cache,
bounded by ``vt_agent.video.set_cache_limit``; a file asked twice reuses its cached preparation).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Literal

from vt_agent.errors import ConfigError, VTAgentError
from vt_agent.multi.answer import ask_joint, ask_video, failure, synthesize
from vt_agent.multi.chat import as_chat
from vt_agent.multi.plan import DEFAULT_JOINT_MAX_VIDEOS, plan_question
from vt_agent.multi.types import Mode, MultiAnswer, Plan, VideoEvidence, VideoFailure
from vt_agent.result import Result
from vt_agent.sandbox import OpenedFile

__all__ = ["Progress", "answer_videos", "ask_each", "ask_each_prepared"]

Progress = Callable[[int, int, VideoEvidence | VideoFailure], None]
"""``(done, total, what the video gave)``, called as each video finishes."""


async def answer_videos(
    reasoner: Any,
    videos: Sequence[str],
    question: str,
    options: Sequence[str] | None = None,
    *,
    mode: Mode | Literal["auto"] | None = None,
    chat_model: Any = None,
    concurrency: int = 2,
    preset: str | None = None,
    joint_max_videos: int = DEFAULT_JOINT_MAX_VIDEOS,
    on_progress: Progress | None = None,
) -> MultiAnswer:
    """Plan ``question``, ask the videos (each alone, or jointly), and synthesise the answer.

    ``reasoner``: a :class:`~vt_agent.reasoner.VideoReasoner`; ``chat_model``: see
    :func:`vt_agent.multi.chat.as_chat` (None: rules, or joint mode where they cannot decide).
    A joint call that fails (e.g. the videos do not fit the context) falls back to per-video traces.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigError(f"concurrency must be an integer >= 1, got {concurrency!r}")
    paths = list(videos)
    opts = list(options or [])
    chat = as_chat(chat_model) if chat_model is not None else None
    plan = plan_question(
        question, opts, paths, mode=mode, has_chat=chat is not None, joint_max_videos=joint_max_videos
    )

    async def ask(v: list[str | OpenedFile], q: str, o: list[str] | None) -> Result:
        result: Result = await reasoner.areason(v, q, o, preset=preset)
        return result

    notes: list[str] = []
    if plan.mode == "joint":
        try:
            joint = await ask_joint(ask, paths, question, opts)
        except VTAgentError as exc:
            notes.append(f"the joint trace failed ({exc}); each video was asked on its own")
            plan = plan.model_copy(update={"mode": "per_video", "why": plan.why + "; joint failed"})
        else:
            return await synthesize(question, opts, paths, plan, [], [], joint=joint)
    if plan.sub.form in ("duration", "recorded"):  # read from each file: no frames to prepare
        evidence, errors = await ask_each(ask, plan, paths, concurrency, on_progress)
    else:
        evidence, errors = await ask_each_prepared(reasoner, plan, paths, concurrency, preset, on_progress)
    out = await synthesize(question, opts, paths, plan, evidence, errors, chat=chat)
    out.warnings[:0] = notes
    return out


async def ask_each(
    ask: Any, plan: Plan, paths: Sequence[str], concurrency: int, on_progress: Progress | None = None
) -> tuple[list[VideoEvidence], list[VideoFailure]]:
    """Every video asked its sub-question, at most ``concurrency`` at once; failures recorded."""
    slots = asyncio.Semaphore(concurrency)
    evidence: list[VideoEvidence] = []
    errors: list[VideoFailure] = []

    async def one(i: int, path: str) -> None:
        async with slots:
            try:
                got: VideoEvidence | VideoFailure = await ask_video(ask, plan, i, path)
            except VTAgentError as exc:
                got = failure(i, path, exc)
        (evidence if isinstance(got, VideoEvidence) else errors).append(got)  # type: ignore[arg-type]
        if on_progress is not None:
            on_progress(len(evidence) + len(errors), len(paths), got)

    await asyncio.gather(*(one(i, p) for i, p in enumerate(paths)))
    return evidence, errors


async def ask_each_prepared(
    reasoner: Any,
    plan: Plan,
    paths: Sequence[str],
    concurrency: int,
    preset: str | None = None,
    on_progress: Progress | None = None,
) -> tuple[list[VideoEvidence], list[VideoFailure]]:
    """:func:`ask_each` for a :class:`~vt_agent.reasoner.VideoReasoner`, frames prepared ahead."""
    import contextlib

    from vt_agent.pipeline import Pipeline, PipelineItem, PreparedItem

    async def generate(ready: PreparedItem) -> VideoEvidence:
        async def ask(v: list[str | OpenedFile], q: str, o: list[str] | None) -> Result:
            result: Result = await reasoner.areason(v, q, o, preset=ready.preset, prepared=ready.videos)
            return result

        return await ask_video(ask, plan, ready.item.data, paths[ready.item.data])

    evidence: list[VideoEvidence] = []
    errors: list[VideoFailure] = []
    items = [PipelineItem(i, path, plan.sub.question or "", data=i) for i, path in enumerate(paths)]
    pipeline = Pipeline(preset or reasoner.preset, concurrency=concurrency)
    try:
        async with contextlib.aclosing(pipeline.run(items, generate)) as results:
            async for done in results:
                i = done.item.data
                if done.value is not None:
                    evidence.append(done.value)
                    got: VideoEvidence | VideoFailure = done.value
                elif isinstance(done.error, VTAgentError):
                    errors.append(got := failure(i, paths[i], done.error))
                else:
                    assert done.error is not None
                    raise done.error  # a bug, not a video's failure
                if on_progress is not None:
                    on_progress(len(evidence) + len(errors), len(paths), got)
    finally:
        pipeline.close()
    return evidence, errors
