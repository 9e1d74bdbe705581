"""The ``video_reason`` handler: check the arguments, run the job, wait, hand out or collect results.

Each call becomes a job (:mod:`mcp_server.jobs`) bounded by a capacity limiter
(``max_concurrency``) and a per-call timeout; a call that does not finish within ``wait_s``
returns a ``job_id`` to poll with. Every refused or failed call raises ``ToolError`` with a
message that tells the calling model what to do (:func:`mcp_server.output.error_text`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from mcp_server.catalog import Catalog
from mcp_server.inputs import ToolArgs
from mcp_server.jobs import Job, JobsFullError, JobStore, Update
from mcp_server.output import cancelled_result, error_text, progress_of, status_result, tool_result
from mcp_server.redact import Redactor
from mcp_server.sandbox import Sandbox, client_roots
from mcp_server.security import check_url, download, is_url
from mcp_server.settings import ServerSettings
from vt_agent.errors import VTAgentError
from vt_agent.result import Result

if TYPE_CHECKING:
    from mcp.server.mcpserver import Context
    from mcp_types import CallToolResult

    from vt_agent.pipeline import Pipeline
    from vt_agent.reasoner import VideoReasoner
    from vt_agent.sandbox import OpenedFile

__all__ = ["AppState", "VideoReasonTool", "caller_identity"]

logger = logging.getLogger("mcp_server")

Forward = Callable[[Update], Awaitable[None]]
DISCONNECT_POLL_S = 0.5


@dataclass
class AppState:
    """What the lifespan builds once: settings, the reasoner (its backend) and the job store."""

    settings: ServerSettings
    reasoner: VideoReasoner
    jobs: JobStore[Result]
    limiter: anyio.CapacityLimiter
    notices: list[str]
    roots: tuple[Path, ...] = ()
    """The server's roots, checked at start (resolved)."""
    aliases: tuple[tuple[Path, Path], ...] = ()
    """(as given, resolved) for server roots given through a symlink."""
    pipeline: Pipeline | None = None
    """Prepares queued calls' frames while others generate (made at the first call)."""
    catalog: Catalog = field(default_factory=Catalog)
    """The videos under the roots, listed as resources (probe results cached)."""

    def preparation(self) -> Pipeline:
        """The shared :class:`vt_agent.pipeline.Pipeline`: as many calls hold frames as run, plus 2 per core."""
        if self.pipeline is None:
            from vt_agent.pipeline import Pipeline, default_workers

            n = self.settings.max_concurrency + 2 * default_workers()
            self.pipeline = Pipeline(self.reasoner.preset, concurrency=None, look_ahead=n)
        return self.pipeline


def caller_identity(ctx: Context[Any, Any]) -> str:
    """Who is calling, for job ownership: the credential over HTTP, plus the MCP session.

    Over HTTP: a hash of the ``Authorization`` header and the ``Mcp-Session-Id``. On a
    handshake-era connection (stdio, or HTTP before protocol 2026-07-28) a random id kept in the
    connection's state. Protocol 2026-07-28 has no sessions: there the credential (or the one
    stdio peer) is the identity.
    """
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS

    rc = ctx.request_context
    parts: list[str] = []
    headers = getattr(rc.request, "headers", None)
    if headers is not None:
        auth = str(headers.get("authorization") or "")
        parts.append("token:" + hashlib.sha256(auth.encode()).hexdigest()[:32] if auth else "http")
        session_id = headers.get("mcp-session-id")
        if session_id:
            parts.append(f"session:{session_id}")
    if rc.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        state = getattr(getattr(rc.session, "_connection", None), "state", None)
        if isinstance(state, dict):
            parts.append("connection:" + state.setdefault("vt_agent_mcp.owner", secrets.token_hex(16)))
    return "|".join(parts) or "local"


def _tool_error(message: str) -> Exception:
    from mcp.server.mcpserver.exceptions import ToolError

    return ToolError(message)


class VideoReasonTool:
    """The tool's behaviour for one server (``settings`` and the preset names)."""

    def __init__(self, settings: ServerSettings, presets: Sequence[str]) -> None:
        self.cfg = settings
        self.presets = list(presets)
        self.redact = Redactor.from_settings(settings)

    async def __call__(self, ctx: Context[Any, Any], args: ToolArgs) -> CallToolResult:
        """Every failure leaves as a ToolError with a redacted, actionable message and one log line."""
        from mcp.server.mcpserver.exceptions import ToolError

        try:
            return await self._call(ctx, args)
        except ToolError as exc:
            message = self.redact(str(exc))
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as exc:
            logger.debug("video_reason failed", exc_info=True)
            message = self.redact(error_text(exc, self.cfg.timeout_s))
        logger.info("video_reason refused: %s", message.splitlines()[0][:300])
        raise ToolError(message) from None

    async def _call(self, ctx: Context[Any, Any], args: ToolArgs) -> CallToolResult:
        state: AppState = ctx.request_context.lifespan_context
        owner = caller_identity(ctx)
        wait = self.cfg.wait_s if args.wait_s is None else args.wait_s

        async def forward(update: Update) -> None:
            with contextlib.suppress(Exception):
                await ctx.report_progress(update.progress, 100.0, update.message)

        asked = args.videos is not None or args.question is not None or args.options is not None
        job = None if args.job_id is None else state.jobs.get(args.job_id, owner)
        if args.job_id is not None and job is None and (args.cancel or not (args.videos and args.question)):
            raise _tool_error(self._no_job(args.job_id))
        if job is not None:  # a job_id that is gone, with the whole question: asked again below
            if asked and job.key != self._key(args):
                raise _tool_error(
                    f"job_id {job.id} was started with other arguments. Repeat that call's videos, "
                    "question and options with it to get its result, or leave job_id out to ask this question."
                )
            return await self._poll(state, job, wait, args.cancel, forward)
        self._check(args)
        running = state.jobs.find(self._key(args), owner)
        if running is not None:
            logger.info("job %s asked again: waiting on it", running.id)
            return await self._poll(state, running, wait, args.cancel, forward)
        if args.cancel:
            raise _tool_error(
                "No running job was started with these arguments, so there is nothing to cancel "
                "(pass the job_id a running call returned, or the same arguments as that call)."
            )
        return await self._start(state, args, owner, wait, forward, ctx.request_context.request)

    def _key(self, args: ToolArgs) -> tuple[object, ...]:
        """What a call asks, for finding a job that is already answering it."""
        return (
            tuple(v.strip() for v in args.videos or ()),
            (args.question or "").strip(),
            tuple(o.strip() for o in args.options or ()),
            args.preset or self.cfg.preset,
            args.thumbnails,
        )

    def _no_job(self, job_id: str) -> str:
        return (
            f"No job {job_id} on this server: it finished and was collected more than "
            f"{self.cfg.job_ttl_s:.0f} s ago, was cancelled, or the server restarted. Ask the question again "
            "(without job_id)."
        )

    def _check(self, args: ToolArgs) -> None:
        if not args.videos:
            raise _tool_error(
                "'videos' is missing: give a list of video file paths, e.g. videos=['/absolute/path/to/clip.mp4']."
            )
        if args.question is None or not args.question.strip():
            what = "missing" if args.question is None else "empty"
            raise _tool_error(
                f"'question' is {what}: give the question to answer about the video(s), "
                "e.g. question='What does the man do?'."
            )
        if args.preset is not None and args.preset not in self.presets:
            raise _tool_error(
                f"Unknown preset {args.preset!r}: use one of {', '.join(self.presets)} (or omit it)."
            )
        if args.options is not None and any(not o.strip() for o in args.options):
            raise _tool_error("An answer option is empty: give the text of every option, or omit options.")

    def sandbox(self, state: AppState, roots_result: Any) -> Sandbox:
        """This call's roots: the client's valid MCP roots when it sent some, else the server's."""
        if roots_result is not None:
            valid, ignored = client_roots(roots_result, allow_broad=self.cfg.allow_broad_root)
            if ignored:
                logger.info("client roots ignored: %s", "; ".join(ignored)[:500])
            if valid:
                return Sandbox(tuple(valid), self.cfg.max_file_bytes)
        return Sandbox(state.roots, self.cfg.max_file_bytes, state.aliases)

    async def _start(
        self,
        state: AppState,
        args: ToolArgs,
        owner: str,
        wait: float,
        forward: Forward,
        request: object = None,
    ) -> CallToolResult:
        cfg = self.cfg
        assert args.videos is not None and args.question is not None  # checked in _check
        policy = self.sandbox(state, args.roots)
        local: list[str | OpenedFile] = []
        urls: list[tuple[int, str]] = []
        try:
            for i, item in enumerate(args.videos):
                if is_url(item):
                    urls.append((i, check_url(item.strip(), cfg.allow_url_hosts)))
                    local.append("")
                else:
                    local.append(policy.open(item))
        except VTAgentError as exc:
            _close(local)
            raise _tool_error(error_text(exc, cfg.timeout_s)) from None

        question = args.question.strip()
        options = [o.strip() for o in args.options] if args.options else None
        preset = args.preset or cfg.preset
        thumbnails = args.thumbnails

        async def work(job: Job[Result]) -> Result:
            tmp: Path | None = None
            try:
                if urls:
                    tmp = Path(tempfile.mkdtemp(prefix="vt-agent-mcp-"))
                    for i, url in urls:
                        job.report(1.0, f"downloading video {i + 1}")
                        suffix = Path(url.split("?", 1)[0]).suffix[:8] or ".mp4"
                        local[i] = str(await download(url, tmp / f"video{i}{suffix}", cfg.max_file_bytes))
                return await _run(state, job, local, question, options, preset, thumbnails)
            finally:
                _close(local)
                if tmp is not None:
                    shutil.rmtree(tmp, ignore_errors=True)

        try:
            job = state.jobs.start(work, owner, self._key(args))
        except JobsFullError as exc:
            _close(local)
            raise _tool_error(
                f"The server is busy ({exc}). Wait a minute and retry, or poll the jobs you already started."
            ) from None
        ahead = state.jobs.running() - 1
        job.report(0.0, f"queued ({ahead} ahead)" if ahead >= cfg.max_concurrency else "starting")
        logger.info("job %s: %d video(s), preset %s", job.id, len(args.videos), preset)
        try:
            finished = await _wait_while_connected(job, wait, forward, request)
        except BaseException:
            # The caller went away (cancelled): stop its job, which closes the generation.
            job.cancel()
            state.jobs.forget(job.id)
            logger.info("job %s cancelled by the client", job.id)
            raise
        if finished is None:
            job.cancel()
            state.jobs.forget(job.id)
            logger.info("job %s cancelled: the client closed the HTTP request", job.id)
            raise _tool_error("The request was closed before the answer was ready; the job was stopped.")
        if not finished:
            job.handed_out = True
            logger.info("job %s still running after %.1f s: handle returned", job.id, wait)
            return status_result(job, wait_s=max(wait, cfg.wait_s))
        return self._finish(state, job)

    async def _poll(
        self, state: AppState, job: Job[Result], wait: float, cancel: bool, forward: Forward
    ) -> CallToolResult:
        """Wait again on ``job`` (its progress from where it is, not from 0 %), or stop it."""
        if cancel:
            job.cancel()
            state.jobs.forget(job.id)
            return cancelled_result(job)
        if not await job.wait(wait, forward, from_latest=True):
            job.handed_out = True
            return status_result(job, wait_s=max(wait, self.cfg.wait_s))
        return self._finish(state, job)

    def _finish(self, state: AppState, job: Job[Result]) -> CallToolResult:
        state.jobs.forget(job.id)
        if job.status == "cancelled":
            raise _tool_error(
                "The job was cancelled before it finished. Ask again if you still need the answer."
            )
        if job.error is not None:
            exc = job.error
            # a bug or an engine crash: one line with its type and text (the traceback at DEBUG)
            if not isinstance(exc, VTAgentError | TimeoutError):
                logger.error("job %s crashed: %s: %s", job.id, type(exc).__name__, str(exc)[:300])
                logger.debug("job %s traceback", job.id, exc_info=(type(exc), exc, exc.__traceback__))
            raise _tool_error(error_text(exc, self.cfg.timeout_s))
        assert job.result is not None  # done without error means a result
        logger.info("job %s done in %.2f s: answer %s", job.id, job.elapsed_s, job.result.answer)
        return tool_result(job.result, elapsed_s=job.elapsed_s)


async def _wait_while_connected(
    job: Job[Result], wait: float, forward: Forward, request: object
) -> bool | None:
    """``job.wait``, or None as soon as the HTTP client that made ``request`` has disconnected.

    The SDK cancels the call itself on protocol 2026-07-28; on the older streamable-HTTP
    protocol a dropped POST is only seen here (``request.is_disconnected``, polled).
    """
    is_disconnected = getattr(request, "is_disconnected", None)
    if is_disconnected is None:
        return await job.wait(wait, forward)
    gone = False
    finished = False
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            nonlocal gone
            while not await is_disconnected():
                await anyio.sleep(DISCONNECT_POLL_S)
            gone = True
            tg.cancel_scope.cancel()

        tg.start_soon(watch)
        finished = await job.wait(wait, forward)
        tg.cancel_scope.cancel()
    return None if gone else finished


def _close(videos: Sequence[object]) -> None:
    for video in videos:
        close = getattr(video, "close", None)
        if close is not None:
            close()


async def _run(
    state: AppState,
    job: Job[Result],
    paths: Sequence[str | OpenedFile],
    question: str,
    options: list[str] | None,
    preset: str,
    thumbnails: int,
) -> Result:
    """One reasoner call, limited by the server's capacity and timeout, reporting into ``job``.

    The frames are sampled (from the opened files only) while the call waits for a slot, through
    the server's shared pipeline, which bounds how many calls hold frames at once.
    """
    from vt_agent.events import ReasonerEvent, SegmentClosed
    from vt_agent.pipeline import PipelineItem
    from vt_agent.runs import drain

    segments = 0

    def report(event: ReasonerEvent) -> None:
        nonlocal segments
        if isinstance(event, SegmentClosed):
            segments += 1
        step = progress_of(event, segments)
        if step is not None:
            job.report(*step)

    pipeline = state.preparation()
    with anyio.fail_after(state.settings.timeout_s):
        async with pipeline.slot():
            ready = await pipeline.prepare(PipelineItem(job.id, list(paths), question, preset=preset))
            async with state.limiter:
                job.status = "running"
                events = state.reasoner.astream(
                    list(paths),
                    question,
                    options,
                    preset=preset,
                    thumbnails=thumbnails,
                    prepared=ready.videos,
                )
                return await drain(events, report)
