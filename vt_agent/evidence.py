"""Evidence thumbnails: small JPEGs taken at the middle of the spans the model cited."""

from __future__ import annotations

import base64
from collections.abc import Sequence

from vt_agent.errors import ConfigError, VideoError
from vt_agent.result import Segment, Thumbnail
from vt_agent.sandbox import OpenedFile

__all__ = ["thumbnail_times", "thumbnails_for"]

MAX_SIDE = 256
QUALITY = 75


def thumbnail_times(segments: Sequence[Segment], limit: int) -> list[tuple[Segment, float]]:
    """The first ``limit`` segments with a readable span, each with the middle of its span."""
    if limit < 0:
        raise ConfigError(f"the number of thumbnails must be >= 0, got {limit}")
    out: list[tuple[Segment, float]] = []
    for seg in segments:
        if len(out) >= limit:
            break
        if seg.start_s is None or seg.end_s is None:
            continue
        out.append((seg, (seg.start_s + seg.end_s) / 2))
    return out


def thumbnails_for(
    segments: Sequence[Segment],
    videos: Sequence[str | OpenedFile],
    limit: int,
    *,
    max_side: int = MAX_SIDE,
    quality: int = QUALITY,
) -> tuple[list[Thumbnail], list[str]]:
    """JPEG thumbnails (longest side ``max_side``) at the first ``limit`` cited spans.

    ``videos[seg.video]`` is the file a segment refers to. Returns the thumbnails and a warning
    for each span whose frame could not be taken (never raises for a bad span).
    """
    from vt_agent.video import frame_at, jpeg_bytes

    thumbs: list[Thumbnail] = []
    warnings: list[str] = []
    for seg, time_s in thumbnail_times(segments, limit):
        if not 0 <= seg.video < len(videos):
            warnings.append(f"segment {seg.index}: no video {seg.video + 1} for a thumbnail")
            continue
        try:
            img = frame_at(videos[seg.video], time_s, max_side=max_side)
        except VideoError as exc:
            warnings.append(f"segment {seg.index}: no thumbnail at {time_s:.2f} s ({exc.problem})")
            continue
        data = jpeg_bytes(img, quality=quality)
        thumbs.append(
            Thumbnail(
                segment=seg.index,
                video=seg.video,
                time_s=round(time_s, 3),
                width=img.width,
                height=img.height,
                jpeg_base64=base64.b64encode(data).decode("ascii"),
            )
        )
    return thumbs, warnings
