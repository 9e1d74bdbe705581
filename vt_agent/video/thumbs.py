"""Single frames for thumbnails and evidence, JPEG encoding, and contact sheets."""

from __future__ import annotations

import bisect
import io
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from vt_agent.errors import ConfigError, VideoDecodeError, WindowError
from vt_agent.video import probing as _probe
from vt_agent.video.decoding import _Mismatch, collect

if TYPE_CHECKING:
    from PIL import Image

    from vt_agent.video.prepared import PreparedVideo

__all__ = [
    "contact_sheet",
    "frame_at",
    "jpeg_bytes",
    "label_time",
]


def _pil() -> Any:
    from vt_agent._lazy import require

    return require("PIL.Image", "video", "Thumbnails")


def _shrink(rgb: np.ndarray, max_side: int | None) -> Image.Image:
    image_mod = _pil()
    img: Image.Image = image_mod.fromarray(np.ascontiguousarray(rgb))
    if max_side is not None:
        if max_side < 1:
            raise ConfigError(f"max_side must be at least 1 pixel, got {max_side}")
        img.thumbnail((max_side, max_side), image_mod.Resampling.BICUBIC)
    return img


def frame_at(
    path: _probe.VideoSource, time_s: float, max_side: int | None = 256, *, cache: bool = True
) -> Image.Image:
    """The frame on screen at ``time_s`` (seconds from the first decoded frame), longest side <= max_side.

    ``time_s`` beyond the end gives WindowError; slightly before 0 gives the first frame.
    """
    p = _probe.check_source(path)
    got = _probe.probe_packets(p, cache=cache) or _probe.probe_full(p, cache=cache)
    _info, tl = got
    if not math.isfinite(time_s) or time_s < -0.5 or time_s > tl.duration_s + 1e-6:
        raise WindowError(str(p), f"time {time_s} s is outside the clip (0 to {tl.duration_s:.3f} s)")

    def rgb(frame: Any) -> np.ndarray:
        return np.asarray(frame.to_ndarray(format="rgb24"))

    def grab(timeline: _probe.Timeline, seek: bool) -> np.ndarray:
        times = timeline.times_s
        pos = max(0, bisect.bisect_right(times, time_s + 1e-9) - 1)
        return collect(p, timeline, [pos], rgb, seek=seek)[0][pos]

    try:
        try:
            frame = grab(tl, True)
        except _Mismatch:
            frame = grab(tl, False)
    except _Mismatch:
        try:
            frame = grab(_probe.probe_full(p, cache=cache)[1], False)
        except _Mismatch as exc:
            raise VideoDecodeError(
                str(p), f"frames decode differently on a second pass ({exc}); the file is damaged"
            ) from None
    return _shrink(frame, max_side)


def jpeg_bytes(img: Image.Image, quality: int = 80) -> bytes:
    """``img`` encoded as JPEG (RGB)."""
    if not 1 <= quality <= 100:
        raise ConfigError(f"JPEG quality must be 1..100, got {quality}")
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def label_time(seconds: float) -> str:
    """``MM:SS.s`` (``H:MM:SS.s`` from one hour)."""
    tenths = max(0, round(seconds * 10))
    s10 = tenths % 600
    minutes = tenths // 600
    h, m = divmod(minutes, 60)
    sec = f"{s10 // 10:02d}.{s10 % 10}"
    return f"{h}:{m:02d}:{sec}" if h else f"{m:02d}:{sec}"


def contact_sheet(
    prepared: PreparedVideo, *, columns: int | None = None, tile_width: int = 240
) -> Image.Image:
    """A grid of the sampled frames, each labelled with its index and timestamp (MM:SS.s)."""
    image_mod = _pil()
    from PIL import ImageDraw, ImageFont

    frames = prepared.frames
    rec = prepared.record
    n = len(frames)
    if n == 0:
        raise ConfigError("no frames to put on a contact sheet")
    cols = columns or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / cols)
    h0, w0 = frames.shape[1:3]
    tw = max(32, tile_width)
    th = max(1, round(h0 * tw / w0))
    band = 18
    sheet: Image.Image = image_mod.new("RGB", (cols * tw, rows * (th + band)), (20, 20, 20))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for k in range(n):
        r, c = divmod(k, cols)
        tile = image_mod.fromarray(np.ascontiguousarray(frames[k])).resize(
            (tw, th), image_mod.Resampling.BICUBIC
        )
        x, y = c * tw, r * (th + band)
        sheet.paste(tile, (x, y + band))
        draw.text(
            (x + 4, y + 3),
            f"#{rec.indices[k]}  {label_time(rec.timestamps_s[k])}",
            fill=(255, 255, 255),
            font=font,
        )
    return sheet
