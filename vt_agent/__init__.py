"""vt-agent: Video-Thinker's grounded video reasoning as a library.

Importing this package is light: torch, transformers, vllm and decoders load only when a
backend or video function that needs them is used.
"""

from typing import TYPE_CHECKING, Any

from vt_agent.errors import (
    BackendError,
    BackendUnavailableError,
    ConfigError,
    ContextLengthError,
    MissingExtraError,
    PathNotAllowedError,
    VideoDecodeError,
    VideoError,
    VideoNotFoundError,
    VTAgentError,
    WindowError,
)
from vt_agent.result import Result, SamplingRecord, Segment

if TYPE_CHECKING:
    from vt_agent.backends import load_backend
    from vt_agent.reasoner import VideoReasoner

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "BackendUnavailableError",
    "ConfigError",
    "ContextLengthError",
    "MissingExtraError",
    "PathNotAllowedError",
    "Result",
    "SamplingRecord",
    "Segment",
    "VTAgentError",
    "VideoDecodeError",
    "VideoError",
    "VideoNotFoundError",
    "VideoReasoner",
    "WindowError",
    "__version__",
    "load_backend",
]

_LAZY = {"VideoReasoner": "vt_agent.reasoner", "load_backend": "vt_agent.backends"}


def __getattr__(name: str) -> Any:
    """``VideoReasoner`` and ``load_backend`` load on first use, so ``import vt_agent`` stays light."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vt_agent' has no attribute {name!r}")
