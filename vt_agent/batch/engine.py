"""What an engine stage holds: one backend (made from a name and options, or by a function) and
the reasoner settings, small enough to ship to another process (a Ray actor) and build there."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vt_agent.errors import BackendUnavailableError, GenerationCancelled

if TYPE_CHECKING:
    from vt_agent.backends.base import Backend
    from vt_agent.reasoner import VideoReasoner

__all__ = ["FATAL", "EngineSpec"]

FATAL: tuple[type[BaseException], ...] = (BackendUnavailableError, GenerationCancelled)
"""Failures that stop a run (the engine is gone): every later job would fail the same way."""


@dataclass(frozen=True)
class EngineSpec:
    """A backend by ``backend`` name and ``options`` (see :func:`vt_agent.backends.load_backend`),
    or made by ``factory`` (a picklable function, e.g. a paced fake for benchmarks); the reasoner's
    ``preset``, ``max_tokens`` and ``thumbnails``; ``torch_threads``: pin torch's CPU threads in the
    process that builds it (None: leave them)."""

    backend: str = "fake"
    options: dict[str, Any] = field(default_factory=dict)
    preset: str = "video-thinker-16f"
    max_tokens: int = 1024
    thumbnails: int = 0
    torch_threads: int | None = None
    factory: Callable[[], Backend] | None = None

    def build_backend(self) -> Backend:
        if self.factory is not None:
            return self.factory()
        from vt_agent.backends import load_backend

        return load_backend(self.backend, **self.options)

    def reasoner(self, backend: Backend | None = None) -> VideoReasoner:
        """A reasoner over ``backend`` (default: a new one from this spec)."""
        from vt_agent.reasoner import VideoReasoner

        if self.torch_threads is not None and self.backend == "transformers":
            import torch

            torch.set_num_threads(self.torch_threads)
        return VideoReasoner(
            backend if backend is not None else self.build_backend(),
            preset=self.preset,
            max_tokens=self.max_tokens,
            thumbnails=self.thumbnails,
        )
