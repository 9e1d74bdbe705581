"""The video layer reading a file opened once (vt_agent.sandbox): same results, never the name again."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import vt_agent.video as video
from vt_agent.backends.fake_backend import FakeBackend
from vt_agent.errors import VideoDecodeError, VideoNotFoundError
from vt_agent.reasoner import VideoReasoner
from vt_agent.sandbox import OpenedFile, open_beneath
from vt_agent.video import probing


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    video.clear_cache()
    yield
    video.clear_cache()


@pytest.fixture()
def root(tmp_path: Path, bbb: Path, city: Path) -> Path:
    out = tmp_path / "root"
    out.mkdir()
    shutil.copy(bbb, out / "clip.mp4")
    shutil.copy(city, tmp_path / "outside.mpg")
    return out


def test_probe_sample_and_thumbnails_match_the_path(root: Path) -> None:
    path = root / "clip.mp4"
    with open_beneath(root, "clip.mp4") as f:
        info = video.probe(f)
        assert info.path == str(path) and info.size_bytes == path.stat().st_size
        plain = video.probe(path)
        assert info.model_dump(exclude={"file_id"}) == plain.model_dump(exclude={"file_id"})
        assert info.file_id == f.identity() != plain.file_id  # opened files have their own identity
        got = video.sample(f, cache=False)
        ref = video.sample(path, cache=False)
        assert np.array_equal(got.frames, ref.frames)
        assert got.record.indices == ref.record.indices and got.record.path == str(path)
        win = video.sample(f, start_s=1.0, end_s=3.0, cache=False)
        assert np.array_equal(win.frames, video.sample(path, start_s=1.0, end_s=3.0, cache=False).frames)
        a, b = video.frame_at(f, 2.0, max_side=None), video.frame_at(path, 2.0, max_side=None)
        assert np.array_equal(np.asarray(a), np.asarray(b))
        assert video.file_id(f) == f.identity()
        assert video.probe(f, decode_all=False).frames_verified in (True, False)


def test_swap_after_open_reads_the_original(root: Path, tmp_path: Path, bbb: Path) -> None:
    """The name is swapped (file replaced, then its folder linked outside) after the open: every
    later read, including ones that miss the caches, still sees the opened file."""
    sub = root / "sub"
    sub.mkdir()
    os.replace(root / "clip.mp4", sub / "clip.mp4")
    f = open_beneath(root, "sub/clip.mp4")
    expected = video.sample(sub / "clip.mp4", cache=False)
    os.replace(tmp_path / "outside.mpg", sub / "clip.mp4")  # same name, other file
    os.rename(sub, root / "old")
    (root / "sub").symlink_to(tmp_path)  # the folder now leads outside the root
    video.clear_cache()
    got = video.sample(f)
    assert np.array_equal(got.frames, expected.frames)
    assert video.probe(root / "old" / "clip.mp4").codec == "mpeg2video"  # what the name holds now
    assert video.probe(f).codec == video.probe(f, decode_all=False).codec == "h264"
    assert np.array_equal(np.asarray(video.frame_at(f, 1.0)), np.asarray(video.frame_at(bbb, 1.0)))
    f.close()
    with pytest.raises(VideoNotFoundError, match="closed"):
        video.sample(f)


def test_never_opened_by_name(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With an opened file, PyAV gets a file object: no path string ever reaches it."""
    import av

    real_open = av.open
    targets: list[object] = []

    def spy(target: object, *args: object, **kwargs: object) -> object:
        targets.append(target)
        return real_open(target, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(av, "open", spy)
    monkeypatch.setattr(Path, "stat", lambda self, **kw: pytest.fail(f"stat by name: {self}"))
    f = open_beneath(root, "clip.mp4")
    video.sample(f)
    video.sample(f, start_s=2.0, end_s=4.0)
    video.probe(f)
    video.frame_at(f, 3.0)
    assert targets and not any(isinstance(t, str | os.PathLike) for t in targets)


def test_concurrent_readers_of_one_opened_file(root: Path) -> None:
    f = open_beneath(root, "clip.mp4")
    expected = video.sample(root / "clip.mp4", cache=False).frames
    out: list[np.ndarray] = []

    def run() -> None:
        out.append(video.sample(f, cache=False).frames)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 3 and all(np.array_equal(o, expected) for o in out)


def test_cache_keys_come_from_the_descriptor(root: Path) -> None:
    f = open_beneath(root, "clip.mp4")
    first = video.sample(f)
    assert video.sample(f) is first  # served from the frame cache
    g = open_beneath(root, "clip.mp4")  # the same inode opened again: same identity, same entry
    assert g.identity() == f.identity() and video.sample(g) is first
    # a different file put under the same name is another inode: never the cached frames
    os.replace(root.parent / "outside.mpg", root / "clip.mp4")
    h = open_beneath(root, "clip.mp4")
    assert (
        h.identity() != f.identity()
        and video.sample(h).record.file_id == h.identity() != first.record.file_id
    )
    assert probing._identity_key(h)[0].startswith("open:")


def test_not_a_video_and_reasoner(root: Path) -> None:
    (root / "bad.mp4").write_bytes(bytes(range(7, 250)) * 40)
    with pytest.raises(VideoDecodeError, match=r"bad\.mp4: is not a video FFmpeg can read"):
        video.probe(open_beneath(root, "bad.mp4"))
    f = open_beneath(root, "clip.mp4")
    reasoner = VideoReasoner(FakeBackend("bbb-middle"), thumbnails=1)
    result = reasoner.reason(f, "What happens?", ["a", "b", "c", "d"])
    assert result.videos[0].path == str(root / "clip.mp4") and len(result.thumbnails) == 1
    both = asyncio.run(reasoner.prepare([f, str(root / "clip.mp4")]))
    assert np.array_equal(both[0].frames, both[1].frames)
    assert isinstance(f, OpenedFile) and not f.closed
