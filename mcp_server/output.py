"""What ``video_reason`` returns: the output model, result shaping under the size cap, error texts.

A finished call is a ``CallToolResult`` with structured content (:class:`VideoReasonOutput`, a
trimmed :class:`vt_agent.result.Result`), a short text summary and up to four JPEG thumbnails,
kept under :data:`MAX_RESULT_BYTES`. An unfinished one carries ``status="running"`` and the
job handle. :func:`error_text` turns any failure into a message the calling model can act on.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from vt_agent.errors import (
    BackendUnavailableError,
    ConfigError,
    ContextLengthError,
    GenerationCancelled,
    MissingExtraError,
    PathNotAllowedError,
    VideoError,
    VideoNotFoundError,
    VTAgentError,
)
from vt_agent.result import FormatCheck, Result, SamplingRecord, Segment, Source, Timings
from vt_agent.video.presets import DEFAULT_PRESET

if TYPE_CHECKING:
    from mcp_types import CallToolResult

    from mcp_server.jobs import Job

__all__ = [
    "MAX_RESULT_BYTES",
    "MAX_THUMBNAILS",
    "ThumbnailInfo",
    "VideoReasonOutput",
    "cancelled_result",
    "error_text",
    "progress_of",
    "result_size",
    "status_result",
    "tool_result",
]

MAX_RESULT_BYTES = 1024 * 1024
"""The whole tool result (structured + text + images, as JSON) stays below this."""
MAX_THUMBNAILS = 4


class ThumbnailInfo(BaseModel):
    """Where an evidence image (sent as image content, in this order) was taken."""

    segment: int
    video: int = 0
    time_s: float
    width: int
    height: int


class VideoReasonOutput(BaseModel):
    """Structured result of ``video_reason`` (a trimmed :class:`vt_agent.result.Result`)."""

    status: Literal["done", "running", "cancelled"] = Field(
        description="done: the fields below are filled; running: poll with job_id; cancelled: stopped"
    )
    job_id: str | None = Field(default=None, description="handle of an unfinished job (status running)")
    next_step: str = Field(default="", description="what to do next")
    elapsed_s: float = Field(default=0.0, description="seconds since the job started")
    progress: float | None = Field(default=None, description="0-100 while running")
    question: str | None = None
    options: list[str] = Field(default_factory=list, description="lettered options as shown to the model")
    answer: str | None = Field(default=None, description="answer letter (multiple choice) or None")
    answer_text: str | None = Field(default=None, description="raw content of the model's <answer>")
    segments: list[Segment] = Field(
        default_factory=list, description="cited spans with captions and thoughts"
    )
    reasoning: str = Field(default="", description="the model's untagged reasoning")
    format: FormatCheck | None = Field(default=None, description="whether the trace was well formed")
    warnings: list[str] = Field(default_factory=list)
    finish_reason: str | None = None
    videos: list[SamplingRecord] = Field(
        default_factory=list, description="the frames the model saw, per video"
    )
    timings: Timings | None = None
    thumbnails: list[ThumbnailInfo] = Field(default_factory=list)
    backend: str = ""
    model: str = ""
    scripted: bool = Field(default=False, description="True: a scripted fake backend wrote the trace")
    source: Source | None = Field(
        default=None,
        description="where the answer came from: 'model' (a trained model), 'random weights' (a random-weight "
        "checkpoint: noise, not a prediction) or 'scripted' (the fake backend's hand-written trace)",
    )
    answer_fallback: bool = Field(
        default=False,
        description="True: the trace has no <answer> tag and the letter was read by the fallback rules",
    )


def _output(result: Result, *, elapsed_s: float) -> VideoReasonOutput:
    return VideoReasonOutput(
        status="done",
        next_step="",
        elapsed_s=round(elapsed_s, 3),
        question=result.question,
        options=result.options,
        answer=result.answer,
        answer_text=result.answer_text,
        segments=result.segments,
        reasoning=result.reasoning,
        format=result.format,
        warnings=result.warnings,
        finish_reason=result.finish_reason,
        videos=result.videos,
        timings=result.timings,
        thumbnails=[
            ThumbnailInfo(segment=t.segment, video=t.video, time_s=t.time_s, width=t.width, height=t.height)
            for t in result.thumbnails
        ],
        backend=result.backend,
        model=result.model,
        scripted=result.scripted,
        source=result.source,
        answer_fallback=result.answer_fallback,
    )


def tool_result(result: Result, *, elapsed_s: float) -> CallToolResult:
    """Structured content, a text summary and the thumbnails, under :data:`MAX_RESULT_BYTES`."""
    from mcp_types import CallToolResult, ImageContent, TextContent

    from vt_agent.runs import summary_text

    out = _output(result, elapsed_s=elapsed_s)
    thumbs = list(result.thumbnails[:MAX_THUMBNAILS])
    text = summary_text(result)

    def build() -> CallToolResult:
        out.thumbnails = out.thumbnails[: len(thumbs)]
        content: list[Any] = [TextContent(type="text", text=text)]
        content.extend(ImageContent(type="image", data=t.jpeg_base64, mime_type="image/jpeg") for t in thumbs)
        return CallToolResult(content=content, structured_content=out.model_dump(mode="json"))

    res = build()
    while len(res.model_dump_json(by_alias=True)) > MAX_RESULT_BYTES - 4096:
        if thumbs:
            thumbs.pop()
            out.warnings.append("an evidence thumbnail was dropped to keep the result under 1 MiB")
        elif len(out.reasoning) > 2000:
            out.reasoning = out.reasoning[: len(out.reasoning) // 2] + " ...[truncated]"
        elif out.videos and any(len(v.indices) > 64 for v in out.videos):
            out.videos = [
                v.model_copy(update={"indices": v.indices[:64], "timestamps_s": v.timestamps_s[:64]})
                for v in out.videos
            ]
            out.warnings.append("sampling records were cut to their first 64 frames to fit 1 MiB")
        elif len(out.segments) > 16:
            out.segments = out.segments[:16]
            out.warnings.append("only the first 16 segments are returned (1 MiB limit)")
        else:
            break
        res = build()
    return res


def status_result(job: Job[Result], *, wait_s: float) -> CallToolResult:
    """``status: running`` with the job handle and what to do next."""
    from mcp_types import CallToolResult, TextContent

    from mcp_server.jobs import retry_after_s

    hint = retry_after_s(job)
    step = (
        f"Still working after {job.elapsed_s:.0f} s ({job.last_message}). Call video_reason again with the "
        f"same arguments and job_id='{job.id}' to wait up to {wait_s:.0f} s more for the result (suggested: "
        f"in about {hint} s); the same arguments wait on this job, they do not start it again."
    )
    progress = job.updates[-1].progress if job.updates else 0.0
    out = VideoReasonOutput(
        status="running", job_id=job.id, next_step=step, elapsed_s=round(job.elapsed_s, 3), progress=progress
    )
    return CallToolResult(
        content=[TextContent(type="text", text=step)], structured_content=out.model_dump(mode="json")
    )


def cancelled_result(job: Job[Result]) -> CallToolResult:
    """``status: cancelled`` for a job stopped with ``cancel: true``."""
    from mcp_types import CallToolResult, TextContent

    out = VideoReasonOutput(
        status="cancelled", job_id=job.id, next_step="The job was stopped.", elapsed_s=round(job.elapsed_s, 3)
    )
    return CallToolResult(
        content=[TextContent(type="text", text=f"Job {job.id} stopped.")],
        structured_content=out.model_dump(mode="json"),
    )


def error_text(exc: BaseException, timeout_s: float) -> str:
    """What the calling model reads for a failed call: what went wrong and what to do."""
    if isinstance(exc, TimeoutError):
        return (
            f"The video analysis took longer than this server's limit of {timeout_s:.0f} s and was "
            f"stopped. Ask about one shorter video (or fewer videos), use preset '{DEFAULT_PRESET}', or ask "
            "the user to raise the server's --timeout."
        )
    if isinstance(exc, PathNotAllowedError):
        return str(exc)
    if isinstance(exc, VideoNotFoundError):  # missing, a folder, empty...: one sentence, no contradiction
        return f"{exc}."
    if isinstance(exc, VideoError):
        return (
            f"{exc}. This file cannot be used as a video: check that the path names a playable video file "
            "(mp4, mkv, avi, mpg, webm, ...) or try another file."
        )
    if isinstance(exc, ContextLengthError):
        return f"{exc}. Use fewer videos or a preset with fewer frames ('{DEFAULT_PRESET}'), or a shorter question."
    if isinstance(exc, BackendUnavailableError | MissingExtraError):
        return (
            f"The model backend is not available: {exc}. This is a server configuration problem: tell the "
            "user to check the vt-agent-mcp backend settings (--backend, --model, --base-url)."
        )
    if isinstance(exc, GenerationCancelled):
        return "The generation was cancelled. Call video_reason again if you still need the answer."
    if isinstance(exc, ConfigError):
        return str(exc)
    if isinstance(exc, VTAgentError):
        return f"{type(exc).__name__}: {exc}. Retry once; if it fails again, tell the user."
    return (
        f"The server failed while answering ({type(exc).__name__}). Retry once; if it fails again, tell the "
        "user to check the vt-agent-mcp log."
    )


_STAGES = {
    "decode": (2.0, 18.0),
    "load": (20.0, 8.0),
    "probe": (1.0, 1.0),
    "generate": (30.0, 0.0),
    "thumbnails": (94.0, 0.0),
    "prefill": (29.0, 0.0),
    "verify": (93.0, 0.0),
}


def progress_of(event: Any, segments: int) -> tuple[float, str] | None:
    """A reasoner event as (progress out of 100, message), or None for events not reported."""
    from vt_agent.events import AnswerEvent, FinishedEvent, ProgressEvent, SegmentClosed
    from vt_agent.runs import caption_line, span_label

    if isinstance(event, ProgressEvent):
        start, width = _STAGES.get(event.stage, (0.0, 0.0))
        return start + width * (event.fraction or 0.0), f"{event.stage}: {event.message}"
    if isinstance(event, SegmentClosed):
        seg = event.segment
        line = f"segment {seg.index + 1} at {span_label(seg)}: {caption_line(seg.caption, 100)}"
        return min(90.0, 30.0 + 10.0 * segments), line
    if isinstance(event, AnswerEvent):
        return 92.0, f"answer: {event.letter or event.text[:40]}"
    if isinstance(event, FinishedEvent):
        return 100.0, "done"
    return None


def result_size(result: Any) -> int:
    """Bytes of a CallToolResult as JSON (what goes over the wire)."""
    return len(json.dumps(result.model_dump(mode="json", by_alias=True, exclude_none=True)).encode())
