"""The video filters of training data building: find a sample's video, check that it decodes and
is long enough."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vt_agent.benchmarks.videos import VideoFolder
from vt_agent.errors import ConfigError, VideoError

__all__ = ["MIN_FRAMES", "VideoCheck", "VideoIndex", "check_video"]

MIN_FRAMES = 64


class VideoIndex:
    """Video files under a folder, found by file stem (``<id>.<ext>`` at any depth)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ConfigError(f"{self.root}: the videos folder does not exist")
        self._folder = VideoFolder(self.root)

    def find(self, video_id: str) -> Path | None:
        """The file for ``video_id`` (also tried with the ``v_`` prefix added or removed)."""
        rel = self._folder.by_stem(video_id)
        return None if rel is None else self.root / rel

    def __len__(self) -> int:
        return self._folder.count()


@dataclass(frozen=True)
class VideoCheck:
    """The outcome of the video filters for one file."""

    path: str
    ok: bool
    reason: str = ""
    duration_s: float | None = None
    decoded_frames: int | None = None


def check_video(path: str | os.PathLike[str], min_frames: int = MIN_FRAMES) -> VideoCheck:
    """Drop videos that do not decode or have fewer than ``min_frames`` decoded frames.

    The frame count is the decoded count (:func:`vt_agent.video.probe` decodes every frame), not
    the header's claim.
    """
    from vt_agent.video import probe

    try:
        info = probe(path)
    except VideoError as exc:
        return VideoCheck(str(path), False, f"undecodable: {exc.problem}")
    if info.decoded_frames < min_frames:
        return VideoCheck(
            str(path),
            False,
            f"too short: {info.decoded_frames} decoded frames < {min_frames}",
            info.duration_s,
            info.decoded_frames,
        )
    return VideoCheck(str(path), True, "", info.duration_s, info.decoded_frames)
