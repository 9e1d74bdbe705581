"""The MCP server: one ``video_reason`` tool over :class:`vt_agent.reasoner.VideoReasoner`.

::

    from mcp_server.server import create_server
    from mcp_server.settings import load_settings
    server = create_server(load_settings({"backend": "fake", "allowed_roots": ["/videos"]}))
    server.run()  # stdio

``create_server`` wires the pieces: the lifespan builds the backend once
(``vt_agent.backends.backend_from_config``) with the job store and the capacity limiter, and
closes it when the server stops; the tool's arguments are :mod:`mcp_server.inputs`, its
behaviour :mod:`mcp_server.tool`, what it returns :mod:`mcp_server.output`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import anyio

from mcp_server.inputs import tool_function
from mcp_server.jobs import JobStore
from mcp_server.output import MAX_RESULT_BYTES, VideoReasonOutput, result_size
from mcp_server.settings import ServerSettings
from mcp_server.tool import AppState, VideoReasonTool
from vt_agent.runs import TOOL_PURPOSE

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from vt_agent.backends.base import Backend

__all__ = [
    "MAX_RESULT_BYTES",
    "TOOL_DESCRIPTION",
    "AppState",
    "VideoReasonOutput",
    "create_server",
    "result_size",
]

logger = logging.getLogger("mcp_server")

TOOL_DESCRIPTION = TOOL_PURPOSE + (
    " Returns the answer, the cited segments with captions, the reasoning, and small JPEG frames at "
    "the cited spans. Long videos may not finish within one call: the call then returns "
    "status='running' and a job_id; call video_reason again with only that job_id to get the result."
)

INSTRUCTIONS = (
    "video_reason answers questions about local video files, citing time spans. Pass absolute paths "
    "of files inside the folders the server allows. If a call returns status 'running', call it "
    "again with the job_id it gave."
)


def create_server(
    settings: ServerSettings | None = None, *, backend: Backend | None = None
) -> MCPServer[AppState]:
    """The MCP server with the ``video_reason`` tool.

    ``backend``: use this backend instead of building one from ``settings.backend`` (tests,
    embedding); it is closed with the server either way.
    """
    from mcp.server.mcpserver import MCPServer
    from mcp_types import ToolAnnotations

    from vt_agent.video import PRESETS

    cfg = settings or ServerSettings()

    @contextlib.asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncIterator[AppState]:
        from vt_agent.backends import backend_from_config
        from vt_agent.reasoner import VideoReasoner

        notices: list[str] = []
        if backend is None:
            built, notices = backend_from_config(cfg.backend)
        else:
            built = backend
        for notice in notices:
            logger.warning(notice)
        reasoner = VideoReasoner(built, preset=cfg.preset, max_tokens=cfg.max_tokens)
        logger.info(
            "video_reason ready: backend %s, model %s, roots %s",
            built.name,
            built.model,
            ", ".join(str(r) for r in cfg.roots()),
        )
        try:
            async with anyio.create_task_group() as tg:
                state = AppState(
                    settings=cfg,
                    reasoner=reasoner,
                    jobs=JobStore(tg, ttl_s=cfg.job_ttl_s, max_jobs=cfg.max_jobs),
                    limiter=anyio.CapacityLimiter(cfg.max_concurrency),
                    notices=notices,
                )
                try:
                    yield state
                finally:
                    tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await reasoner.aclose()
            logger.info("video_reason stopped; backend closed")

    server: MCPServer[AppState] = MCPServer(
        "vt-agent", title="Video-Thinker", version=_version(), instructions=INSTRUCTIONS, lifespan=lifespan
    )
    server.add_tool(
        tool_function(cfg, list(PRESETS), VideoReasonTool(cfg, list(PRESETS))),
        name="video_reason",
        title="Ask Video-Thinker about a video",
        description=TOOL_DESCRIPTION,
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False, idempotent_hint=True),
    )
    return server


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vt-agent")
    except PackageNotFoundError:
        return "0"
