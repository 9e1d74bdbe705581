"""The ``video_reason`` arguments: their types, bounds and descriptions (the published JSON schema).

The caps come from the server settings, so the signature is built per server by
:func:`tool_function`; it collects the arguments into :class:`ToolArgs` and hands them to the
tool's handler (:mod:`mcp_server.tool`).
"""

# No ``from __future__ import annotations``: the tool's annotations use the settings' caps,
# which must be evaluated when the tool function is defined.

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from mcp_server.output import MAX_THUMBNAILS, VideoReasonOutput
from mcp_server.settings import ServerSettings

if TYPE_CHECKING:
    from mcp.server.mcpserver import Context
    from mcp_types import CallToolResult

__all__ = ["ToolArgs", "tool_function"]


@dataclass(frozen=True)
class ToolArgs:
    """One call's arguments, as validated against the schema."""

    videos: list[str] | None = None
    question: str | None = None
    options: list[str] | None = None
    preset: str | None = None
    thumbnails: int = 2
    wait_s: float | None = None
    job_id: str | None = None
    cancel: bool = False
    roots: Any = None
    """The client's ``ListRootsResult`` when it declared the roots capability, else None."""


Handler = Callable[["Context[Any, Any]", ToolArgs], Awaitable["CallToolResult"]]


def tool_function(
    cfg: ServerSettings, presets: Sequence[str], handler: Handler
) -> Callable[..., Awaitable["CallToolResult"]]:
    """The ``video_reason`` function to register: its signature is the tool's input schema."""
    from mcp.server.mcpserver import Context, ListRoots, Resolve
    from mcp_types import CallToolResult, ListRootsResult

    def client_roots(ctx: Context[Any, Any]) -> ListRoots | None:
        """Ask the client for its roots when it declared the capability."""
        caps = ctx.client_capabilities
        if caps is None or caps.roots is None:
            return None
        return ListRoots()

    Videos = Annotated[
        list[Annotated[str, Field(min_length=1, max_length=4096)]] | None,
        Field(
            description=(
                "Absolute paths (or file:// URIs) of the video files, usually one; several for a question "
                f"comparing videos (they are 'Video 1', 'Video 2', ...). At most {cfg.max_videos}."
            ),
            min_length=1,
            max_length=cfg.max_videos,
        ),
    ]
    Question = Annotated[
        str | None,
        Field(
            description="The question about the video(s), without the answer options.",
            min_length=1,
            max_length=cfg.max_question_chars,
        ),
    ]
    Options = Annotated[
        list[Annotated[str, Field(min_length=1, max_length=cfg.max_option_chars)]] | None,
        Field(
            description=(
                "Answer options of a multiple-choice question, e.g. ['a cat', 'a dog'] (letters A, B, ... are "
                "added; 'A. a cat' is kept as is). Omit for an open question."
            ),
            min_length=2,
            max_length=cfg.max_options,
        ),
    ]
    Preset = Annotated[
        str | None,
        Field(
            description=(
                f"Frame sampling preset: {', '.join(presets)}. Default {cfg.preset} (fastest). More frames "
                "see more detail and take longer."
            ),
            json_schema_extra={"enum": [*presets, None]},
        ),
    ]
    Thumbnails = Annotated[
        int,
        Field(
            description="Number of small JPEG frames to return at the first cited spans (0-4).",
            ge=0,
            le=MAX_THUMBNAILS,
        ),
    ]
    WaitS = Annotated[
        float | None,
        Field(
            description=(
                f"Seconds to wait for the answer before returning a job_id instead (default {cfg.wait_s:.0f}; "
                "keep it below your host's tool timeout)."
            ),
            ge=0,
            le=cfg.timeout_s,
        ),
    ]
    JobId = Annotated[
        str | None,
        Field(
            description=(
                "Optional: the job_id of an earlier call that returned status 'running'. Repeat that call's "
                "arguments (with or without job_id) to wait for its result instead of starting it again."
            ),
            pattern=r"^[0-9a-f]{16}$",
        ),
    ]
    Cancel = Annotated[
        bool,
        Field(
            description="True: stop the running job these arguments (or job_id) name instead of waiting for it."
        ),
    ]
    Roots = Annotated[ListRootsResult | None, Resolve(client_roots)]

    async def video_reason(
        ctx: Context[Any, Any],
        videos: Videos = None,
        question: Question = None,
        options: Options = None,
        preset: Preset = None,
        thumbnails: Thumbnails = 2,
        wait_s: WaitS = None,
        job_id: JobId = None,
        cancel: Cancel = False,
        roots: Roots = None,
    ) -> Annotated[CallToolResult, VideoReasonOutput]:
        args = ToolArgs(videos, question, options, preset, thumbnails, wait_s, job_id, cancel, roots)
        return await handler(ctx, args)

    return video_reason
