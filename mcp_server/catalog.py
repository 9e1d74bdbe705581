"""The videos under the readable folders, as MCP resources (discovery without a second tool).

``resources/list`` gives every video file found under the session's roots (the client's MCP
roots when it sent valid ones, else the server's): its ``file://`` URI (usable as is in
``video_reason``'s ``videos``), its path below the root as the name, its size in bytes and,
when probed, its duration and frame size in the description and ``_meta``. ``resources/read``
returns a JSON record of the video (path, size, duration, frame size, fps, codec, recording time
from the file's metadata when it has one, how to ask about it), never the video's bytes: hosts put what they read into the model's context, and a
video's bytes are megabytes of base64 a model cannot watch.

Bounded: at most :data:`MAX_LISTED` videos, :data:`MAX_DEPTH` folder levels below a root,
:data:`MAX_ENTRIES` directory entries looked at; hidden files and folders are skipped. The walk
opens each folder beneath its parent's descriptor with ``O_NOFOLLOW`` and lists it through that
descriptor, and skips every symbolic link, so nothing outside a root is ever listed, even when a
folder is swapped for a link during the walk. The walk and the probes run in worker threads (never
on the event loop); probes (packet index only, through :func:`vt_agent.sandbox.open_beneath`)
are cached by file identity and bounded in time per listing: a video not probed in time is listed
without its duration, which reading it gives.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import stat
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

if TYPE_CHECKING:
    from mcp_types import Resource

    from mcp_server.sandbox import Sandbox
    from vt_agent.video.probing import VideoInfo

__all__ = ["MAX_DEPTH", "MAX_ENTRIES", "MAX_LISTED", "VIDEO_SUFFIXES", "Catalog", "Found", "scan"]

logger = logging.getLogger("mcp_server")

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".wmv", ".flv", ".3gp", ".ogv"}
)
MAX_LISTED = 200
MAX_DEPTH = 4
MAX_ENTRIES = 20_000
PROBE_BUDGET_S = 3.0
PROBE_THREADS = 4
META = "vt-agent/"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Found:
    """A video file found beneath ``root``: its path below it and what ``lstat`` said."""

    root: Path
    rel: str
    size: int
    mtime_ns: int

    @property
    def path(self) -> Path:
        return self.root / self.rel

    @property
    def uri(self) -> str:
        return self.path.as_uri()


def _is_video(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in VIDEO_SUFFIXES


def scan(
    roots: Sequence[Path], *, limit: int = MAX_LISTED, depth: int = MAX_DEPTH, max_entries: int = MAX_ENTRIES
) -> tuple[list[Found], bool]:
    """Video files beneath ``roots`` and whether the walk was cut short (by ``limit`` or ``max_entries``).

    Blocking (run it in a thread). In each folder its files come first, then its subfolders, in
    name order. Never follows a symbolic link; each folder is opened beneath its parent's
    descriptor, so at most ``depth`` folders are open at once.
    """
    found: list[Found] = []
    budget = [max_entries]

    def walk(root: Path, fd: int, prefix: str, level: int) -> bool:
        """False once a bound is reached."""
        try:
            with os.scandir(fd) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            return True
        folders: list[str] = []
        for entry in entries:
            budget[0] -= 1
            if budget[0] < 0 or len(found) >= limit:
                return False
            if entry.name.startswith("."):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                folders.append(entry.name)
            elif stat.S_ISREG(st.st_mode) and st.st_size > 0 and _is_video(entry.name):
                found.append(Found(root, prefix + entry.name, st.st_size, st.st_mtime_ns))
        if level + 1 >= depth:
            return True
        for name in folders:
            try:
                sub = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError:  # a link swapped in (ELOOP), gone, unreadable
                continue
            try:
                if not walk(root, sub, f"{prefix}{name}/", level + 1):
                    return False
            finally:
                os.close(sub)
        return True

    for root in roots:
        try:
            top = os.open(root, _DIR_FLAGS)
        except OSError:
            continue
        try:
            if not walk(root, top, "", 0):
                return found, True
        finally:
            os.close(top)
    return found, False


def _probe(item: Found) -> VideoInfo:
    """The packet-level probe of ``item``, opened beneath its root (blocking)."""
    from vt_agent.sandbox import open_beneath
    from vt_agent.video.probing import probe

    with open_beneath(item.root, item.rel) as opened:
        return probe(opened, decode_all=False)


def _size_text(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


@dataclass
class Catalog:
    """Probe results kept across listings (by path, size and mtime), shared by the server's sessions."""

    budget_s: float = PROBE_BUDGET_S
    max_cached: int = 4 * MAX_LISTED
    _info: dict[tuple[str, int, int], VideoInfo | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _busy: set[tuple[str, int, int]] = field(default_factory=set)
    """Files being probed (a probe past a listing's budget goes on in its thread)."""

    def _key(self, item: Found) -> tuple[str, int, int]:
        return (str(item.path), item.size, item.mtime_ns)

    def known(self, item: Found) -> tuple[bool, VideoInfo | None]:
        with self._lock:
            key = self._key(item)
            return key in self._info, self._info.get(key)

    def _remember(self, item: Found, info: VideoInfo | None) -> None:
        with self._lock:
            if len(self._info) >= self.max_cached:
                self._info.pop(next(iter(self._info)))
            self._info[self._key(item)] = info

    def probe_now(self, item: Found) -> VideoInfo | None:
        """Probe one file (blocking; None when it does not decode as a video)."""
        done, info = self.known(item)
        if done:
            return info
        try:
            info = _probe(item)
        except Exception as exc:  # not a playable video: listed without a duration
            logger.debug("probe of %s failed: %s", item.rel, exc)
            info = None
        self._remember(item, info)
        return info

    async def list(self, roots: Sequence[Path]) -> tuple[list[Found], bool]:
        """The videos under ``roots``, probing the new ones in threads for at most ``budget_s``."""
        found, cut = await anyio.to_thread.run_sync(scan, list(roots))
        with self._lock:
            todo = [
                item
                for item in found
                if self._key(item) not in self._info and self._key(item) not in self._busy
            ]
            self._busy.update(self._key(item) for item in todo)
        if todo:
            limiter = anyio.CapacityLimiter(PROBE_THREADS)
            with anyio.move_on_after(self.budget_s):
                async with anyio.create_task_group() as tg:
                    for item in todo:
                        tg.start_soon(self._probe_in_thread, item, limiter)
        return found, cut

    async def _probe_in_thread(self, item: Found, limiter: anyio.CapacityLimiter) -> None:
        # abandon_on_cancel: past the budget the listing goes on; the probe finishes in its thread
        await anyio.to_thread.run_sync(self._probe_marked, item, limiter=limiter, abandon_on_cancel=True)

    def _probe_marked(self, item: Found) -> None:
        try:
            self.probe_now(item)
        finally:
            with self._lock:
                self._busy.discard(self._key(item))

    def resource(self, item: Found) -> Resource:
        """``item`` as an MCP resource: file:// URI, name below the root, size, duration when known."""
        from mcp_types import Annotations, Resource

        _, info = self.known(item)
        mime = mimetypes.guess_type(item.rel)[0] or "video/mp4"
        if info is not None:
            what = f"{info.duration_s:.1f} s video, {info.width}x{info.height}, {_size_text(item.size)}"
            if info.creation_time:
                what += f", recorded {info.creation_time}"
        else:
            what = f"video, {_size_text(item.size)} (read this resource for its duration)"
        meta: dict[str, Any] = {f"{META}size_bytes": item.size, f"{META}root": str(item.root)}
        if info is not None:
            meta.update(
                {
                    f"{META}duration_s": round(info.duration_s, 3),
                    f"{META}width": info.width,
                    f"{META}height": info.height,
                }
            )
            if info.creation_time:
                meta[f"{META}creation_time"] = info.creation_time
        return Resource(
            uri=item.uri,
            name=item.rel,
            title=Path(item.rel).name,
            description=f"{what}. Ask about it with video_reason(videos=['{item.uri}'], question=...).",
            mime_type=mime,
            size=item.size,
            annotations=Annotations(
                audience=["user", "assistant"],
                last_modified=datetime.fromtimestamp(item.mtime_ns / 1e9, UTC).isoformat(timespec="seconds"),
            ),
            _meta=meta,
        )


async def read_record(sandbox: Sandbox, uri: str) -> str:
    """The JSON record of the video ``uri`` names, opened beneath its root as the tool opens it."""

    def work() -> str:
        from vt_agent.video.probing import probe

        t0 = time.perf_counter()
        with sandbox.open(uri) as opened:
            info = probe(opened, decode_all=False)
        path = Path(str(opened))
        record = {
            "uri": path.as_uri(),
            "path": str(path),
            "size_bytes": info.size_bytes,
            "duration_s": round(info.duration_s, 3),
            "width": info.width,
            "height": info.height,
            "fps": round(info.fps, 3),
            "codec": info.codec,
            "has_audio": info.has_audio,
            "creation_time": info.creation_time,
            "creation_time_from": info.creation_time_from,
            "warnings": info.warnings,
            "how_to_ask": (
                f"Call the video_reason tool with videos=['{path.as_uri()}'] and your question "
                "(add options for a multiple-choice question)."
            ),
            "probe_s": round(time.perf_counter() - t0, 3),
        }
        return json.dumps(record, indent=1)

    return await anyio.to_thread.run_sync(work)
