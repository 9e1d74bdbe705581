"""The MCP server class: the SDK's ``MCPServer`` whose lists depend on the session's readable folders.

* ``tools/list``: the ``video_reason`` description names the folders this session may read
  (:func:`mcp_server.server.tool_description`), as known when the tools are listed.
* ``resources/list``: the videos under those folders (:mod:`mcp_server.catalog`).
* ``resources/read``: a video's JSON record (duration, size, frame size, how to ask about it).

The folders are the client's MCP roots when it sends valid ones on a connection that can ask
for them (the handshake-era protocols; a 2026-07-28 client is asked inside a tool call only),
else the server's. Imported lazily by :func:`mcp_server.server.create_server`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    ListResourcesResult,
    ListRootsRequest,
    ListRootsResult,
    ListToolsResult,
    ReadResourceResult,
    TextResourceContents,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from mcp_server.catalog import MAX_LISTED, read_record
from mcp_server.output import error_text
from mcp_server.redact import Redactor
from mcp_server.sandbox import Sandbox
from mcp_server.server import tool_description
from mcp_server.tool import AppState
from vt_agent.errors import VTAgentError

__all__ = ["VideoServer", "ask_client_roots"]

logger = logging.getLogger("mcp_server")

ROOTS_TIMEOUT_S = 5.0


async def ask_client_roots(ctx: Any) -> ListRootsResult | None:
    """The client's roots when this connection can ask for them (handshake era, roots declared)."""
    session = ctx.session
    caps = getattr(session, "client_capabilities", None)
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS or caps is None or caps.roots is None:
        return None
    if not getattr(session, "can_send_request", False):
        return None
    try:
        with anyio.move_on_after(ROOTS_TIMEOUT_S):
            result: ListRootsResult = await session.send_request(ListRootsRequest(), ListRootsResult)
            return result
    except Exception as exc:  # a client that fails to answer keeps the server's roots
        logger.info("roots/list failed: %s", str(exc)[:200])
    return None


class VideoServer(MCPServer[AppState]):
    """``MCPServer`` with per-session tool description and video resources."""

    def __init__(self, *args: Any, sandbox_of: Callable[[AppState, Any], Sandbox], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sandbox_of = sandbox_of

    async def _session_sandbox(self, ctx: Any) -> tuple[Sandbox, bool]:
        """This session's sandbox, and whether its roots are the client's."""
        state: AppState = ctx.lifespan_context
        sandbox = self._sandbox_of(state, await ask_client_roots(ctx))
        return sandbox, sandbox.roots != state.roots

    async def _handle_list_tools(self, ctx: Any, params: Any) -> ListToolsResult:
        result = await super()._handle_list_tools(ctx, params)
        sandbox, from_client = await self._session_sandbox(ctx)
        text = tool_description(sandbox.roots, from_client=from_client)
        tools = [
            t.model_copy(update={"description": text}) if t.name == "video_reason" else t
            for t in result.tools
        ]
        return ListToolsResult(tools=tools)

    async def _handle_list_resources(self, ctx: Any, params: Any) -> ListResourcesResult:
        state: AppState = ctx.lifespan_context
        sandbox, _ = await self._session_sandbox(ctx)
        found, cut = await state.catalog.list(sandbox.roots)
        if cut:
            logger.info(
                "resources/list: stopped at %d videos (at most %d are listed)", len(found), MAX_LISTED
            )
        return ListResourcesResult(resources=[state.catalog.resource(item) for item in found])

    async def _handle_read_resource(self, ctx: Any, params: Any) -> ReadResourceResult:
        state: AppState = ctx.lifespan_context
        uri = str(params.uri)
        sandbox, _ = await self._session_sandbox(ctx)
        try:
            text = await read_record(sandbox, uri)
        except VTAgentError as exc:
            message = Redactor.from_settings(state.settings)(error_text(exc, state.settings.timeout_s))
            logger.info("resources/read refused: %s", message[:300])
            raise MCPError(code=INVALID_PARAMS, message=message, data={"uri": uri}) from None
        return ReadResourceResult(
            contents=[TextResourceContents(uri=uri, text=text, mime_type="application/json")]
        )
