"""The runtime context of every graph: :class:`GraphContext` (the model, the run's settings).

``graph.invoke(inputs, context=GraphContext(reasoner=VideoReasoner(backend)))``; nodes read it
with :func:`context_of`. Importing this module is light (no langgraph, no torch).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from graphs._bridge import Slots
from vt_agent.errors import ConfigError

if TYPE_CHECKING:
    from vt_agent.config import BackendConfig
    from vt_agent.events import ReasonerEvent
    from vt_agent.video.prepared import PreparedVideo

__all__ = ["GraphContext", "ReasonerLike", "context_of"]


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
    chat_model: Any = None
    """multi_video: the chat model that weighs per-video descriptions (comparison, synthesis): a
    LangChain chat model, a vt-agent backend (``load_backend("openai", base_url=...)``), or a dict of
    OpenAI-server options. None: rules only, and one joint trace where rules cannot decide."""
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
