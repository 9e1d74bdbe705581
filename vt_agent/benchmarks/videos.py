"""Finding a record's video under a folder, and the one list of video file extensions.

:meth:`VideoFolder.find` looks a record's candidates up in ``root`` by the path the record
gives, then by file name, then by stem with any of :data:`VIDEO_EXTENSIONS`, anywhere below
``root`` (ActivityNet's ``v_`` prefix is tried both ways); :meth:`VideoFolder.by_stem` is the
stem lookup alone (training data building names videos by id). The folder is walked once, in
sorted order, the first file of a name or stem winning.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

__all__ = ["VIDEO_EXTENSIONS", "VideoFolder"]


VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".mpg", ".mpeg", ".m4v", ".flv", ".wmv", ".ts")


class VideoFolder:
    """Finds a record's video under ``root`` (see the module doc for the order)."""

    __slots__ = ("_by_name", "_by_stem", "root")

    def __init__(self, root: Path) -> None:
        self.root = root
        self._by_name: dict[str, str] | None = None
        self._by_stem: dict[str, str] | None = None

    def _index(self) -> tuple[dict[str, str], dict[str, str]]:
        if self._by_name is None or self._by_stem is None:
            by_name: dict[str, str] = {}
            by_stem: dict[str, str] = {}
            if self.root.is_dir():
                for dirpath, dirnames, filenames in os.walk(self.root):
                    dirnames.sort()
                    for name in sorted(filenames):
                        rel = (Path(dirpath) / name).relative_to(self.root).as_posix()
                        by_name.setdefault(name, rel)
                        if Path(name).suffix.lower() in VIDEO_EXTENSIONS:
                            by_stem.setdefault(Path(name).stem, rel)
            self._by_name, self._by_stem = by_name, by_stem
        return self._by_name, self._by_stem

    def by_stem(self, video_id: str) -> str | None:
        """The video file (relative path) whose stem is ``video_id``, also tried with the ``v_``
        prefix added or removed; None when there is none."""
        _, by_stem = self._index()
        alt = video_id[2:] if video_id.startswith("v_") else "v_" + video_id
        return by_stem.get(video_id) or by_stem.get(alt)

    def count(self) -> int:
        """How many video files (distinct stems) lie below ``root``."""
        return len(self._index()[1])

    def find(self, candidates: Sequence[str]) -> tuple[str, bool]:
        """``(relative path, exists)``; when nothing is found, the first candidate and False."""
        for cand in candidates:
            p = Path(cand)
            if p.is_absolute():
                if p.is_file():
                    try:
                        return p.relative_to(self.root).as_posix(), True
                    except ValueError:
                        return p.as_posix(), True
                continue
            if (self.root / p).is_file():
                return p.as_posix(), True
        by_name, by_stem = self._index()
        for cand in candidates:
            name = Path(cand).name
            if name in by_name and Path(name).suffix:
                return by_name[name], True
            stem = Path(name).stem if Path(name).suffix.lower() in VIDEO_EXTENSIONS else name
            for s in (stem, f"v_{stem}", stem[2:] if stem.startswith("v_") else None):
                if s and s in by_stem:
                    return by_stem[s], True
        first = Path(candidates[0])
        return (first.as_posix() if first.suffix else f"{first.as_posix()}.mp4"), False
