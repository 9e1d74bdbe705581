"""The one Result model: the JSON of ``vt-agent reason --json``, of the graphs' output, of the
MCP tool's structured output and of evaluation rows. Bump ``SCHEMA_VERSION`` on any change that
breaks a reader (a field removed, renamed or retyped); a new field with a default keeps it."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "SCHEMA_VERSION",
    "FormatCheck",
    "Result",
    "SamplingRecord",
    "Segment",
    "Thumbnail",
    "Timings",
    "mmss",
]

SCHEMA_VERSION: Final = "1"

Source = Literal["model", "random weights", "scripted"]
"""Where an answer came from: a trained model, a random-weight checkpoint (noise), a scripted trace."""

SOURCE_NOTES: Final[dict[str, str]] = {
    "random weights": "random weights: a random-weight model picked this answer; it is noise, not a prediction",
    "scripted": "scripted: a hand-written trace of the fake backend picked this answer, not a model",
}
FALLBACK_NOTE: Final = "no <answer> tag: the letter was read from the text by the fallback rules"


def provenance_notes(source: str, answer_fallback: bool) -> list[str]:
    """Plain notes on where an answer came from; empty for a trained model's tagged answer."""
    notes = [SOURCE_NOTES[source]] if source in SOURCE_NOTES else []
    if answer_fallback:
        notes.append(FALLBACK_NOTE)
    return notes


@functools.lru_cache(maxsize=64)
def has_random_weights(model: str) -> bool:
    """True when ``model`` is a local checkpoint marked as random-weight (the tiny test model)."""
    if not model:
        return False
    from vt_agent.tiny import is_tiny_checkpoint

    return is_tiny_checkpoint(Path(model).expanduser())


def answer_source(model: str, *, scripted: bool) -> Source:
    """The :data:`Source` of an answer written by a backend serving ``model``."""
    if scripted:
        return "scripted"
    return "random weights" if has_random_weights(model) else "model"


def mmss(seconds: float) -> str:
    """Seconds as the model's zero-padded ``MM:SS`` (``H:MM:SS`` from one hour)."""
    total = max(0, round(seconds))
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Segment(BaseModel):
    """One grounded step of the trace: ``<time>`` + ``<caption>`` + ``<think>``.

    Times are global seconds from the first decoded frame of ``video`` (window offset applied,
    clamped to the clip). ``start_s``/``end_s`` are None when the span could not be read.
    """

    model_config = ConfigDict(frozen=True)

    index: int = Field(description="0-based position of the segment in the trace")
    video: int = Field(default=0, description="0-based index of the video the span refers to")
    time_text: str = Field(description="the raw text inside <time>")
    start_s: float | None = Field(default=None, description="span start, global seconds")
    end_s: float | None = Field(default=None, description="span end, global seconds")
    start: str | None = Field(default=None, description="span start as MM:SS")
    end: str | None = Field(default=None, description="span end as MM:SS")
    caption: str | None = Field(default=None, description="text of the segment's <caption>")
    think: str | None = Field(default=None, description="text of the segment's <think>")
    warnings: list[str] = Field(default_factory=list, description="problems found in this segment")


class FormatCheck(BaseModel):
    """Outcome of the documented trace format rule (see ``vt_agent.trace.check_format``)."""

    ok: bool
    problems: list[str] = Field(default_factory=list)


class SamplingRecord(BaseModel):
    """Exactly which frames the model saw, and how they were prepared."""

    model_config = ConfigDict(frozen=True)

    path: str = Field(description="absolute path of the video file")
    file_id: str = Field(description="identity of the file content (hash of size, mtime and sampled bytes)")
    preset: str = Field(description="name of the sampling preset")
    window: tuple[float, float] | None = Field(default=None, description="[start_s, end_s] window, if any")
    duration_s: float = Field(description="duration of the whole clip, seconds")
    decoded_frames: int = Field(description="frames that really decode in the whole clip")
    indices: list[int] = Field(description="indices of the sampled frames among the decoded frames")
    timestamps_s: list[float] = Field(description="presentation time of each sampled frame, global seconds")
    sampled_fps: float = Field(description="sampled frames per second, from the decoded timeline")
    second_per_grid_ts: float = Field(description="temporal_patch_size / sampled_fps")
    resized: tuple[int, int] = Field(description="[width, height] of every sampled frame after resizing")
    grid_thw: tuple[int, int, int] = Field(description="vision grid (t, h, w) in 14-px patches")
    video_tokens: int = Field(description="number of <|video_pad|> tokens the model sees")

    @property
    def cache_key(self) -> str:
        """Stable multimodal id: file identity + preset + window."""
        win = "" if self.window is None else f"@{self.window[0]:.3f}-{self.window[1]:.3f}"
        return f"{self.file_id}:{self.preset}{win}"


class Timings(BaseModel):
    decode_s: float = Field(default=0.0, description="probing, decoding and resizing the video(s)")
    first_token_s: float | None = Field(
        default=None, description="from request start to the first text delta"
    )
    total_s: float = Field(default=0.0, description="from request start to the end of generation")
    generated_chars: int = 0


class Thumbnail(BaseModel):
    """A small JPEG taken at a cited span (middle of the span)."""

    segment: int
    video: int = 0
    time_s: float
    width: int
    height: int
    jpeg_base64: str


class Result(BaseModel):
    """What one question about one or more videos produced."""

    schema_version: Literal["1"] = SCHEMA_VERSION
    question: str
    options: list[str] = Field(default_factory=list, description="lettered options as shown to the model")
    answer: str | None = Field(
        description="the answer letter by the answer rules of docs/protocol.md; None if none found"
    )
    answer_text: str | None = Field(default=None, description="raw content of the last <answer> tag, if any")
    segments: list[Segment] = Field(default_factory=list)
    reasoning: str = Field(default="", description="the untagged reasoning text")
    trace: str = Field(default="", description="the model's full output")
    format: FormatCheck
    warnings: list[str] = Field(default_factory=list)
    finish_reason: Literal["stop", "length", "cancelled", "error"] | None = None
    videos: list[SamplingRecord] = Field(default_factory=list)
    timings: Timings = Field(default_factory=Timings)
    thumbnails: list[Thumbnail] = Field(default_factory=list)
    backend: str = ""
    model: str = ""
    scripted: bool = Field(default=False, description="True when a scripted fake backend wrote the trace")
    source: Source = Field(
        default="model",
        description="where the answer came from: 'model' (a trained model), 'random weights' (a random-weight "
        "checkpoint: its answer is noise) or 'scripted' (a hand-written trace of the fake backend)",
    )
    answer_fallback: bool = Field(
        default=False,
        description="True when the trace has no <answer> tag and the letter was read by the fallback rules",
    )

    @model_validator(mode="after")
    def _scripted_is_a_source(self) -> Result:
        if self.scripted and self.source != "scripted":
            self.source = "scripted"
        return self

    def provenance(self) -> list[str]:
        """Plain notes on where the answer came from; empty for a trained model's tagged answer."""
        return provenance_notes(self.source, self.answer_fallback)
