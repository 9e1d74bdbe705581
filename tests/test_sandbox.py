"""open_beneath: a file opened once beneath a folder, with openat2 and with the O_NOFOLLOW walk."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from vt_agent import sandbox
from vt_agent.errors import PathNotAllowedError, VideoDecodeError, VideoNotFoundError
from vt_agent.sandbox import open_beneath, open_in_roots

SECRET = b"outside the root: never read"


@pytest.fixture(params=["openat2", "walk"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each test runs with openat2 (where this kernel has it) and with the fallback walk."""
    if request.param == "openat2":
        if not sandbox.has_openat2():
            pytest.skip("this kernel (or its seccomp filter) has no openat2")
    else:
        monkeypatch.setattr(sandbox, "_openat2_state", [None])
    yield str(request.param)


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """root/ with a file, a folder, links inside and links leaving it; outside.bin beside root/."""
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "clip.bin").write_bytes(b"inside")
    (root / "empty.bin").write_bytes(b"")
    (tmp_path / "outside.bin").write_bytes(SECRET)
    (root / "link_in").symlink_to("sub/clip.bin")
    (root / "dir_in").symlink_to("sub")
    (root / "link_abs_out").symlink_to(tmp_path / "outside.bin")
    (root / "link_rel_out").symlink_to("../outside.bin")
    (root / "dir_out").symlink_to(tmp_path)
    os.mkfifo(root / "fifo")
    return root


def test_plain_file_reads_through_the_descriptor(tree: Path, mode: str) -> None:
    with open_beneath(tree, "sub/clip.bin") as f:
        assert f.path == str(tree / "sub" / "clip.bin") and f.size == 6
        assert f.reader().read() == b"inside"
    assert f.closed
    with pytest.raises(VideoNotFoundError, match="closed"):
        f.reader()


def test_symlinks_staying_inside_work_with_openat2(tree: Path, mode: str) -> None:
    if mode == "walk":  # without openat2 every symbolic link is refused, with a message saying why
        for name in ("link_in", "dir_in/clip.bin"):
            with pytest.raises(PathNotAllowedError, match="symbolic link"):
                open_beneath(tree, name)
        return
    assert open_beneath(tree, "link_in").reader().read() == b"inside"
    assert open_beneath(tree, "dir_in/clip.bin").reader().read() == b"inside"


@pytest.mark.parametrize(
    "name", ["link_abs_out", "link_rel_out", "dir_out/outside.bin", "../outside.bin", "sub/../../outside.bin"]
)
def test_leaving_the_root_is_refused_without_revealing_anything(tree: Path, mode: str, name: str) -> None:
    with pytest.raises(PathNotAllowedError) as err:
        open_beneath(tree, name)
    text = str(err.value)
    assert repr(name) in text and "outside.bin" not in text.replace(repr(name), "")
    assert str(tree.parent) not in text  # no resolved path, no link target


def test_absolute_nul_and_empty_names(tree: Path, mode: str) -> None:
    with pytest.raises(PathNotAllowedError, match="relative"):
        open_beneath(tree, str(tree / "sub" / "clip.bin"))
    with pytest.raises(PathNotAllowedError, match="NUL"):
        open_beneath(tree, "sub/clip.bin\0x")
    with pytest.raises(VideoNotFoundError, match="folder itself"):
        open_beneath(tree, "./")


def test_bad_files_inside(tree: Path, mode: str) -> None:
    with pytest.raises(VideoNotFoundError, match="no such file"):
        open_beneath(tree, "missing.mp4")
    with pytest.raises(VideoNotFoundError, match="directory"):
        open_beneath(tree, "sub")
    with pytest.raises(VideoNotFoundError, match="not a folder"):
        open_beneath(tree, "sub/clip.bin/x")
    with pytest.raises(VideoNotFoundError, match="not a regular file"):
        open_beneath(tree, "fifo")  # O_NONBLOCK: opening a FIFO never blocks
    with pytest.raises(VideoDecodeError, match="empty"):
        open_beneath(tree, "empty.bin")
    with pytest.raises(VideoDecodeError, match="above the limit of 5 bytes"):
        open_beneath(tree, "sub/clip.bin", max_bytes=5)


def test_swapping_the_name_after_open_changes_nothing(tree: Path, mode: str) -> None:
    f = open_beneath(tree, "sub/clip.bin")
    fid = f.identity()
    # swap the folder for a link to the outside, and the file for another one
    os.rename(tree / "sub", tree / "old")
    (tree / "sub").symlink_to(tree.parent)
    (tree.parent / "clip.bin").write_bytes(SECRET)
    assert f.reader().read() == b"inside" and f.identity() == fid
    with pytest.raises(PathNotAllowedError):
        open_beneath(tree, "sub/clip.bin")


def test_readers_have_their_own_position(tree: Path) -> None:
    (tree / "big.bin").write_bytes(bytes(range(256)) * 64)
    f = open_beneath(tree, "big.bin")
    a, b = f.reader(), f.reader()
    assert a.read(10) == bytes(range(10))
    b.seek(100)
    assert b.read(3) == bytes([100, 101, 102]) and a.read(2) == bytes([10, 11])
    assert a.seek(-1, os.SEEK_END) == 256 * 64 - 1 and a.read() == bytes([255])
    f.close()
    assert b.read(1) == bytes([103])  # a reader keeps its own descriptor
    b.close()
    results: list[bytes] = []

    def read_all() -> None:
        with open_beneath(tree, "big.bin") as g:
            r = g.reader()
            results.append(b"".join(iter(lambda: r.read(7), b"")))

    threads = [threading.Thread(target=read_all) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [bytes(range(256)) * 64] * 4


def test_identity_follows_content_and_inode(tree: Path) -> None:
    (tree / "a.bin").write_bytes(b"same bytes")
    (tree / "b.bin").write_bytes(b"same bytes")
    ida = open_beneath(tree, "a.bin").identity()
    assert ida == open_beneath(tree, "a.bin").identity()
    assert ida != open_beneath(tree, "b.bin").identity()  # another inode


def test_open_in_roots_decides_from_the_text(tree: Path, tmp_path: Path, mode: str) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.bin").write_bytes(b"x")
    roots = [tree, other]
    assert open_in_roots(roots, "sub/clip.bin").reader().read() == b"inside"  # relative: first root
    assert open_in_roots(roots, str(other / "x.bin")).reader().read() == b"x"
    for outside in (str(tmp_path / "outside.bin"), "/etc/passwd/x", str(tree) + "/../outside.bin", "~root/x"):
        with pytest.raises(PathNotAllowedError) as err:
            open_in_roots(roots, outside if outside.startswith("/") else "/" + outside)
        assert "Not a directory" not in str(err.value) and "no such" not in str(err.value)
    missing = [str(tmp_path / "outside.bin"), "/nonexistent/x"]
    messages = set()
    for m in missing:
        with pytest.raises(PathNotAllowedError) as err:
            open_in_roots(roots, m)
        messages.add(str(err.value).replace(repr(m), "P"))
    assert len(messages) == 1  # existing or not, one and the same answer
    with pytest.raises(PathNotAllowedError, match="no folder is allowed"):
        open_in_roots([], "x.bin")
