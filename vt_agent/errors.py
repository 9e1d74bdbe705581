"""The vt-agent exception tree.

Every error the library raises on purpose derives from :class:`VTAgentError`, and every
message names the thing that is wrong and what to do about it::

    VTAgentError
    ├── ConfigError                 bad preset, option or setting
    │   ├── BenchmarkFormatError    a benchmark file that cannot be read
    │   ├── ResultsFileError        a results file that cannot be read
    │   └── ProtocolError           a benchmark the chosen protocol cannot run
    ├── VideoError                  a video that cannot be used (``path`` attribute)
    │   ├── VideoNotFoundError      missing path, directory, device
    │   ├── VideoDecodeError        zero-byte, not a video, truncated, corrupt
    │   ├── UnsupportedVideoError   no video stream (audio only), unknown codec
    │   └── WindowError             a [start, end] window outside the clip
    ├── PathNotAllowedError         a path outside the allowed roots (server side)
    │   └── UrlNotAllowedError      an http(s) URL the server refuses
    ├── UnreadableSpanError         a <time> text that is not a readable span
    ├── RecordError                 a training record that does not follow the schema
    ├── TrainingError               training cannot go on
    ├── JobsFullError               too many MCP jobs at once
    ├── PreparationPoolError        a preparation process died: the run cannot go on
    ├── MissingExtraError           an optional dependency is not installed (``extra``)
    └── BackendError                the model backend failed
        ├── BackendUnavailableError  not installed, not reachable, model missing
        ├── ContextLengthError      frames + prompt + max tokens exceed the context
        ├── GenerationCancelled     generation stopped on request
        └── NoResultError           a reasoner's event stream ended without its Result
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "BackendError",
    "BackendUnavailableError",
    "BenchmarkFormatError",
    "ConfigError",
    "ContextLengthError",
    "GenerationCancelled",
    "JobsFullError",
    "MissingExtraError",
    "NoResultError",
    "PathNotAllowedError",
    "PreparationPoolError",
    "ProtocolError",
    "RecordError",
    "ResultsFileError",
    "TrainingError",
    "UnreadableSpanError",
    "UnsupportedVideoError",
    "UrlNotAllowedError",
    "VTAgentError",
    "VideoDecodeError",
    "VideoError",
    "VideoNotFoundError",
    "WindowError",
]


class VTAgentError(Exception):
    """Base class of every error vt-agent raises on purpose."""


class ConfigError(VTAgentError, ValueError):
    """A preset, option or setting that cannot be used."""


class VideoError(VTAgentError, ValueError):
    """A video that cannot be used. ``path`` names the file.

    Also a ``ValueError`` (a bad input value): LangGraph Server shows a client the message of such
    errors only, and hides every other one behind "An internal error occurred".
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:  # pickled whole: a preparation in another process raises it
        return type(self), (self.path, self.problem)


class VideoNotFoundError(VideoError, FileNotFoundError):
    """The path does not exist or is not a regular file."""


class VideoDecodeError(VideoError):
    """The file exists but no usable frames decode from it."""


class UnsupportedVideoError(VideoError):
    """The file has no video stream or a codec that cannot be decoded."""


class WindowError(VideoError, ValueError):
    """A time window outside the clip or with end <= start."""


class PathNotAllowedError(VTAgentError, PermissionError, ValueError):
    """A path outside the allowed roots (a ``ValueError`` too, so LangGraph Server shows its
    message, which names nothing beyond the path given)."""


class MissingExtraError(VTAgentError, ImportError):
    """An optional dependency is missing; ``extra`` names the pip extra that installs it."""

    def __init__(self, module: str, extra: str, feature: str) -> None:
        self.module = module
        self.extra = extra
        self.feature = feature
        super().__init__(
            f"{feature} needs the Python package '{module}', which is not installed. "
            f"Install it with: pip install 'vt-agent[{extra}]'"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.module, self.extra, self.feature)


class BackendError(VTAgentError):
    """The model backend failed."""


class BackendUnavailableError(BackendError):
    """The backend cannot be used: not installed, not reachable, or the model is missing."""

    def __init__(self, message: str, extra: str | None = None) -> None:
        self.extra = extra
        super().__init__(message)


class ContextLengthError(BackendError, ValueError):
    """A request that does not fit the model's context window."""


class GenerationCancelled(BackendError):
    """Generation was cancelled by the caller."""


class NoResultError(BackendError):
    """A reasoner's event stream ended without its final Result (see :func:`vt_agent.runs.drain`)."""


class BenchmarkFormatError(ConfigError):
    """A benchmark file that cannot be read, or (``strict=True``) a malformed record in it."""


class ResultsFileError(ConfigError):
    """A results file that cannot be read (bad JSON or a row without the required keys)."""


class ProtocolError(ConfigError):
    """A benchmark that cannot be run under the chosen protocol."""


class UrlNotAllowedError(PathNotAllowedError):
    """An http(s) URL the server refuses."""


class UnreadableSpanError(VTAgentError, ValueError):
    """The text inside ``<time>`` is not a time span this parser can read."""


class RecordError(VTAgentError, ValueError):
    """A training record (or a line of a JSONL file) that does not follow the schema."""


class TrainingError(VTAgentError):
    """Training cannot go on: a batch lost its video, a sample does not fit, a trainer misuse."""


class JobsFullError(VTAgentError, RuntimeError):
    """Too many jobs exist (server side): retry later."""


class PreparationPoolError(VTAgentError, RuntimeError):
    """A process of the frame-preparation pool died (out of memory, killed): no item can be prepared."""
