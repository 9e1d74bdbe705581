"""Shared pieces of the graphs: the runtime context, the reasoner protocol, event translation.

Nothing here imports langgraph at module level; the graph modules do.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from vt_agent.errors import ConfigError

if TYPE_CHECKING:
    from vt_agent.backends.base import PreparedVideo
    from vt_agent.config import BackendConfig
    from vt_agent.events import ReasonerEvent
    from vt_agent.result import Result, Segment

__all__ = [
    "GraphContext",
    "ReasonerLike",
    "StreamWriter",
    "context_of",
    "emit",
    "run_reasoner",
    "segment_record",
]

StreamWriter = Callable[[Any], None]


class ReasonerLike(Protocol):
    """What the graphs need of :class:`vt_agent.reasoner.VideoReasoner`."""

    def astream(
        self,
        videos: Sequence[str],
        question: str,
        options: Sequence[str] | None = None,
        *,
        window: tuple[float, float] | None = None,
        preset: str | None = None,
        thumbnails: int | None = None,
    ) -> AsyncIterator[ReasonerEvent]: ...

    async def prepare(
        self,
        videos: Sequence[str],
        preset: str | None = None,
        window: tuple[float, float] | None = None,
    ) -> list[PreparedVideo]: ...


@dataclass
class GraphContext:
    """Run-scoped context of every graph (``context=GraphContext(...)``), read through ``Runtime``.

    Give ``reasoner`` (a :class:`vt_agent.reasoner.VideoReasoner`), or ``backend`` (a name for
    :func:`vt_agent.backends.load_backend` with ``backend_options``, or a ``BackendConfig``) and the
    graph builds a reasoner on first use and keeps it on this context object. With neither, a run raises
    :class:`~vt_agent.errors.ConfigError`: the graphs never pick a model for you.
    """

    reasoner: ReasonerLike | None = None
    """The reasoner every node calls (the model client). Preferred."""
    backend: str | BackendConfig | None = None
    """Used when ``reasoner`` is None: a backend name ("fake", "transformers", "vllm", "openai") or a
    :class:`vt_agent.config.BackendConfig` (``backend="auto"`` resolved as the CLI does)."""
    backend_options: dict[str, Any] = field(default_factory=dict)
    """Keyword options for ``load_backend`` (model path, device, base_url, ...)."""
    preset: str | None = None
    """Sampling preset for the main pass (None: the reasoner's default)."""
    max_repairs: int = 1
    """How many times a malformed trace is asked again (video_thinker)."""
    verify: bool = False
    """Run the zoom-in verification pass by default (video_thinker; the input may override)."""
    verify_preset: str | None = None
    """Preset for the dense re-sampling inside a cited span (None: the main preset)."""
    verify_min_span_s: float = 2.0
    """Shortest window the verification samples; shorter spans are widened around their middle."""
    concurrency: int = 2
    """Most model calls a graph runs at once (multi-video fan-out, triage windows, verification)."""
    token_interval_s: float = 0.02
    """``token`` events are coalesced to at most one per interval (text joined, order kept; 0 = one
    event per delta). At a fast engine's pace each custom event costs more than the delta it carries."""
    _built: ReasonerLike | None = field(default=None, init=False, repr=False)
    _slots: Slots | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.max_repairs, int) or self.max_repairs < 0:
            raise ConfigError(f"max_repairs must be an integer >= 0, got {self.max_repairs!r}")
        if not isinstance(self.concurrency, int) or self.concurrency < 1:
            raise ConfigError(f"concurrency must be an integer >= 1, got {self.concurrency!r}")
        if self.verify_min_span_s <= 0:
            raise ConfigError(f"verify_min_span_s must be > 0, got {self.verify_min_span_s!r}")

    def get_reasoner(self) -> ReasonerLike:
        """The reasoner to use, built from ``backend`` on first use if none was given."""
        if self.reasoner is not None:
            return self.reasoner
        if self._built is not None:
            return self._built
        if self.backend is None:
            raise ConfigError(
                "the graph has no model: run it with context=GraphContext(reasoner=VideoReasoner(backend)) "
                "or context=GraphContext(backend='transformers', backend_options={...})"
            )
        from vt_agent.backends import backend_from_config, load_backend
        from vt_agent.config import BackendConfig
        from vt_agent.reasoner import VideoReasoner

        spec = self.backend
        if isinstance(spec, dict):  # JSON context from a LangGraph server
            spec = BackendConfig(**spec)
        if isinstance(spec, BackendConfig):
            backend, _notices = backend_from_config(spec)
        else:
            backend = load_backend(spec, **self.backend_options)
        built: ReasonerLike = VideoReasoner(backend)
        self._built = built
        return built

    def limiter(self) -> Slots:
        """``concurrency`` slots shared by every node of runs using this context (any thread or loop)."""
        if self._slots is None:
            self._slots = Slots(self.concurrency)
        return self._slots


class Slots:
    """A semaphore for coroutines on any event loop and thread: bounds model calls in both run modes.

    Sync graph runs execute parallel nodes in threads, each with its own event loop, so an
    ``asyncio.Semaphore`` would not bound them. Waiters park on a future of their own loop (no
    thread is blocked); a released slot passes straight to the oldest waiter.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self._free = n
        self._lock = threading.Lock()
        self._waiters: collections.deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = (
            collections.deque()
        )

    async def __aenter__(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._free > 0 and not self._waiters:
                self._free -= 1
                return
            fut: asyncio.Future[None] = loop.create_future()
            entry = (loop, fut)
            self._waiters.append(entry)
        try:
            await fut
        except asyncio.CancelledError:
            with self._lock:
                if entry in self._waiters:
                    self._waiters.remove(entry)  # never granted
            raise  # a slot granted meanwhile is passed on by _grant (the future is cancelled)

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        """Give a slot back: to the oldest waiter, else to the pool."""
        with self._lock:
            if not self._waiters:
                self._free += 1
                return
            loop, fut = self._waiters.popleft()
        try:
            loop.call_soon_threadsafe(self._grant, fut)
        except RuntimeError:  # that waiter's loop is closed: pass the slot on
            self.release()

    def _grant(self, fut: asyncio.Future[None]) -> None:
        if fut.done():  # cancelled while the slot was on its way
            self.release()
        else:
            fut.set_result(None)


def run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to completion from sync code (in a worker thread when a loop is running here)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def node(afunc: Callable[..., Awaitable[Any]]) -> Any:
    """An async node usable from both ``invoke``/``stream`` and ``ainvoke``/``astream``.

    LangGraph runs an ``async def`` node only under the async API; this pairs it with a sync
    twin that runs the same coroutine on its own event loop (the pattern of LangGraph's ToolNode).
    """
    import functools

    from langgraph._internal._runnable import RunnableCallable  # what ToolNode itself uses

    @functools.wraps(afunc)
    def sync(state: Any, runtime: Any) -> Any:
        return run_sync(afunc(state, runtime))  # type: ignore[arg-type]

    return RunnableCallable(sync, afunc, name=afunc.__name__)


def context_of(runtime: Any) -> GraphContext:
    """The :class:`GraphContext` of a node's runtime; a clear error when the run has none."""
    ctx = getattr(runtime, "context", None)
    if ctx is None:
        raise ConfigError(
            "the graph was run without a context: pass context=GraphContext(reasoner=...) "
            "(or GraphContext(backend=...)) to invoke/stream"
        )
    if isinstance(ctx, dict):  # a LangGraph server may hand the context over as JSON
        ctx = GraphContext(**ctx)
    if not isinstance(ctx, GraphContext):
        raise ConfigError(f"the graph context must be a GraphContext, got {type(ctx).__name__}")
    return ctx


def emit(writer: StreamWriter | None, event: dict[str, Any]) -> None:
    """Send one custom stream event (no-op when nobody streams ``custom``)."""
    if writer is not None:
        writer(event)


def segment_record(
    segment: Segment, *, video: int | None = None, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A segment as a JSON-able dict (global seconds), optionally re-stamped with a video index."""
    data = segment.model_dump(mode="json")
    data.update(extra or {})
    if video is not None:
        data["video"] = video
    return data


async def run_reasoner(
    reasoner: ReasonerLike,
    writer: StreamWriter | None,
    videos: Sequence[str],
    question: str,
    options: Sequence[str] | None = None,
    *,
    window: tuple[float, float] | None = None,
    preset: str | None = None,
    tokens: bool = True,
    tag: dict[str, Any] | None = None,
    video: int | None = None,
    token_interval_s: float = 0.0,
) -> tuple[Result, list[dict[str, Any]]]:
    """Stream one reasoner call, forwarding its events as custom stream events.

    Returns the Result and the segment steps in the order they were parsed. ``tag`` is merged
    into every event (e.g. ``{"attempt": 1}`` or ``{"window": 3}``); ``video`` re-stamps the
    segments' video index (a per-video call in a multi-video graph). ``token_interval_s``
    coalesces token events (pending text is always sent before any other event).
    """
    from vt_agent.events import AnswerEvent, FinishedEvent, ProgressEvent, SegmentClosed, TokenEvent

    extra = tag or {}
    steps: list[dict[str, Any]] = []
    result: Result | None = None
    pending: list[str] = []
    last_sent = 0.0

    def flush() -> None:
        nonlocal last_sent
        if pending:
            emit(writer, {"type": "token", "text": "".join(pending), **extra})
            pending.clear()
        last_sent = time.monotonic()

    stream = reasoner.astream(list(videos), question, options, window=window, preset=preset)
    try:
        async for event in stream:
            if isinstance(event, TokenEvent):
                if tokens and writer is not None:
                    pending.append(event.text)
                    if time.monotonic() - last_sent >= token_interval_s:
                        flush()
                continue
            if isinstance(event, SegmentClosed | AnswerEvent | ProgressEvent):
                flush()  # pending text goes out before the event it led to
            if isinstance(event, SegmentClosed):
                step = segment_record(event.segment, video=video, extra=extra)
                steps.append(step)
                emit(writer, {"type": "segment", **step})
            elif isinstance(event, AnswerEvent):
                emit(writer, {"type": "answer", "text": event.text, "letter": event.letter, **extra})
            elif isinstance(event, ProgressEvent):
                emit(
                    writer,
                    {
                        "type": "progress",
                        "stage": event.stage,
                        "message": event.message,
                        "fraction": event.fraction,
                        **extra,
                    },
                )
            elif isinstance(event, FinishedEvent):
                result = event.result
        flush()
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
    if result is None:
        from vt_agent.errors import BackendError

        raise BackendError("the reasoner stream ended without a result (no FinishedEvent)")
    return result, steps


def result_summary(result: Result, *, video: int | None = None) -> dict[str, Any]:
    """The JSON-able Result without the bulky parts (thumbnails' base64 is dropped)."""
    data = result.model_dump(mode="json")
    data["thumbnails"] = [{k: v for k, v in t.items() if k != "jpeg_base64"} for t in data["thumbnails"]]
    if video is not None:
        for seg in data["segments"]:
            seg["video"] = video
    return data
