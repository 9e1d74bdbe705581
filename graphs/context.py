"""The runtime context of every graph: JSON (:class:`RunContext`) or :class:`GraphContext`.

* From a LangGraph server (``langgraph dev``, the SDK, Studio): plain JSON named like the CLI's
  flags, e.g. ``{"backend": "fake"}`` or ``{"backend": "openai", "base_url": "http://h:8000/v1"}``;
  :class:`RunContext` is its schema (what Studio renders). Each compiled graph keeps a
  :class:`ContextCache`: the same JSON context reuses the same reasoner (model loaded once).
* From Python: ``context=GraphContext(reasoner=VideoReasoner(backend))`` (a ready reasoner), or
  the same JSON dict.

Nodes read it with :func:`context_of`. Importing this module is light (no langgraph, no torch).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import functools
import json
import os
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol, TypeVar

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from graphs._bridge import Slots
from vt_agent.errors import ConfigError

if TYPE_CHECKING:
    from vt_agent.config import BackendConfig
    from vt_agent.events import ReasonerEvent
    from vt_agent.sandbox import OpenedFile
    from vt_agent.video.prepared import PreparedVideo

__all__ = [
    "CONTEXT_FIELDS",
    "ContextCache",
    "GraphContext",
    "ReasonerLike",
    "RunContext",
    "bind",
    "context_from_json",
    "context_of",
]


class ReasonerLike(Protocol):
    """What the graphs need of :class:`vt_agent.reasoner.VideoReasoner`."""

    def astream(
        self,
        videos: Sequence[str | OpenedFile],
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
    ) -> AsyncIterator[ReasonerEvent]: ...

    async def prepare(
        self,
        videos: Sequence[str | OpenedFile],
        preset: str | None = None,
        window: tuple[float, float] | None = None,
    ) -> list[PreparedVideo]: ...


def _f(description: str) -> Any:
    return Field(description=description)


class RunContext(TypedDict, total=False):
    """The run context as JSON (what a LangGraph server client sends), named like the CLI's flags.

    ``{"backend": "fake"}`` is a whole context; every field is optional but ``backend`` (or
    ``base_url``, which means the ``openai`` backend) names the model to use.
    """

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    backend: Annotated[
        Literal["auto", "transformers", "vllm", "openai", "fake"],
        _f("transformers, vllm, openai (an OpenAI-compatible server), fake (scripted traces) or auto"),
    ]
    model: Annotated[str, _f("hub id or checkpoint folder (openai: the served model's name)")]
    base_url: Annotated[str, _f("OpenAI-compatible API root, e.g. http://127.0.0.1:8000/v1")]
    api_key: Annotated[str, _f("bearer token for base_url")]
    device: Annotated[str, _f("cuda, cuda:N, mps or cpu (default: auto)")]
    dtype: Annotated[str, _f("bfloat16, float16, float32 or auto")]
    backend_options: Annotated[dict[str, Any], _f("extra keyword options for the backend")]
    preset: Annotated[str, _f("frame sampling preset, e.g. video-thinker-16f")]
    max_tokens: Annotated[int, Field(ge=1, description="generation limit per answer (default 1024)")]
    max_repairs: Annotated[int, Field(ge=0, description="times a malformed trace is asked again (1)")]
    verify: Annotated[bool, _f("video_thinker: zoom-in verification of the cited spans (off)")]
    verify_preset: Annotated[str, _f("video_thinker: preset of the verification pass")]
    stepwise: Annotated[bool, _f("video_thinker: one grounded step per graph step (on)")]
    interrupt_steps: Annotated[bool, _f("video_thinker: pause after each step for review (off)")]
    concurrency: Annotated[int, Field(ge=1, description="most model calls at once (2)")]
    token_interval_s: Annotated[float, Field(ge=0, description="token events at most this often (0.02)")]
    chat_model: Annotated[dict[str, Any], _f("multi_video: OpenAI-server options of the chat model")]


CONTEXT_FIELDS: tuple[str, ...] = tuple(RunContext.__annotations__)
"""The JSON context's keys, in order."""
_CHECK = TypeAdapter(RunContext)
T = TypeVar("T")
_BACKEND_KEYS = ("model", "base_url", "api_key", "device", "dtype")


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
    max_tokens: int | None = None
    """Generation limit per answer (None: the reasoner's, 1024)."""
    stepwise: bool = True
    """video_thinker: generate one grounded step per graph step (False: one call per answer)."""
    interrupt_steps: bool = False
    """video_thinker: pause (``interrupt``) after each step so the caller can keep, edit or drop it."""
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
    chat_model: Any = None
    """multi_video: the chat model that weighs per-video descriptions (comparison, synthesis): a
    LangChain chat model, a vt-agent backend (``load_backend("openai", base_url=...)``), or a dict of
    OpenAI-server options. None: rules only, and one joint trace where rules cannot decide."""
    token_interval_s: float = 0.02
    """``token`` events are coalesced to at most one per interval (text joined, order kept; 0 = one
    event per delta). At a fast engine's pace each custom event costs more than the delta it carries."""
    roots: Sequence[str | os.PathLike[str]] | None = None
    """Folders the graphs may read videos from (a relative path is taken beneath the first). None:
    the folders of ``VT_AGENT_ALLOWED_ROOTS`` when it is set (the server's setting: a JSON context
    cannot change it), else any path. With roots, each node opens the videos beneath them and
    reads only through those descriptors (:mod:`vt_agent.sandbox`)."""
    _built: ReasonerLike | None = field(default=None, init=False, repr=False)
    _slots: Slots | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)
    _parent: GraphContext | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.max_repairs, int) or self.max_repairs < 0:
            raise ConfigError(f"max_repairs must be an integer >= 0, got {self.max_repairs!r}")
        if not isinstance(self.concurrency, int) or self.concurrency < 1:
            raise ConfigError(f"concurrency must be an integer >= 1, got {self.concurrency!r}")
        if self.max_tokens is not None and (isinstance(self.max_tokens, bool) or self.max_tokens < 1):
            raise ConfigError(f"max_tokens must be a positive integer, got {self.max_tokens!r}")
        if self.verify_min_span_s <= 0:
            raise ConfigError(f"verify_min_span_s must be > 0, got {self.verify_min_span_s!r}")
        if self.roots is not None:
            from vt_agent.sandbox import check_folders

            self.roots = check_folders(self.roots, "GraphContext.roots")

    def beneath(self, roots: Sequence[str | os.PathLike[str]]) -> GraphContext:
        """This context (the same reasoner, built once, and the same concurrency slots) reading
        videos only beneath ``roots``."""
        child = dataclasses.replace(self, roots=list(roots))
        child._parent = self._parent or self
        return child

    def allowed_roots(self) -> list[str] | None:
        """The folders videos may be read from: ``roots``, else ``VT_AGENT_ALLOWED_ROOTS``, else None (any)."""
        from vt_agent.sandbox import env_roots

        return [os.fspath(r) for r in self.roots] if self.roots is not None else env_roots()

    @contextlib.asynccontextmanager
    async def readable(self, videos: Sequence[str]) -> AsyncIterator[list[str | OpenedFile]]:
        """``videos`` as the reasoner should read them: opened beneath :meth:`allowed_roots` (closed
        on exit; a path outside them raises :class:`~vt_agent.errors.PathNotAllowedError`), or the
        paths themselves when any path is allowed. Every file system call runs in a worker thread."""
        from vt_agent.sandbox import ROOTS_ENV, opened_in_roots

        if self.roots is None and not os.environ.get(ROOTS_ENV, "").strip():
            yield list(videos)
            return
        stack = contextlib.ExitStack()

        def open_all() -> list[str | OpenedFile]:
            roots = self.allowed_roots()  # checks the folders: a stat each
            return (
                list(videos) if roots is None else list(stack.enter_context(opened_in_roots(roots, videos)))
            )

        # Closed on exit, also when the run is cancelled while they open (the thread then ends on
        # its own, and what it opens after that closes when collected: OpenedFile.__del__).
        with stack:
            got = await asyncio.to_thread(open_all)
            yield got

    def get_reasoner(self) -> ReasonerLike:
        """The reasoner to use, built from ``backend`` on first use if none was given."""
        if self.reasoner is not None:
            return self.reasoner
        if self._parent is not None:
            return self._parent.get_reasoner()
        with self._lock:  # one build when several nodes ask at once
            if self._built is None:
                self._built = self._build()
            return self._built

    async def aget_reasoner(self) -> ReasonerLike:
        """:meth:`get_reasoner` with the build (hub checks, backend creation) in a worker thread."""
        if self.reasoner is not None:
            return self.reasoner
        if self._parent is not None:
            return await self._parent.aget_reasoner()
        if self._built is not None:
            return self._built
        return await asyncio.to_thread(self.get_reasoner)

    def _build(self) -> ReasonerLike:
        if self.backend is None:
            raise ConfigError(
                'the graph has no model: send a JSON context such as {"backend": "fake"} or '
                '{"backend": "openai", "base_url": "http://127.0.0.1:8000/v1"} '
                f"(fields: {', '.join(CONTEXT_FIELDS)}); from Python also "
                "context=GraphContext(reasoner=VideoReasoner(backend))"
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
        kwargs: dict[str, Any] = {} if self.max_tokens is None else {"max_tokens": self.max_tokens}
        built: ReasonerLike = VideoReasoner(backend, **kwargs)
        return built

    def limiter(self) -> Slots:
        """``concurrency`` slots shared by every node of runs using this context (any thread or loop)."""
        if self._parent is not None:
            return self._parent.limiter()
        if self._slots is None:
            self._slots = Slots(self.concurrency)
        return self._slots


def context_from_json(data: Mapping[str, Any]) -> GraphContext:
    """A :class:`GraphContext` from the JSON context (:class:`RunContext`); errors name the fields."""
    try:
        checked = _CHECK.validate_python(dict(data))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'context'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(
            f"bad graph context ({problems}); send JSON with the fields {', '.join(CONTEXT_FIELDS)}, "
            'e.g. {"backend": "fake"}'
        ) from None
    values: dict[str, Any] = dict(checked)
    backend_fields = {k: values.pop(k) for k in _BACKEND_KEYS if k in values}
    options = values.pop("backend_options", {})
    name = values.pop("backend", None)
    if name is None and backend_fields.get("base_url"):
        name = "openai"
    backend: Any = None
    if name is not None:
        from vt_agent.config import BackendConfig

        backend = BackendConfig(backend=name, options=options, **backend_fields)
    elif backend_fields or options:
        raise ConfigError(
            f"the graph context sets {', '.join([*backend_fields, *(['backend_options'] if options else [])])} "
            'but no "backend": add e.g. "backend": "transformers" (or "openai" with a base_url)'
        )
    return GraphContext(backend=backend, **values)


class ContextCache:
    """JSON contexts to :class:`GraphContext` objects, keyed by the JSON: the same context sent
    again reuses its reasoner (the model loads once) and its concurrency slots. Keeps the
    ``size`` most recently used."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._items: collections.OrderedDict[str, GraphContext] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, data: Mapping[str, Any]) -> GraphContext:
        try:
            key = json.dumps(data, sort_keys=True, default=repr)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"the graph context is not JSON data: {exc}") from None
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        built = context_from_json(data)
        with self._lock:
            found = self._items.setdefault(key, built)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return found

    def __len__(self) -> int:
        return len(self._items)


def bind(fn: Callable[..., T], contexts: ContextCache) -> Callable[..., T]:
    """``fn(state, runtime, contexts=contexts)`` as a node function of a graph with that cache."""
    bound = functools.partial(fn, contexts=contexts)
    bound.__name__ = fn.__name__  # type: ignore[attr-defined]
    bound.__doc__ = fn.__doc__
    return bound


def context_of(runtime: Any, cache: ContextCache | None = None) -> GraphContext:
    """The :class:`GraphContext` of a node's runtime (a JSON context through ``cache``)."""
    ctx = getattr(runtime, "context", None)
    if ctx is None or (isinstance(ctx, Mapping) and not ctx):
        raise ConfigError(
            'the graph was run without a context: send a JSON context such as {"backend": "fake"} '
            f"(fields: {', '.join(CONTEXT_FIELDS)}), or from Python context=GraphContext(reasoner=...)"
        )
    if isinstance(ctx, Mapping):
        return (ContextCache(1) if cache is None else cache).get(ctx)
    if not isinstance(ctx, GraphContext):
        raise ConfigError(
            f"the graph context must be JSON (fields: {', '.join(CONTEXT_FIELDS)}) or a GraphContext, "
            f"got {type(ctx).__name__}"
        )
    return ctx
