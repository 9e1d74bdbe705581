"""Resize and model inputs: smart_resize, the bicubic resize and the patchify, checked against torch
re-runs of the reference arithmetic (torch is optional; those checks skip without it)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vt_agent.errors import ConfigError
from vt_agent.video import (
    CLIP_MEAN,
    CLIP_STD,
    PAPER_PIXELS,
    linspace_indices,
    resize_rgb,
    smart_resize,
    video_model_inputs,
)


@pytest.mark.parametrize(
    ("hw", "expected"),
    [
        ((720, 1280), (224, 420)),  # bigbuckbunny: docs/protocol.md, Video input
        ((405, 720), (224, 420)),  # cityCC0
        ((576, 768), (252, 364)),  # vtest
        ((160, 224), (280, 392)),  # enlarging rounds up, above max (reference behaviour)
        ((28, 28), (336, 336)),
    ],
)
def test_smart_resize_known(hw: tuple[int, int], expected: tuple[int, int]) -> None:
    assert smart_resize(*hw, min_pixels=PAPER_PIXELS, max_pixels=PAPER_PIXELS) == expected


@settings(max_examples=500, deadline=None)
@given(st.integers(112, 4000), st.integers(112, 4000))
def test_smart_resize_properties(h: int, w: int) -> None:
    if max(h, w) / min(h, w) > 8:  # the short side would round to one 28-pixel step
        return
    rh, rw = smart_resize(h, w, min_pixels=4 * 784, max_pixels=1280 * 784)
    assert rh % 28 == 0 and rw % 28 == 0
    assert rh * rw <= 1280 * 784
    # aspect kept up to rounding each side to a multiple of 28
    assert abs(rh / rw - h / w) / (h / w) <= 1.5 * (28 / rh + 28 / rw)


def test_smart_resize_rejects() -> None:
    with pytest.raises(ConfigError):
        smart_resize(0, 10)
    with pytest.raises(ConfigError, match="aspect ratio"):
        smart_resize(10, 4000)
    with pytest.raises(ConfigError, match="below min_pixels"):
        smart_resize(100, 100, min_pixels=1000, max_pixels=10)


def test_linspace_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    for total in [*range(1, 300), 795, 1799, 7200, 107999]:
        for n in (1, 2, 4, 16, 32, 64, 158):
            if n > total:
                continue
            ref = torch.linspace(0, total - 1, n).round().long().tolist()
            assert linspace_indices(0, total - 1, n) == ref, (total, n)


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        ((120, 200), (56, 84)),  # (height, width): both axes shrink
        ((720, 1280), (224, 420)),  # bigbuckbunny
        ((576, 768), (252, 364)),  # vtest
        ((64, 96), (280, 392)),  # both grow
        ((100, 50), (100, 28)),  # one axis only
        ((37, 530), (56, 28)),  # one grows, one shrinks, odd sizes
    ],
)
def test_resize_matches_torch_antialiased_bicubic(src: tuple[int, int], dst: tuple[int, int]) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (*src, 3), dtype=np.uint8)
    img[src[0] // 3 : 2 * src[0] // 3, src[1] // 4 : 3 * src[1] // 4] = 255  # hard edges
    ours = resize_rgb(img, dst[1], dst[0]).astype(int)
    assert ours.shape == (*dst, 3)
    t = torch.from_numpy(img).permute(2, 0, 1)[None].float()
    ref = torch.nn.functional.interpolate(t, size=dst, mode="bicubic", antialias=True, align_corners=False)
    ref_u8 = ref.clamp(0, 255).round().to(torch.uint8)[0].permute(1, 2, 0).numpy().astype(int)
    assert np.abs(ours - ref_u8).max() <= 1
    assert (ours != ref_u8).mean() < 0.01


def _torch_patchify(frames: np.ndarray) -> np.ndarray:
    """transformers Qwen2VLVideoProcessor._preprocess arithmetic, in torch."""
    torch = pytest.importorskip("torch")
    v = torch.from_numpy(frames).permute(0, 3, 1, 2)[None].float()  # (B, T, C, H, W)
    mean = torch.tensor(CLIP_MEAN).view(1, 1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 1, 3, 1, 1)
    v = (v / 255.0 - mean) / std
    if pad := -v.shape[1] % 2:
        v = torch.cat((v, v[:, -1:].expand(-1, pad, -1, -1, -1)), dim=1)
    b, t, c, h, w = v.shape
    gt, gh, gw = t // 2, h // 14, w // 14
    p = v.view(b, gt, 2, c, gh // 2, 2, 14, gw // 2, 2, 14)
    p = p.permute(0, 1, 4, 7, 5, 8, 3, 2, 6, 9)
    return np.asarray(p.reshape(b * gt * gh * gw, c * 2 * 14 * 14).numpy())


@pytest.mark.parametrize("t", [1, 2, 3, 16])
def test_patchify_matches_torch(t: int) -> None:
    rng = np.random.default_rng(t)
    frames = rng.integers(0, 256, (t, 56, 84, 3), dtype=np.uint8)
    x = video_model_inputs(frames, 0.5)
    ref = _torch_patchify(frames)
    assert x.pixel_values_videos.shape == ref.shape == ((t + 1) // 2 * 4 * 6, 1176)
    assert np.abs(x.pixel_values_videos - ref).max() < 1e-5
    assert x.video_grid_thw.tolist() == [(t + 1) // 2, 4, 6]
    assert x.video_tokens == (t + 1) // 2 * 6


def test_patchify_layout_by_hand() -> None:
    """Row r of the output is one 14x14 patch pair; check a marked pixel lands where Qwen puts it."""
    frames = np.zeros((2, 56, 56, 3), np.uint8)
    frames[1, 14 + 3, 28 + 5, 2] = 255  # frame 1, patch row 1, patch col 2, pixel (3, 5), blue
    x = video_model_inputs(frames, 1.0).pixel_values_videos
    # merge groups of 2x2 patches: row 1 col 2 is group (0, 1), inside it (1, 0) -> row 4*1 + 2*1 + 0
    row = 6
    col = ((2 * 2 + 1) * 14 + 3) * 14 + 5  # (channel, temporal, y, x)
    hot = np.argwhere(x > x.min(axis=None) + 1)
    assert hot.tolist() == [[row, col]]


def test_inputs_reject_bad_frames() -> None:
    with pytest.raises(ConfigError, match="multiple of 28"):
        video_model_inputs(np.zeros((2, 30, 56, 3), np.uint8), 1.0)
    with pytest.raises(ConfigError, match="T, H, W, 3"):
        video_model_inputs(np.zeros((56, 56, 3), np.uint8), 1.0)
    with pytest.raises(ConfigError, match="positive"):
        video_model_inputs(np.zeros((2, 56, 56, 3), np.uint8), 0.0)


def test_model_inputs_of_cached_frames_are_remembered_while_the_frames_live() -> None:
    import gc

    from vt_agent.video import cached_model_inputs, clear_cache
    from vt_agent.video.inputs import _memo

    clear_cache()
    frames = np.random.default_rng(1).integers(0, 256, (4, 56, 84, 3), dtype=np.uint8)
    writable = cached_model_inputs(frames, 1.0)
    assert cached_model_inputs(frames, 1.0) is not writable  # a writable array may change: never memoised
    frames.flags.writeable = False
    first = cached_model_inputs(frames, 1.0)
    assert cached_model_inputs(frames, 1.0) is first
    assert not first.pixel_values_videos.flags.writeable
    np.testing.assert_array_equal(first.pixel_values_videos, video_model_inputs(frames, 1.0).pixel_values_videos)
    assert cached_model_inputs(frames, 2.0) is not first  # other timing, other inputs
    assert len(_memo) == 1
    del frames
    gc.collect()
    assert len(_memo) == 0  # gone with its frames
