"""In-memory LRU of prepared videos, bounded by bytes of frames kept."""

from __future__ import annotations

import threading
from collections import OrderedDict

from vt_agent.video.prepared import PreparedVideo

__all__ = [
    "DEFAULT_LIMIT_BYTES",
    "FRAMES",
    "FrameCache",
]

DEFAULT_LIMIT_BYTES = 512 * 1024 * 1024


class FrameCache:
    """Thread-safe LRU of :class:`PreparedVideo` by key; evicts the oldest beyond ``limit_bytes``.

    One PreparedVideo may be stored under several keys (aliases); its bytes count once.
    """

    def __init__(self, limit_bytes: int = DEFAULT_LIMIT_BYTES) -> None:
        self.limit_bytes = limit_bytes
        self._lock = threading.Lock()
        self._data: OrderedDict[str, PreparedVideo] = OrderedDict()
        self._refs: dict[int, int] = {}
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> PreparedVideo | None:
        with self._lock:
            got = self._data.get(key)
            if got is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return got

    def _add(self, key: str, value: PreparedVideo) -> None:
        self._data[key] = value
        n = self._refs.get(id(value), 0)
        self._refs[id(value)] = n + 1
        if n == 0:
            self._bytes += int(value.frames.nbytes)

    def _drop(self, key: str) -> None:
        value = self._data.pop(key)
        n = self._refs[id(value)] - 1
        if n:
            self._refs[id(value)] = n
        else:
            del self._refs[id(value)]
            self._bytes -= int(value.frames.nbytes)

    def _shrink(self) -> None:
        while self._bytes > self.limit_bytes and self._data:
            self._drop(next(iter(self._data)))

    def put(self, key: str, value: PreparedVideo) -> None:
        with self._lock:
            if key in self._data:
                self._drop(key)
            if int(value.frames.nbytes) > self.limit_bytes:
                return
            self._add(key, value)
            self._shrink()

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._refs.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    def set_limit(self, limit_bytes: int) -> None:
        with self._lock:
            self.limit_bytes = max(0, int(limit_bytes))
            self._shrink()

    def info(self) -> dict[str, int]:
        with self._lock:
            return {
                "entries": len(self._refs),
                "keys": len(self._data),
                "bytes": self._bytes,
                "limit_bytes": self.limit_bytes,
                "hits": self.hits,
                "misses": self.misses,
            }


FRAMES = FrameCache()
