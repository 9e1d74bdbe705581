"""Open a file once, beneath an allowed folder, then read it only through that open file.

:func:`open_beneath` resolves a relative path from the folder's directory descriptor, never by
name from ``/``: with Linux's ``openat2(2)`` and ``RESOLVE_BENEATH`` a symbolic link that stays
beneath the folder works and one that leaves it (or a ``..`` that would climb out) is refused
atomically by the kernel; where ``openat2`` is missing (old kernels, seccomp filters, other
systems) each component is opened with ``O_NOFOLLOW`` (``O_DIRECTORY`` for folders), so every
symbolic link is refused. The descriptor is then checked with ``fstat`` (a non-empty regular file,
at most ``max_bytes``) and wrapped in an :class:`OpenedFile`: every later read (probing,
decoding, thumbnails, cache identity) goes through it, so swapping the name afterwards changes
nothing. Error messages quote the path as the caller gave it and nothing derived from it.

Over 400 lines: two ways to open beneath a folder (openat2, the O_NOFOLLOW walk) and the file object over the descriptor: the guarantee is theirs jointly.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import stat
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from vt_agent.errors import ConfigError, PathNotAllowedError, VideoDecodeError, VideoNotFoundError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "ROOTS_ENV",
    "OpenedFile",
    "check_folders",
    "check_video_stat",
    "env_roots",
    "has_openat2",
    "open_beneath",
    "open_in_roots",
    "opened_in_roots",
]

DEFAULT_MAX_BYTES = 64 * 2**30  # 64 GiB: a bound on what one call may read
ROOTS_ENV = "VT_AGENT_ALLOWED_ROOTS"  # folders videos may be read from (path-separated)
OUTSIDE = "is not inside the allowed folders"
ID_CHUNK = 64 * 1024

# openat2(2): one syscall number on every architecture with the unified table (Linux >= 5.6)
_SYS_OPENAT2 = 437
_OPENAT2_MACHINES = {"x86_64", "amd64", "aarch64", "arm64", "riscv64", "ppc64le", "ppc64", "s390x"}
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_BENEATH = 0x08
_FILE_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK  # NONBLOCK: a FIFO never blocks
_openat2_state: list[Any] = []  # [syscall function] once known to work, [None] once known missing
_state_lock = threading.Lock()


class OpenedFile:
    """A regular file opened once; read it with :meth:`reader` (each reader has its own position).

    ``path`` is where it was found (the folder joined with the relative path, never resolved) and
    only labels records and messages; nothing reopens it. Close it when done (a context manager);
    readers already handed out keep working until they are closed themselves.
    """

    def __init__(self, fd: int, path: str) -> None:
        self._fd = fd
        self.path = path
        self._lock = threading.Lock()
        self._id: tuple[tuple[int, int, int, int], str] | None = None

    def __repr__(self) -> str:
        return f"OpenedFile({self.path!r}{', closed' if self._fd < 0 else ''})"

    def __str__(self) -> str:
        return self.path

    def __enter__(self) -> OpenedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def _live_fd(self) -> int:
        fd = self._fd
        if fd < 0:
            raise VideoNotFoundError(self.path, "was opened but has been closed since; open it again")
        return fd

    def stat(self) -> os.stat_result:
        """``fstat`` of the open file (never the name)."""
        return os.fstat(self._live_fd())

    @property
    def size(self) -> int:
        return self.stat().st_size

    def pread(self, n: int, offset: int) -> bytes:
        return os.pread(self._live_fd(), n, offset)

    def reader(self) -> io.RawIOBase:
        """A new binary file object over this file with its own position (a duplicate descriptor),
        so concurrent readers never share a position; closing it leaves this file open."""
        with self._lock:
            return _Reader(os.dup(self._live_fd()), self.path)

    def identity(self) -> str:
        """20 hex digits naming the content: sha256 of device, inode, size, mtime and the first and
        last 64 KiB. Recomputed when fstat shows another size or mtime."""
        st = self.stat()
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        got = self._id
        if got is not None and got[0] == key:
            return got[1]
        h = hashlib.sha256(f"open:{key[0]}:{key[1]}:{key[2]}:{key[3]}:".encode())
        h.update(self.pread(ID_CHUNK, 0))
        if st.st_size > ID_CHUNK:
            h.update(self.pread(ID_CHUNK, max(ID_CHUNK, st.st_size - ID_CHUNK)))
        fid = h.hexdigest()[:20]
        self._id = (key, fid)
        return fid


class _Reader(io.RawIOBase):
    """Positioned reads (``pread``) on a descriptor of its own; what PyAV needs of a file object."""

    def __init__(self, fd: int, name: str) -> None:
        super().__init__()
        self._fd = fd
        self._pos = 0
        self.name = name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = max(0, os.fstat(self._fd).st_size - self._pos)
        data = os.pread(self._fd, size, self._pos)
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = os.pread(self._fd, len(memoryview(buffer)), self._pos)
        n = len(data)
        memoryview(buffer).cast("B")[:n] = data
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = os.fstat(self._fd).st_size + offset
        else:
            raise ValueError(f"unknown whence {whence}")
        if pos < 0:
            raise OSError(errno.EINVAL, "negative seek position")
        self._pos = pos
        return pos

    def tell(self) -> int:
        return self._pos

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        if not self.closed:
            fd, self._fd = self._fd, -1
            os.close(fd)
        super().close()


# ---------------------------------------------------------------- opening


def _relative_parts(given: str) -> list[str]:
    """The components of a relative path, or PathNotAllowedError (absolute, ``..``, NUL, empty)."""
    if "\0" in given:
        raise PathNotAllowedError(f"{given!r} {OUTSIDE} (it holds a NUL byte)")
    if given.startswith("/") or given.startswith("\\"):
        raise PathNotAllowedError(f"{given!r} {OUTSIDE}: give a path relative to the folder")
    parts = [p for p in given.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise PathNotAllowedError(f"{given!r} {OUTSIDE}: '..' is not allowed in a path")
    if not parts:
        raise VideoNotFoundError(given, "names the folder itself, not a video file")
    return parts


def _openat2_syscall() -> Any:
    """The openat2 syscall as a ctypes function, or None where this system has no such call."""
    with _state_lock:
        if _openat2_state:
            return _openat2_state[0]
    import platform

    func = None
    if sys.platform.startswith("linux") and platform.machine().lower() in _OPENAT2_MACHINES:
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            func = libc.syscall
            func.restype = ctypes.c_long
        except (OSError, AttributeError):
            func = None
    with _state_lock:
        if not _openat2_state:
            _openat2_state.append(func)
    return func


def has_openat2() -> bool:
    """Whether open_beneath uses openat2 here (after one probe call; False once found missing)."""
    return _openat2_syscall() is not None


def _mark_openat2_missing() -> None:
    with _state_lock:
        _openat2_state[:] = [None]


def _openat2(dirfd: int, rel: str) -> int | None:
    """fd from openat2(RESOLVE_BENEATH), None where the kernel refuses the call itself; OSError else."""
    func = _openat2_syscall()
    if func is None:
        return None
    import ctypes

    class OpenHow(ctypes.Structure):
        _fields_ = (("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64))

    how = OpenHow(_FILE_FLAGS, 0, _RESOLVE_BENEATH | _RESOLVE_NO_MAGICLINKS)
    fd = int(
        func(
            ctypes.c_long(_SYS_OPENAT2),
            ctypes.c_int(dirfd),
            ctypes.c_char_p(os.fsencode(rel)),
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        )
    )
    if fd >= 0:
        return fd
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EPERM, errno.E2BIG):  # no openat2 (or a seccomp filter denies it)
        _mark_openat2_missing()
        return None
    raise OSError(err, os.strerror(err))


def _walk_nofollow(dirfd: int, parts: list[str], given: str) -> int:
    """Component by component with O_NOFOLLOW: any symbolic link is refused."""
    cur = os.dup(dirfd)
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            flags = _FILE_FLAGS if last else os.O_RDONLY | os.O_CLOEXEC | os.O_DIRECTORY
            try:
                nxt = os.open(part, flags | os.O_NOFOLLOW, dir_fd=cur)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    try:
                        is_link = stat.S_ISLNK(os.lstat(part, dir_fd=cur).st_mode)
                    except OSError:
                        is_link = False
                    if is_link:
                        raise PathNotAllowedError(
                            f"{given!r} goes through a symbolic link, which cannot be followed safely on "
                            "this system (no openat2); give the path of the file itself"
                        ) from None
                raise
            os.close(cur)
            cur = nxt
        return cur
    except BaseException:
        os.close(cur)
        raise


def _describe(exc: OSError, given: str) -> Exception:
    """The error for a failed open beneath the folder (nothing outside it is ever reached)."""
    if exc.errno == errno.EXDEV:  # RESOLVE_BENEATH: a link or '..' that would leave the folder
        return PathNotAllowedError(f"{given!r} {OUTSIDE}")
    if exc.errno == errno.ENOENT:
        return VideoNotFoundError(given, "no such file in the allowed folder; check the path")
    if exc.errno == errno.ENOTDIR:
        return VideoNotFoundError(given, "a part of this path is a file, not a folder; check the path")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return VideoNotFoundError(given, "is not readable (permission denied)")
    if exc.errno == errno.ELOOP:
        return VideoNotFoundError(given, "goes through too many symbolic links")
    return VideoNotFoundError(given, f"cannot be opened ({exc.strerror or exc})")


def open_beneath(
    root: str | os.PathLike[str] | int,
    relpath: str | os.PathLike[str],
    *,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> OpenedFile:
    """Open ``relpath`` beneath the folder ``root`` (a path or an open directory descriptor).

    Refused with PathNotAllowedError: an absolute path, a ``..`` component, a symbolic link
    leaving the folder (any symbolic link where openat2 is missing). Refused with
    VideoNotFoundError / VideoDecodeError: missing, not a regular file, empty, above ``max_bytes``.
    """
    given = os.fspath(relpath)
    parts = _relative_parts(given)
    rel = "/".join(parts)
    if isinstance(root, int):
        rootfd, label_root = os.dup(root), ""
    else:
        label_root = os.path.abspath(os.fspath(root))
        try:
            rootfd = os.open(label_root, os.O_RDONLY | os.O_CLOEXEC | os.O_DIRECTORY)
        except OSError as exc:
            raise VideoNotFoundError(
                label_root, f"the allowed folder cannot be opened ({exc.strerror})"
            ) from None
    try:
        try:
            fd = _openat2(rootfd, rel)
            if fd is None:
                fd = _walk_nofollow(rootfd, parts, given)
        except PathNotAllowedError:
            raise
        except OSError as exc:
            raise _describe(exc, given) from None
    finally:
        os.close(rootfd)
    path = os.path.join(label_root, rel) if label_root else rel
    opened = OpenedFile(fd, path)
    try:
        _check_opened(opened, given, max_bytes)
    except BaseException:
        opened.close()
        raise
    return opened


def _check_opened(opened: OpenedFile, given: str, max_bytes: int | None) -> None:
    check_video_stat(opened.stat(), given, max_bytes)


def check_video_stat(st: os.stat_result, given: str | Path, max_bytes: int | None = None) -> None:
    """Refuse what a ``stat`` says cannot be a video: a folder, a device or pipe, an empty file, or
    (``max_bytes``) a file too large; errors name ``given``. Shared by opened files and plain paths."""
    if stat.S_ISDIR(st.st_mode):
        raise VideoNotFoundError(given, "is a directory, not a video file; give the path of a video file")
    if not stat.S_ISREG(st.st_mode):
        raise VideoNotFoundError(given, "is not a regular file (device, socket or pipe); give a video file")
    if st.st_size == 0:
        raise VideoDecodeError(given, "is an empty file (0 bytes); the download or copy probably failed")
    if max_bytes is not None and st.st_size > max_bytes:
        raise VideoDecodeError(
            given, f"is {st.st_size} bytes, above the limit of {max_bytes} bytes for one video"
        )


def _inside(path: str, root: str) -> str | None:
    """``path`` relative to ``root`` when it lies beneath it lexically (no filesystem access)."""
    if path == root:
        return ""
    prefix = root.rstrip("/") + "/"
    return path[len(prefix) :].lstrip("/") if path.startswith(prefix) else None


def open_in_roots(
    roots: Sequence[str | os.PathLike[str]],
    path: str | os.PathLike[str],
    *,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> OpenedFile:
    """Open ``path`` beneath the first of ``roots`` that holds it (absolute folders).

    A relative ``path`` is taken beneath the first root. Which root holds an absolute path is
    decided from the text alone (each root as given and as resolved), before any file outside
    the roots is touched; a path beneath none of them gets one message whatever exists there.
    """
    given = os.fspath(path)
    if not roots:
        raise PathNotAllowedError(f"{given!r} {OUTSIDE}: no folder is allowed (none configured)")
    if "\0" in given:
        raise PathNotAllowedError(f"{given!r} {OUTSIDE} (it holds a NUL byte)")
    if not os.path.isabs(given):
        return open_beneath(roots[0], given, max_bytes=max_bytes)
    for root in roots:
        text = os.path.abspath(os.fspath(root))
        for form in dict.fromkeys((text, os.path.realpath(text))):
            rel = _inside(given, form)
            if rel is None:
                continue
            if ".." in rel.split("/"):
                break
            return open_beneath(form, rel or ".", max_bytes=max_bytes)
    raise PathNotAllowedError(f"{given!r} {OUTSIDE}")


def check_folders(roots: Sequence[str | os.PathLike[str]], origin: str = "roots") -> list[str]:
    """``roots`` as absolute paths of existing folders; ConfigError naming ``origin`` otherwise."""
    if isinstance(roots, str | os.PathLike):
        raise ConfigError(
            f"{origin} must be a list of folders, got one path {os.fspath(roots)!r}: use [path]"
        )
    folders = [os.path.abspath(os.fspath(r)) for r in roots]
    if not folders:
        raise ConfigError(f"{origin} is empty: give the folders videos may be read from")
    for folder in folders:
        if not os.path.isdir(folder):
            raise ConfigError(f"{origin}: {folder!r} is not a folder; give existing folders")
    return folders


def env_roots() -> list[str] | None:
    """The folders named by ``VT_AGENT_ALLOWED_ROOTS`` (separated by ``os.pathsep``), or None when unset."""
    text = os.environ.get(ROOTS_ENV, "")
    parts = [p for p in text.split(os.pathsep) if p.strip()]
    return check_folders(parts, ROOTS_ENV) if parts else None


@contextlib.contextmanager
def opened_in_roots(
    roots: Sequence[str | os.PathLike[str]], paths: Sequence[str | os.PathLike[str]]
) -> Iterator[list[OpenedFile]]:
    """Every one of ``paths`` opened beneath ``roots`` (:func:`open_in_roots`), closed on exit;
    if one cannot be opened, those already opened are closed and its error raised."""
    opened: list[OpenedFile] = []
    try:
        for path in paths:
            opened.append(open_in_roots(roots, path))
        yield opened
    finally:
        for f in opened:
            f.close()
