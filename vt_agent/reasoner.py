"""VideoReasoner: video(s) + question -> streamed, typed events -> one :class:`Result`.

::

    reasoner = VideoReasoner(load_backend("transformers", model="/models/Video-Thinker-7B"))
    result = reasoner.reason("clip.mp4", "What happens first?", ["A. x", "B. y"])
    async for event in reasoner.astream(["clip.mp4"], "What happens first?"):
        ...  # ProgressEvent, TokenEvent, trace events, then FinishedEvent(result)

The stream: ``ProgressEvent("decode")`` while the frames are sampled (in a thread), ``"load"``
while a backend that loads lazily loads its weights, then for every text delta a
:class:`TokenEvent` followed by the trace events it completes, then ``"thumbnails"`` if asked,
and last :class:`FinishedEvent`. Malformed model output never raises: the Result's ``format``,
``warnings`` and ``finish_reason`` say what is wrong. Backend failures raise
:class:`~vt_agent.errors.BackendError` subclasses. Stopping the iteration (``aclose()`` or
cancelling the consuming task) closes the backend's stream, which stops generation.

Times: the model's ``<time>`` spans are local to what it saw; segments carry global seconds
(the window's start added, clamped to the window or clip).

Multi-video rule: see :mod:`vt_agent.spans` (each segment is stamped with the video it cites).

Size (over 400 lines): one class whose stream stages (load, decode, generate, parse, thumbnails)
share one run's state; the pure pieces live in :mod:`vt_agent.spans` (windows, spans, the
multi-video rule) and :mod:`vt_agent.runs` (draining, plain text generation, the agent view).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import time
import uuid
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from vt_agent.backends.base import Backend, GenerationRequest, PreparedVideo
from vt_agent.errors import ConfigError, VTAgentError
from vt_agent.events import (
    FinishedEvent,
    ProgressEvent,
    ReasonerEvent,
    SegmentClosed,
    SegmentOpened,
    TokenEvent,
    TraceEvent,
)
from vt_agent.result import Result, SamplingRecord, Segment, Timings, answer_source
from vt_agent.sandbox import OpenedFile
from vt_agent.spans import assign_video, check_window, mentioned_video, seen_span
from vt_agent.video.presets import DEFAULT_PRESET

__all__ = ["DEFAULT_PRESET", "VideoReasoner", "assign_video", "sample_video"]

VideoPaths = str | os.PathLike[str] | OpenedFile | Sequence[str | os.PathLike[str] | OpenedFile]


def _paths(videos: VideoPaths) -> list[str | OpenedFile]:
    """Paths as strings; a file opened beneath a folder (vt_agent.sandbox) stays that open file."""
    if isinstance(videos, str | os.PathLike | OpenedFile):
        videos = [videos]
    if not isinstance(videos, Sequence):
        raise ConfigError(f"videos must be a path or a list of paths, got {type(videos).__name__}")
    out: list[str | OpenedFile] = []
    for v in videos:
        if not isinstance(v, str | os.PathLike | OpenedFile):
            raise ConfigError(f"a video must be a path, got {type(v).__name__}: {v!r}")
        out.append(v if isinstance(v, OpenedFile) else os.fspath(v))
    if not out:
        raise ConfigError("no video given: pass at least one video path")
    return out


def sample_video(
    path: str | OpenedFile, preset: str, window: tuple[float, float] | None = None
) -> PreparedVideo:
    """Blocking: one video's frames as every question samples them (frame cache included).

    The one preparation step of the protocol: :meth:`VideoReasoner.prepare` runs it in a worker
    thread, :mod:`vt_agent.pipeline` ahead of time in its pool.
    """
    from vt_agent.video import sample

    start_s, end_s = window if window is not None else (None, None)
    return sample(path, preset, start_s=start_s, end_s=end_s)


@dataclass
class _Loading:
    """A backend load in progress and the progress events it reported."""

    task: asyncio.Future[Any]
    queue: asyncio.Queue[ProgressEvent]


async def _pump(waiting: asyncio.Future[Any], loading: _Loading | None) -> AsyncIterator[ProgressEvent]:
    """Yield ``loading``'s progress events until ``waiting`` is done (then the ones already queued)."""
    if loading is None:
        await asyncio.wait({waiting})
        return
    while not waiting.done():
        getter = asyncio.ensure_future(loading.queue.get())
        try:
            await asyncio.wait({waiting, getter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not getter.done():
                getter.cancel()
        if getter.done() and not getter.cancelled():
            yield getter.result()
    while not loading.queue.empty():
        yield loading.queue.get_nowait()


class VideoReasoner:
    """Ask a backend about one or more videos, with the exact Video-Thinker protocol.

    ``preset``: frame sampling preset (``vt_agent.video.PRESETS``); ``max_tokens``: generation
    limit (1024 as in the paper); ``thumbnails``: evidence JPEGs at the first N cited spans;
    ``temperature``/``top_p``: decoding (docs/protocol.md, Decoding); ``concurrency``: at most this many
    generations at once through this reasoner (None: no limit of its own).
    """

    def __init__(
        self,
        backend: Backend,
        *,
        preset: str = DEFAULT_PRESET,
        max_tokens: int = 1024,
        thumbnails: int = 0,
        temperature: float = 0.1,
        top_p: float = 0.001,
        concurrency: int | None = None,
    ) -> None:
        if not isinstance(backend, Backend):
            raise ConfigError(
                f"{type(backend).__name__} is not a backend (needs name, model, scripted, stream(), close()); "
                "create one with vt_agent.backends.load_backend(name, ...)"
            )
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise ConfigError(f"max_tokens must be a positive integer, got {max_tokens!r}")
        _check_thumbnails(thumbnails)
        if concurrency is not None and (isinstance(concurrency, bool) or concurrency < 1):
            raise ConfigError(f"concurrency must be a positive integer or None, got {concurrency!r}")
        from vt_agent.video import get_preset

        get_preset(preset)  # fail early on an unknown preset
        self.backend = backend
        self.preset = preset
        self.max_tokens = max_tokens
        self.thumbnails = thumbnails
        self.temperature = temperature
        self.top_p = top_p
        self.concurrency = concurrency
        self._loaded_once = False
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    # ------------------------------------------------------------------ preparation

    async def prepare(
        self,
        videos: VideoPaths,
        preset: str | None = None,
        window: tuple[float, float] | None = None,
        ready: Sequence[PreparedVideo] | None = None,
    ) -> list[PreparedVideo]:
        """Sample every video (in a worker thread, in order); cached by file, preset and window.

        ``ready``: frames already sampled for these videos (see :meth:`astream`'s ``prepared``).
        """
        out = []
        paths = _paths(videos)
        async for item in self._prepare_iter(paths, preset or self.preset, check_window(window), None, ready):
            if isinstance(item, PreparedVideo):
                out.append(item)
        return out

    async def _prepare_iter(
        self,
        paths: list[str | OpenedFile],
        preset: str,
        window: tuple[float, float] | None,
        loading: _Loading | None = None,
        ready: Sequence[PreparedVideo] | None = None,
    ) -> AsyncIterator[PreparedVideo | ProgressEvent]:
        """Sample each video in a worker thread, in order, passing on ``loading``'s progress meanwhile.

        ``ready``: the videos already sampled (by :func:`sample_video`, e.g. ahead of time by
        :mod:`vt_agent.pipeline`); they are passed on as they are.
        """
        if ready is not None and len(ready) != len(paths):
            raise ConfigError(f"prepared holds {len(ready)} video(s) for {len(paths)} video path(s)")
        for i, path in enumerate(paths):
            if ready is None:
                job = asyncio.ensure_future(asyncio.to_thread(sample_video, path, preset, window))
                async for event in _pump(job, loading):
                    yield event
                prepared = job.result()
            else:
                prepared = ready[i]
                if prepared.record.preset != preset:
                    raise ConfigError(
                        f"prepared frames of {path} were sampled with preset {prepared.record.preset!r}, "
                        f"not {preset!r}: prepare them with the preset asked"
                    )
            rec = prepared.record
            yield prepared
            yield ProgressEvent(
                "decode",
                f"{os.path.basename(str(path))}: {len(rec.indices)} frames at {rec.sampled_fps:.2f} fps, "
                f"{rec.resized[0]}x{rec.resized[1]}, {rec.video_tokens} video tokens",
                (i + 1) / len(paths),
            )

    def _start_load(self) -> _Loading | None:
        """Start loading a lazily loading backend's weights, or None if there is nothing to load.

        Backends with a ``loaded`` flag are asked; others are loaded once per reasoner. A ``load``
        that takes a ``progress`` callback reports through it (from any thread).
        """
        load = getattr(self.backend, "load", None)
        if not callable(load) or getattr(self.backend, "loaded", self._loaded_once):
            return None
        queue: asyncio.Queue[ProgressEvent] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def report(event: ProgressEvent) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, event)

        queue.put_nowait(
            ProgressEvent("load", f"loading {self.backend.name} model {self.backend.model}", 0.0)
        )
        takes_progress = "progress" in inspect.signature(load).parameters
        task = asyncio.ensure_future(load(progress=report) if takes_progress else load())
        return _Loading(task, queue)

    async def load(self) -> None:
        """Load a lazily loading backend's weights now (no-op when loaded or nothing to load).

        :meth:`astream` loads on first use while the frames decode; call this first when several
        questions start at once, so that the weights load once.
        """
        loading = self._start_load()
        if loading is None:
            return
        try:
            await loading.task
        finally:
            if not loading.task.done():
                loading.task.cancel()
        self._loaded_once = True

    @contextlib.asynccontextmanager
    async def generation_slot(self) -> AsyncIterator[None]:
        """Hold one of the reasoner's ``concurrency`` generation slots (no limit when None)."""
        if self.concurrency is None:
            yield
            return
        loop = asyncio.get_running_loop()
        sem = self._semaphores.get(loop)
        if sem is None:
            sem = self._semaphores[loop] = asyncio.Semaphore(self.concurrency)
        async with sem:
            yield

    # ------------------------------------------------------------------ the stream

    async def astream(
        self,
        videos: VideoPaths,
        question: str,
        options: Sequence[str] | None = None,
        *,
        window: tuple[float, float] | None = None,
        preset: str | None = None,
        thumbnails: int | None = None,
        max_tokens: int | None = None,
        assistant_prefix: str = "",
        prefix_token_ids: Sequence[int] | None = None,
        stop_after_step: bool = False,
        prepared: Sequence[PreparedVideo] | None = None,
    ) -> AsyncGenerator[ReasonerEvent, None]:
        """Stream the events of one question (the last one is :class:`FinishedEvent`).

        Step by step: ``assistant_prefix`` is the trace so far (``prefix_token_ids`` its tokens,
        from earlier :class:`TokenEvent`s), which the model continues; its own steps are parsed
        again but not re-emitted. ``stop_after_step`` stops generating once a
        ``<time>``/``<caption>``/``<think>`` step closes (the answer step runs to the end); the
        :class:`FinishedEvent` then has ``paused=True`` and a result over the trace so far.
        ``prepared``: the videos' frames already sampled with this preset and window (one per
        video, from :func:`sample_video`, e.g. by :mod:`vt_agent.pipeline` ahead of time); no
        decoding then happens here and ``timings.decode_s`` counts only this call.
        """
        from vt_agent.prompts import build_messages, build_question, format_options

        paths = _paths(videos)
        win = check_window(window)
        n_thumbs = self.thumbnails if thumbnails is None else _check_thumbnails(thumbnails)
        limit = self.max_tokens if max_tokens is None else max_tokens
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(f"max_tokens must be a positive integer, got {limit!r}")
        question_text = build_question(question, options)  # validates question and options
        lettered = format_options(options) if options else []
        preset_name = preset or self.preset

        from vt_agent.video import check_source

        if prepared is None:
            for path in paths:  # a missing file fails before any model loads (in a thread: it stats)
                await asyncio.to_thread(check_source, path)
        t0 = time.perf_counter()
        loading = self._start_load()  # weights load while the frames decode
        try:
            yield ProgressEvent("decode", f"sampling {len(paths)} video(s) with preset {preset_name}", 0.0)
            sampled: list[PreparedVideo] = []
            async for item in self._prepare_iter(paths, preset_name, win, loading, prepared):
                if isinstance(item, PreparedVideo):
                    sampled.append(item)
                else:
                    yield item
            decode_s = time.perf_counter() - t0
            if loading is not None:
                async for event in _pump(loading.task, loading):
                    yield event
                loading.task.result()  # a failed load raises here
                self._loaded_once = True
                yield ProgressEvent("load", f"{self.backend.model} ready", 1.0)
        finally:
            if loading is not None and not loading.task.done():
                loading.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await loading.task

        records = [p.record for p in sampled]
        request = GenerationRequest(
            messages=build_messages(question_text, n_videos=len(sampled)),
            videos=sampled,
            max_tokens=limit,
            temperature=self.temperature,
            top_p=self.top_p,
            request_id=uuid.uuid4().hex,
            assistant_prefix=assistant_prefix,
            prefix_token_ids=None if prefix_token_ids is None else tuple(prefix_token_ids),
        )
        from vt_agent.trace import TraceParser

        multi = len(records) > 1
        start, length = seen_span(records[0])
        if multi:  # clamp to the longest for now; assign_video clamps each segment to its video
            length = max(seen_span(r)[1] for r in records)
        parser = TraceParser(duration_s=length, window_start_s=start, video=0)
        current = 0
        segments: list[Segment] = []
        recovered: set[str] = set()  # parser warnings the multi-video rule resolved

        def restamp(event: TraceEvent) -> TraceEvent:
            nonlocal current
            if isinstance(event, SegmentClosed):
                seg = assign_video(event.segment, current, records) if multi else event.segment
                recovered.update(set(event.segment.warnings) - set(seg.warnings))
                current = seg.video
                segments.append(seg)
                return SegmentClosed(seg)
            if multi and isinstance(event, SegmentOpened):
                video = mentioned_video([event.time_text], len(records))
                return SegmentOpened(
                    event.index,
                    event.time_text,
                    event.start_s,
                    event.end_s,
                    current if video is None else video,
                )
            return event

        for ev in parser.feed(assistant_prefix):  # the steps already in state: parsed, not re-emitted
            restamp(ev)
        parts: list[str] = [assistant_prefix]
        finish: str | None = None
        first_token_s: float | None = None
        paused = False
        async with self.generation_slot():
            model = f" ({self.backend.model})" if self.backend.model else " (the server's model)"
            yield ProgressEvent("generate", f"generating with {self.backend.name}{model}", None)
            stream = self.backend.stream(request)
            try:
                async for delta in stream:
                    step_closed = False
                    if delta.text or delta.token_ids:
                        if first_token_s is None:
                            first_token_s = time.perf_counter() - t0
                        parts.append(delta.text)
                        yield TokenEvent(delta.text, delta.token_ids)
                        for ev in parser.feed(delta.text):
                            step_closed = step_closed or isinstance(ev, SegmentClosed)
                            yield restamp(ev)
                    if delta.finish_reason is not None:
                        finish = delta.finish_reason
                    elif stop_after_step and step_closed:
                        paused = True
                        break
            finally:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    await aclose()
        gen_end = time.perf_counter()
        if not paused:
            for ev in parser.close():
                yield restamp(ev)

        result = self._result(
            question, lettered, parser, "".join(parts), segments, finish, limit, records, recovered
        )
        result.timings = Timings(
            decode_s=round(decode_s, 6),
            first_token_s=None if first_token_s is None else round(first_token_s, 6),
            total_s=round(gen_end - t0, 6),
            generated_chars=len(result.trace),
        )
        if n_thumbs and result.segments and not paused:
            yield ProgressEvent("thumbnails", f"taking up to {n_thumbs} evidence thumbnail(s)", None)
            from vt_agent.evidence import thumbnails_for

            thumbs, problems = await asyncio.to_thread(thumbnails_for, result.segments, paths, n_thumbs)
            result.thumbnails = thumbs
            result.warnings.extend(problems)
        yield FinishedEvent(result, paused=paused)

    def _result(
        self,
        question: str,
        lettered: list[str],
        parser: Any,
        trace: str,
        segments: list[Segment],
        finish: str | None,
        limit: int,
        records: list[SamplingRecord],
        recovered: set[str],
    ) -> Result:
        from vt_agent.backends.fake_traces import SCRIPTED_NOTICE
        from vt_agent.trace import answer_letter, check_format

        warnings: list[str] = []
        if self.backend.scripted:
            warnings.append(SCRIPTED_NOTICE)
        if finish == "length":
            warnings.append(f"the output was cut off at max tokens ({limit}): the trace is incomplete")
        elif finish is None:
            warnings.append("the backend stream ended without a finish reason")
        if not trace.strip():
            warnings.append("the model wrote nothing")
        warnings.extend(w for w in parser.warnings if w not in recovered)
        answer = answer_letter(trace) if trace.strip() else None
        if parser.answer_text is None and answer is not None:
            warnings.append(
                f"no <answer> tag: the letter {answer} was read from the text by the fallback rules"
            )
        elif parser.answer_text is not None and answer is None:
            warnings.append(f"the <answer> tag holds no option letter: {parser.answer_text!r}")
        if answer is not None and lettered and answer not in {o[0] for o in lettered}:
            warnings.append(
                f"answer {answer} is not one of the options ({', '.join(o[0] for o in lettered)})"
            )
        return Result(
            question=question,
            options=lettered,
            answer=answer,
            answer_text=parser.answer_text,
            segments=segments,
            reasoning=parser.reasoning_text.strip(),
            trace=trace,
            format=check_format(trace),
            warnings=warnings,
            finish_reason="length" if finish == "length" else "stop" if finish == "stop" else None,
            videos=records,
            backend=self.backend.name,
            model=self.backend.model,
            scripted=bool(self.backend.scripted),
            source=answer_source(self.backend.model, scripted=bool(self.backend.scripted)),
            answer_fallback=parser.answer_text is None and answer is not None,
        )

    # ------------------------------------------------------------------ conveniences

    async def areason(
        self,
        videos: VideoPaths,
        question: str,
        options: Sequence[str] | None = None,
        *,
        window: tuple[float, float] | None = None,
        preset: str | None = None,
        thumbnails: int | None = None,
        max_tokens: int | None = None,
        prepared: Sequence[PreparedVideo] | None = None,
    ) -> Result:
        """Run one question to the end and return its Result (``prepared``: see :meth:`astream`)."""
        from vt_agent.runs import drain

        return await drain(
            self.astream(
                videos,
                question,
                options,
                window=window,
                preset=preset,
                thumbnails=thumbnails,
                max_tokens=max_tokens,
                prepared=prepared,
            )
        )

    def reason(
        self,
        videos: VideoPaths,
        question: str,
        options: Sequence[str] | None = None,
        *,
        window: tuple[float, float] | None = None,
        preset: str | None = None,
        thumbnails: int | None = None,
        max_tokens: int | None = None,
    ) -> Result:
        """Blocking :meth:`areason` (runs its own event loop; not inside a running one)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise VTAgentError(
                "VideoReasoner.reason() was called inside a running event loop: use `await reasoner.areason(...)`"
            )
        return asyncio.run(
            self.areason(
                videos,
                question,
                options,
                window=window,
                preset=preset,
                thumbnails=thumbnails,
                max_tokens=max_tokens,
            )
        )

    async def aclose(self) -> None:
        """Close the backend (releases its engine)."""
        await self.backend.close()

    async def __aenter__(self) -> VideoReasoner:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _check_thumbnails(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ConfigError(f"thumbnails must be an integer >= 0, got {n!r}")
    return n
