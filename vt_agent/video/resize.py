"""Qwen ``smart_resize`` and the bicubic (antialiased) resize that matches the reference pipeline."""

from __future__ import annotations

import functools
import math

import numpy as np

from vt_agent.errors import ConfigError

__all__ = [
    "MAX_RATIO",
    "WHOLE_FLOAT_BYTES",
    "resize_rgb",
    "smart_resize",
]

MAX_RATIO = 200


def _round_by(x: float, f: int) -> int:
    return round(x / f) * f


def _ceil_by(x: float, f: int) -> int:
    return math.ceil(x / f) * f


def _floor_by(x: float, f: int) -> int:
    return math.floor(x / f) * f


def smart_resize(
    height: int,
    width: int,
    *,
    factor: int = 28,
    min_pixels: int = 128 * 28 * 28,
    max_pixels: int = 128 * 28 * 28,
) -> tuple[int, int]:
    """(height, width) as Qwen's ``smart_resize``: multiples of ``factor``, area within bounds, aspect kept.

    Like the reference, enlarging to reach ``min_pixels`` rounds up and may exceed ``max_pixels``.
    """
    if height <= 0 or width <= 0:
        raise ConfigError(f"cannot resize a {width}x{height} frame")
    if max_pixels < min_pixels:
        raise ConfigError(f"max_pixels {max_pixels} is below min_pixels {min_pixels}")
    if max(height, width) / min(height, width) > MAX_RATIO:
        raise ConfigError(
            f"aspect ratio {max(height, width) / min(height, width):.1f} of a {width}x{height} frame is above {MAX_RATIO}"
        )
    h_bar = max(factor, _round_by(height, factor))
    w_bar = max(factor, _round_by(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, _floor_by(height / beta, factor))
        w_bar = max(factor, _floor_by(width / beta, factor))
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = _ceil_by(height * beta, factor)
        w_bar = _ceil_by(width * beta, factor)
    return h_bar, w_bar


WHOLE_FLOAT_BYTES = 32 * 2**20  # frames up to this size in float32 are converted in one go
_BLOCK = 8  # output rows (columns) per block of the banded weight matrices
_MAX_MNK = 1 << 18  # OpenBLAS runs a product of at most this many multiply-adds in the calling thread


def _bicubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic kernel with a = -0.5 (Pillow's and torch's antialiased bicubic)."""
    a = -0.5
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x < 1, near, np.where(x < 2, far, 0.0))


def _weights(in_size: int, out_size: int) -> np.ndarray:
    """(out_size, in_size) weights of an antialiased bicubic resize along one axis.

    Pillow's ``precompute_coeffs`` and torch's ``_compute_indices_min_size_weights_aa``: the
    kernel widened by the reduction factor, taps from ``int(center - support + 0.5)``,
    normalised to sum 1.
    """
    scale = in_size / out_size
    widen = max(scale, 1.0)
    support = 2.0 * widen
    centers = (np.arange(out_size) + 0.5) * scale
    lo = np.maximum((centers - support + 0.5).astype(np.int64), 0)  # truncation, as C's (int)
    hi = np.minimum((centers + support + 0.5).astype(np.int64), in_size)
    taps = lo[:, None] + np.arange(int((hi - lo).max()))[None, :]
    valid = taps < hi[:, None]
    w = np.where(valid, _bicubic((taps - centers[:, None] + 0.5) / widen), 0.0)
    w /= w.sum(axis=1, keepdims=True)
    out = np.zeros((out_size, in_size), dtype=np.float64)
    rows = np.broadcast_to(np.arange(out_size)[:, None], taps.shape)
    out[rows[valid], taps[valid]] = w[valid]
    return out


_Block = tuple[int, int, int, int, np.ndarray, int]


def _blocks(weights: np.ndarray) -> list[_Block]:
    """Bands of ``_BLOCK`` output rows: (first, end, input lo, input hi, float32 weights, chunk),
    where ``chunk`` bounds the other dimension of each product so OpenBLAS stays single-threaded
    (its threads spin and would fight the decoding threads for the cores)."""
    out: list[_Block] = []
    for r0 in range(0, weights.shape[0], _BLOCK):
        r1 = min(r0 + _BLOCK, weights.shape[0])
        used = np.flatnonzero(weights[r0:r1].any(axis=0))
        lo, hi = int(used[0]), int(used[-1]) + 1
        w = np.ascontiguousarray(weights[r0:r1, lo:hi], dtype=np.float32)
        out.append((r0, r1, lo, hi, w, max(1, _MAX_MNK // ((r1 - r0) * (hi - lo)))))
    return out


@functools.lru_cache(maxsize=32)
def _plan(height: int, width: int, out_h: int, out_w: int) -> tuple[list[_Block], list[_Block]]:
    return _blocks(_weights(height, out_h)), _blocks(_weights(width, out_w))


def resize_rgb(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bicubic, antialiased resize of an (H, W, 3) uint8 frame to (height, width, 3) uint8.

    The arithmetic of torchvision's tensor resize used by the reference (docs/parity.md):
    uint8 to float32, one separable antialiased bicubic pass per axis with no rounding in
    between, then clamp and round once. Each pass is a product with a banded weight matrix,
    done band by band with BLAS (vertical first, where the frame is largest and contiguous).
    Pillow's uint8 path rounds between its passes and lands several grey levels away near edges.
    """
    src = np.asarray(rgb)
    if src.ndim != 3 or src.shape[2] != 3:
        raise ConfigError(f"expected an (H, W, 3) RGB frame, got shape {src.shape}")
    h, w = int(src.shape[0]), int(src.shape[1])
    if h == height and w == width:
        return np.ascontiguousarray(src, dtype=np.uint8)
    vert, horiz = _plan(h, w, height, width)
    lines = src.reshape(h, w * 3)  # rows of interleaved RGB
    if h != height:
        y = np.empty((height, w * 3), dtype=np.float32)
        n = w * 3
        # a large frame is never copied whole to float32: each band converts the rows it reads
        x = lines.astype(np.float32) if h * n * 4 <= WHOLE_FLOAT_BYTES else None
        for r0, r1, lo, hi, m, chunk in vert:
            band = x[lo:hi] if x is not None else lines[lo:hi].astype(np.float32)
            for c0 in range(0, n, chunk):
                np.matmul(m, band[:, c0 : c0 + chunk], out=y[r0:r1, c0 : c0 + chunk])
    else:
        y = lines.astype(np.float32)
    if w != width:
        t = np.ascontiguousarray(y.reshape(height, w, 3).transpose(2, 0, 1)).reshape(3 * height, w)
        z = np.empty((width, 3 * height), dtype=np.float32)
        rows = 3 * height
        for r0, r1, lo, hi, m, chunk in horiz:
            for q0 in range(0, rows, chunk):
                np.matmul(m, t[q0 : q0 + chunk, lo:hi].T, out=z[r0:r1, q0 : q0 + chunk])
        out = z.reshape(width, 3, height).transpose(2, 0, 1)
    else:
        out = y.reshape(height, width, 3)
    np.rint(out, out=out)
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)
