"""Model inputs match the official pipeline (qwen-vl-utils + transformers Qwen2.5-VL processor).

The expected values are fixtures written by ``scripts/make_reference_fixtures.py`` running the real
reference in its own virtualenv (``.venv-ref``, torch 2.14.1 + torchvision); nothing here is typed by
hand. "Equal" means identical frame indices, timestamps, grid and token counts, and normalised pixels
within 0.02 (docs/parity.md). The slow test regenerates the reference in full when ``.venv-ref`` exists.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
REF_DIR = ROOT / "tests" / "data" / "reference"
REF_PYTHON = ROOT / ".venv-ref" / "bin" / "python"
MANIFEST: dict[str, Any] = json.loads((REF_DIR / "manifest.json").read_text())
CASES: list[dict[str, Any]] = MANIFEST["cases"]
PIXEL_TOL = 0.02
MEAN_TOL = 0.005
SPG_REL = 1e-6  # the processor returns second_per_grid_ts as a float32 tensor


def _require_video() -> Any:
    pytest.importorskip("av")  # the `video` extra
    import vt_agent.video as video

    return video


def _project_inputs(case: dict[str, Any]) -> tuple[Any, Any]:
    video = _require_video()
    sample, video_model_inputs = video.sample, video.video_model_inputs

    window = case["sampling"]
    prepared = sample(
        ROOT / case["clip_path"],
        case["preset"],
        start_s=window.get("video_start"),
        end_s=window.get("video_end"),
        cache=False,
    )
    inputs = video_model_inputs(prepared.frames, prepared.record.second_per_grid_ts)
    return prepared, inputs


def _frame_channel_means(pixels: np.ndarray, grid: list[int]) -> np.ndarray:
    gt, gh, gw = grid
    x = pixels.reshape(gt, gh * gw, 3, 2, 14, 14).mean(axis=(1, 4, 5))
    return np.asarray(x.transpose(0, 2, 1).reshape(gt * 2, 3))


def _expected_sampled_fps(case: dict[str, Any]) -> float:
    """Video input (docs/protocol.md): the decoded timeline (real frames over real duration), whatever the header says."""
    n = len(case["indices"])
    return float(n / case["window_frames"] * case["decoded_fps"])


def test_fixtures_belong_to_these_clips() -> None:
    for name, info in MANIFEST["clips"].items():
        data = (ROOT / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == info["sha256"], (
            f"{name} changed since the reference fixtures were made; rerun "
            ".venv-ref/bin/python scripts/make_reference_fixtures.py"
        )
    assert {c["clip_path"] for c in CASES} == set(MANIFEST["clips"])
    assert {"torch", "torchvision", "transformers", "qwen-vl-utils"} <= set(MANIFEST["versions"])


@pytest.mark.parametrize("case", CASES, ids=[c["key"] for c in CASES])
def test_reference_is_self_consistent(case: dict[str, Any]) -> None:
    """The reference's own numbers agree with each other (guards against a broken fixture run)."""
    t, h, w = case["video_grid_thw"]
    assert case["video_tokens"] == t * h * w // 4  # tokens counted in the processor's input_ids
    assert case["pixel_shape"] == [t * h * w, 3 * 2 * 14 * 14]
    assert case["resized_hw"] == [h * 14, w * 14]
    assert len(case["indices"]) == 2 * t
    if "nframes" in case["sampling"]:
        assert len(case["indices"]) == case["sampling"]["nframes"]
    else:  # qwen-vl-utils: duration (header frames / header fps) * fps, clamped, rounded down to even
        want = case["reference_total_frames"] / case["reference_fps"] * case["sampling"]["fps"]
        assert len(case["indices"]) == max(4, int(want) // 2 * 2)
    assert case["second_per_grid_ts"] == pytest.approx(2 / case["sampled_fps"])
    # with the released checkpoint's processor bounds the processor would not resize again
    assert case["checkpoint_resize_is_noop"]
    if case["decord_frames_equal_pyav"]:
        assert case["pixels_from"] == "decord"
    else:  # known decord bug on MPEG-PS: its frames are shifted, so the fixture used PyAV frames
        assert case["pixels_from"] == "pyav"
        assert case["decord_shows_pyav_index"] != case["indices"]


@pytest.mark.parametrize("case", CASES, ids=[c["key"] for c in CASES])
def test_sampling_matches_reference(case: dict[str, Any]) -> None:
    prepared, _ = _project_inputs(case)
    rec = prepared.record
    assert rec.indices == case["indices"]
    assert rec.decoded_frames == case["decoded_frames"]
    # global timestamps = presentation time from the first decoded frame (cityCC0 starts at 0.54 s)
    np.testing.assert_allclose(rec.timestamps_s, case["decoded_timestamps_s"], atol=1e-6)
    h, w = case["resized_hw"]
    assert tuple(rec.resized) == (w, h)
    assert prepared.frames.shape == (len(case["indices"]), h, w, 3)
    assert list(rec.grid_thw) == case["video_grid_thw"]
    assert rec.video_tokens == case["video_tokens"]
    assert rec.sampled_fps == pytest.approx(_expected_sampled_fps(case), rel=1e-9)
    assert rec.second_per_grid_ts == pytest.approx(2 / _expected_sampled_fps(case), rel=1e-9)
    # qwen-vl-utils times frames as index / reader fps and takes sampled_fps from the reader's fps
    honest = case["reference_total_frames"] == case["window_frames"] and case[
        "reference_fps"
    ] == pytest.approx(case["decoded_fps"], rel=1e-9)
    if honest:  # then the reference's timeline and fps are the decoded ones: equal
        np.testing.assert_allclose(rec.timestamps_s, case["reference_timestamps_s"], atol=1e-6)
        assert rec.sampled_fps == pytest.approx(case["sampled_fps"], rel=1e-9)
        assert rec.second_per_grid_ts == pytest.approx(case["second_per_grid_ts"], rel=SPG_REL)
    else:  # lying header: the project deliberately differs (docs/protocol.md, Video input), by exactly the fps ratio
        ratio = case["reference_fps"] / case["decoded_fps"]
        assert ratio != pytest.approx(1.0)
        assert rec.second_per_grid_ts == pytest.approx(case["second_per_grid_ts"] * ratio, rel=SPG_REL)
        np.testing.assert_allclose(
            np.asarray(rec.timestamps_s), np.asarray(case["reference_timestamps_s"]) * ratio, atol=1e-6
        )


def test_cases_cover_the_presets() -> None:
    """16 and 32 frames on every clip, the rate-based preset on the real ones."""
    assert {c["preset"] for c in CASES} == {"video-thinker-16f", "video-thinker-32f", "fps-2"}
    for clip in MANIFEST["clips"]:
        presets = {c["preset"] for c in CASES if c["clip_path"] == clip}
        assert {"video-thinker-16f", "video-thinker-32f"} <= presets


def test_window_cases_are_present() -> None:
    """Zoom-in windows: indices and timestamps stay global (frame numbers and seconds of the whole clip)."""
    windows = [c for c in CASES if "video_start" in c["sampling"]]
    assert {c["clip"] for c in windows} >= {"bigbuckbunny.mp4", "cityCC0.mpg", "vtest.avi"}
    for c in windows:
        assert c["indices"][0] > 0
        assert c["sampling"]["video_start"] - 1e-6 <= c["decoded_timestamps_s"][0]
        assert c["decoded_timestamps_s"][-1] <= c["sampling"]["video_end"] + 1e-6


def test_lying_header_case_is_present() -> None:
    """At least one fixture has a header that disagrees with what decodes (the divergence is tested)."""
    assert any(c["container_header_frames"] > c["decoded_frames"] for c in CASES)
    assert any(c["reference_fps"] != pytest.approx(c["decoded_fps"]) for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["key"] for c in CASES])
def test_model_inputs_match_reference(case: dict[str, Any]) -> None:
    prepared, inputs = _project_inputs(case)
    pixels = np.asarray(inputs.pixel_values_videos)
    assert pixels.dtype == np.float32
    assert list(pixels.shape) == case["pixel_shape"]
    assert [int(v) for v in np.asarray(inputs.video_grid_thw).reshape(-1)] == case["video_grid_thw"]
    assert inputs.second_per_grid_ts == pytest.approx(prepared.record.second_per_grid_ts)
    assert inputs.second_per_grid_ts == pytest.approx(2 / prepared.record.sampled_fps)

    with np.load(REF_DIR / f"{case['key']}.npz") as ref:
        rows, ref_pixels = ref["rows"], ref["pixels"].astype(np.float32)
    diff = np.abs(pixels[rows] - ref_pixels)
    assert diff.max() <= PIXEL_TOL, (
        f"max |pixels - reference| = {diff.max():.4f} on {case['key']} (resize: see docs/parity.md)"
    )
    means = _frame_channel_means(pixels, case["video_grid_thw"])
    np.testing.assert_allclose(means, np.asarray(case["frame_channel_means"]), atol=MEAN_TOL)


@pytest.mark.slow
@pytest.mark.skipif(not REF_PYTHON.exists(), reason="no .venv-ref (bash scripts/setup_reference.sh)")
def test_full_reference_regenerated(tmp_path: Path) -> None:
    """Rerun the official pipeline now and compare every pixel, not just the stored rows."""
    _require_video()
    out = tmp_path / "ref"
    proc = subprocess.run(
        [
            str(REF_PYTHON),
            str(ROOT / "scripts" / "make_reference_fixtures.py"),
            "--no-fixtures",
            "--full",
            str(out),
            "--json-out",
            str(tmp_path / "manifest.json"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    fresh = json.loads((tmp_path / "manifest.json").read_text())
    for new, old in zip(fresh["cases"], CASES, strict=True):
        for key in (
            "indices",
            "video_grid_thw",
            "video_tokens",
            "second_per_grid_ts",
            "decoded_timestamps_s",
        ):
            assert new[key] == old[key], f"committed fixture is stale for {old['key']}: {key}"
        _, inputs = _project_inputs(new)
        ref = np.load(out / f"{new['key']}.npy")
        diff = np.abs(np.asarray(inputs.pixel_values_videos) - ref)
        assert diff.max() <= PIXEL_TOL, f"max |pixels - reference| = {diff.max():.4f} on {new['key']}"
        print(f"{new['key']}: max diff {diff.max():.4f}, mean diff {diff.mean():.5f}", file=sys.stderr)
