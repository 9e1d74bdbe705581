"""Which files a call may read: the roots of a session and the path of one video beneath them.

Roots. The server's roots are the folders of ``--allow DIR`` / ``VT_AGENT_ALLOWED_ROOTS``;
there is no implicit root (never the working directory). A client that sends valid MCP roots
(local ``file://`` URIs of existing folders) *replaces* them for its call, as the MCP
filesystem server does (IDEs send their workspace folders); a client that declares the roots
capability but sends none, or none valid, keeps the server's. ``/``, the home folder and the
folders above it are refused as roots (server or client) unless ``--allow-broad-root``.

Paths. :meth:`Sandbox.locate` decides from the caller's text alone, before touching the
filesystem, whether a path lies beneath a root: a relative path is taken beneath the first root;
``~`` is never expanded; a path with a ``..`` component is refused. Any path not beneath a root
gets one and the same message (:func:`outside_message`), which quotes the caller's text and
nothing derived from it. :meth:`Sandbox.walk` then follows the path one component at a time
beneath its root (``lstat``/``readlink`` only inside the root): a symlink that stays beneath the
root is followed, one that leaves it is refused with the same message, without looking at its
target. :meth:`Sandbox.open` finally opens the file once beneath the root's directory descriptor
(:func:`vt_agent.sandbox.open_beneath`); the job reads only that descriptor, so a folder swapped
for a symlink after the check changes nothing.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from vt_agent.errors import ConfigError, PathNotAllowedError, VideoError, VideoNotFoundError

if TYPE_CHECKING:
    from vt_agent.sandbox import OpenedFile

__all__ = [
    "NO_ROOTS_MESSAGE",
    "Located",
    "Sandbox",
    "broad_root_reason",
    "check_root",
    "client_roots",
    "outside_message",
]

MAX_LINKS = 40

NO_ROOTS_MESSAGE = (
    "No folder is readable on this server, so no video can be read. Ask the user to start vt-agent-mcp "
    "with --allow <folder holding the videos> (or to set VT_AGENT_ALLOWED_ROOTS), or to use a client "
    "that shares its workspace folders as MCP roots."
)


def outside_message(text: str, roots: Sequence[Path]) -> str:
    """The one answer for any path not beneath a root (quotes only the caller's text)."""
    listed = ", ".join(str(r) for r in roots)
    return (
        f"{text!r} is outside the folders this server may read ({listed}). Give the absolute path "
        "of a video file inside one of them, or a path relative to the first one. If the video is elsewhere, "
        "ask the user to move it into one of them or to start the server with --allow <folder>."
    )


def broad_root_reason(path: Path) -> str | None:
    """Why ``path`` (resolved) is too broad to be a root: ``/``, the home folder or above it."""
    if path == Path(path.anchor):
        return "is the root of the filesystem"
    try:
        home = Path.home().resolve()
    except (OSError, RuntimeError, KeyError):
        return None
    if path == home:
        return "is the home folder"
    if path in home.parents:
        return "holds the home folder"
    return None


def check_root(path: Path, *, allow_broad: bool, origin: str) -> Path:
    """``path`` resolved, when it is an existing folder and not too broad; else ConfigError."""
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError):
        raise ConfigError(f"{origin}: {path} does not exist; give folders videos may be read from") from None
    if not resolved.is_dir():
        raise ConfigError(f"{origin}: {path} is not a folder; give folders videos may be read from")
    reason = broad_root_reason(resolved)
    if reason is not None and not allow_broad:
        raise ConfigError(
            f"{origin}: {path} {reason}: every file under it would become readable by the calling model. "
            "Give the folder that holds the videos, or pass --allow-broad-root if that is really meant."
        )
    return resolved


def client_roots(roots_result: object, *, allow_broad: bool) -> tuple[list[Path], list[str]]:
    """The valid local folders among a client's MCP roots, and why each other one was ignored."""
    valid: list[Path] = []
    ignored: list[str] = []
    for root in getattr(roots_result, "roots", None) or []:
        uri = str(getattr(root, "uri", ""))
        parts = urlsplit(uri)
        path = unquote(parts.path)
        if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost") or "\x00" in path:
            ignored.append(f"{uri!r}: not a local file:// URI")
            continue
        if not PurePath(path).is_absolute():
            ignored.append(f"{uri!r}: not an absolute path")
            continue
        try:
            resolved = check_root(Path(path), allow_broad=allow_broad, origin="client root")
        except ConfigError as exc:
            ignored.append(str(exc))
            continue
        if resolved not in valid:
            valid.append(resolved)
    return valid, ignored


@dataclass(frozen=True)
class Located:
    """A path beneath ``root``: its components below it (no ``.`` or ``..``)."""

    text: str
    root: Path
    parts: tuple[str, ...]


@dataclass(frozen=True)
class Sandbox:
    """The roots of one call (resolved folders) and the file size cap."""

    roots: tuple[Path, ...]
    max_file_bytes: int
    aliases: tuple[tuple[Path, Path], ...] = ()
    """(given, resolved) pairs: a root as the user wrote it, when that differs from its resolved form."""

    def outside(self, text: str) -> PathNotAllowedError:
        return PathNotAllowedError(outside_message(text, self.roots))

    def locate(self, text: str) -> Located:
        """Where ``text`` lies beneath a root, decided from the text alone (no filesystem access)."""
        if not self.roots:
            raise PathNotAllowedError(NO_ROOTS_MESSAGE)
        if not text.strip():
            raise VideoNotFoundError(text, "is empty; give the path of a video file")
        raw = text.strip()
        if raw.lower().startswith("file:"):
            parts = urlsplit(raw)
            if parts.netloc not in ("", "localhost"):
                raise self.outside(text)
            raw = unquote(parts.path)
        if "\x00" in raw:
            raise PathNotAllowedError(
                f"{text!r}: a path cannot contain a NUL character; give a plain file path"
            )
        if raw.startswith("~"):
            raise self.outside(text)
        path = PurePath(raw)
        if not path.is_absolute():
            return self._below(text, self.roots[0], path.parts)
        for root in self.roots:
            if path.parts[: len(root.parts)] == root.parts:
                return self._below(text, root, path.parts[len(root.parts) :])
        for given, resolved in self.aliases:
            if path.parts[: len(given.parts)] == given.parts:
                return self._below(text, resolved, path.parts[len(given.parts) :])
        raise self.outside(text)

    def _below(self, text: str, root: Path, parts: tuple[str, ...]) -> Located:
        if ".." in parts:
            raise PathNotAllowedError(
                f"{text!r}: paths with '..' are refused; give the full path of the file inside "
                f"{', '.join(str(r) for r in self.roots)}"
            )
        return Located(text, root, tuple(p for p in parts if p not in ("", ".")))

    def walk(self, located: Located) -> Path:
        """The file ``located`` names, following only symlinks that stay beneath its root."""
        root, text = located.root, located.text
        current = root
        todo = list(located.parts)
        links = 0
        while todo:
            name = todo.pop(0)
            if name in ("", "."):
                continue
            if name == "..":  # only from a relative link target
                if current == root:
                    raise self.outside(text)
                current = current.parent
                continue
            step = current / name
            try:
                st = os.lstat(step)
            except (FileNotFoundError, NotADirectoryError):
                raise VideoNotFoundError(text, "no such file; check the path and the name") from None
            except OSError:
                raise VideoNotFoundError(text, "cannot be read (permission denied?)") from None
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > MAX_LINKS:
                    raise VideoNotFoundError(text, "has too many levels of symbolic links")
                target = PurePath(os.readlink(step))
                if target.is_absolute():
                    if target.parts[: len(root.parts)] != root.parts:
                        raise self.outside(text)
                    current = root
                    todo = list(target.parts[len(root.parts) :]) + todo
                else:
                    todo = list(target.parts) + todo
                continue
            if todo and not stat.S_ISDIR(st.st_mode):
                raise VideoNotFoundError(text, "no such file; check the path and the name")
            current = step
        return current

    def open(self, text: str) -> OpenedFile:
        """The video ``text`` names, opened once beneath its root; every later read uses the descriptor.

        The path is located from the text, followed inside the root (:meth:`walk`), then opened
        with :func:`vt_agent.sandbox.open_beneath` from the root's directory descriptor
        (``openat2`` with ``RESOLVE_BENEATH``, else an ``O_NOFOLLOW`` walk): whatever is swapped
        in between, nothing outside the root is opened. The file is checked through the
        descriptor: a regular, non-empty file no larger than ``max_file_bytes``.
        """
        from vt_agent.sandbox import open_beneath

        located = self.locate(text)
        rel = self.walk(located).relative_to(located.root)
        if not rel.parts:
            raise VideoNotFoundError(
                text, "is a directory, not a video file; give the path of one video file in it"
            )
        try:
            opened = open_beneath(located.root, rel.as_posix(), max_bytes=None)
        except PathNotAllowedError:
            raise self.outside(text) from None
        except VideoError as exc:
            raise type(exc)(text, exc.problem) from None
        size = opened.size
        if size > self.max_file_bytes:
            opened.close()
            raise PathNotAllowedError(
                f"{text!r}: {size / 2**20:.0f} MiB is larger than this server's limit of "
                f"{self.max_file_bytes / 2**20:.0f} MiB; cut the clip (e.g. ffmpeg -ss START -t LENGTH) "
                "or ask the user to raise --max-file-mb"
            )
        return opened
