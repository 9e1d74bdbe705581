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
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from mcp_server.inputs import tool_function
from mcp_server.jobs import JobStore
from mcp_server.output import MAX_RESULT_BYTES, VideoReasonOutput, result_size
from mcp_server.sandbox import NO_ROOTS_MESSAGE, check_root
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
    "server_roots",
    "tool_description",
]

logger = logging.getLogger("mcp_server")

TOOL_DESCRIPTION = TOOL_PURPOSE + (
    " Returns a short text (the answer letter with its option text, the cited spans with captions), "
    "structured content (answer, answer_text, segments with start_s/end_s and captions, reasoning, "
    "source: where the answer came from, warnings, the frames seen) and up to 4 small JPEG frames at the "
    "cited spans. If the answer is not ready within wait_s the call returns status='running' and a job_id: "
    "call video_reason again with the same arguments (and that job_id) to wait for it; this does not "
    "start the work again."
)

INSTRUCTIONS = (
    "video_reason answers questions about local video files, citing time spans. Pass absolute paths "
    "(or file:// URIs) of files inside the folders the server allows; the videos there are listed as "
    "resources. If a call returns status 'running', call it again with the same arguments and the job_id."
)


def tool_description(roots: Sequence[Path], *, from_client: bool) -> str:
    """The tool description with the folders this session may read, as known when tools are listed."""
    if roots:
        whose = "shared by your client as MCP roots" if from_client else "allowed by the server"
        where = (
            f" Readable folders ({whose}): {', '.join(str(r) for r in roots)}. Give paths inside them "
            "(absolute, or relative to the first); every other path is refused. The videos in them are "
            "listed as MCP resources (file:// URIs, usable as they are in videos)."
        )
        if not from_client:
            where += " A client that shares its workspace folders as MCP roots reads those instead."
    else:
        where = " " + NO_ROOTS_MESSAGE
    return TOOL_DESCRIPTION + where


def create_server(
    settings: ServerSettings | None = None,
    *,
    backend: Backend | None = None,
    on_stopped: Callable[[], object] | None = None,
) -> MCPServer[AppState]:
    """The MCP server with the ``video_reason`` tool.

    ``backend``: use this backend instead of building one from ``settings.backend`` (tests,
    embedding); it is closed with the server either way. ``on_stopped``: called once the
    lifespan has closed the backend (the stdio runner exits then after a signal).
    """
    from mcp_types import ToolAnnotations

    from vt_agent.video import PRESETS

    cfg = settings or ServerSettings()

    @contextlib.asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncIterator[AppState]:
        from vt_agent.backends import backend_from_config
        from vt_agent.reasoner import VideoReasoner

        roots, aliases = server_roots(cfg)
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
            ", ".join(str(r) for r in roots) or "NONE",
        )
        if not roots:
            logger.warning(
                "NO ROOTS: no folder is readable, so every video_reason call will fail. Start vt-agent-mcp "
                "with --allow <folder holding the videos> (or set VT_AGENT_ALLOWED_ROOTS), or use a client "
                "that shares its workspace folders as MCP roots."
            )
        try:
            async with anyio.create_task_group() as tg:
                state = AppState(
                    settings=cfg,
                    reasoner=reasoner,
                    jobs=JobStore(tg, ttl_s=cfg.job_ttl_s, max_jobs=cfg.max_jobs),
                    limiter=anyio.CapacityLimiter(cfg.max_concurrency),
                    notices=notices,
                    roots=roots,
                    aliases=aliases,
                )
                try:
                    yield state
                finally:
                    tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await reasoner.aclose()
            logger.info("video_reason stopped; backend closed")
            if on_stopped is not None:
                on_stopped()

    from mcp_server.arguments import CheckedTool, published_schema

    handler = VideoReasonTool(cfg, list(PRESETS))
    tool = CheckedTool.from_function(
        tool_function(cfg, list(PRESETS), handler),
        name="video_reason",
        title="Ask Video-Thinker about a video",
        description=TOOL_DESCRIPTION,
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False, idempotent_hint=True),
    )
    tool.parameters = published_schema(tool.parameters)
    from mcp_server.listing import VideoServer

    return VideoServer(
        "vt-agent",
        title="Video-Thinker",
        version=_version(),
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        tools=[tool],
        sandbox_of=handler.sandbox,
    )


def server_roots(cfg: ServerSettings) -> tuple[tuple[Path, ...], tuple[tuple[Path, Path], ...]]:
    """The server's roots, checked (existing folders, not too broad), and their (given, resolved) aliases.

    Raises ConfigError naming the bad root: the server does not start.
    """
    roots: list[Path] = []
    aliases: list[tuple[Path, Path]] = []
    for given in cfg.allowed_roots:
        resolved = check_root(
            given, allow_broad=cfg.allow_broad_root, origin="--allow / VT_AGENT_ALLOWED_ROOTS"
        )
        if resolved not in roots:
            roots.append(resolved)
        absolute = given if given.is_absolute() else Path.cwd() / given
        if absolute != resolved:
            aliases.append((absolute, resolved))
    return tuple(roots), tuple(aliases)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vt-agent")
    except PackageNotFoundError:
        return "0"
