"""vt_agent.jsonl: a row cut off by a crash is dropped before appending, nothing else is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from vt_agent.jsonl import JsonlAppender, cut_partial_line


def test_cut_partial_line(tmp_path: Path) -> None:
    f = tmp_path / "r.jsonl"
    assert cut_partial_line(f) is False and not f.exists()  # absent: nothing made
    f.write_bytes(b"")
    assert cut_partial_line(f) is False
    f.write_bytes(b'{"id": 1}\n{"id": 2}\n')
    assert cut_partial_line(f) is False and f.read_bytes() == b'{"id": 1}\n{"id": 2}\n'
    f.write_bytes(b'{"id": 1}\n{"id": 2, "answ')
    assert cut_partial_line(f) is True and f.read_bytes() == b'{"id": 1}\n'
    f.write_bytes(b'{"id": 1}\n{"id": 2}')  # a whole row whose newline never came: runs again
    assert cut_partial_line(f) is True and f.read_bytes() == b'{"id": 1}\n'
    f.write_bytes(b'{"id": 1')  # cut off in its first row
    assert cut_partial_line(f) is True and f.read_bytes() == b""


def test_a_file_that_is_not_json_lines_is_left_whole(tmp_path: Path) -> None:
    f = tmp_path / "notes.txt"
    f.write_bytes(b"my notes\nlast line without newline")
    with pytest.raises(ValueError, match="not a JSON row cut off mid-write"):
        cut_partial_line(f)
    with pytest.raises(ValueError):
        JsonlAppender(f)
    assert f.read_bytes() == b"my notes\nlast line without newline"


def test_the_last_newline_is_found_across_blocks(tmp_path: Path) -> None:
    f = tmp_path / "big.jsonl"
    row = b'{"id": 0, "text": "' + b"x" * 200_000 + b'"}\n'
    f.write_bytes(row + b'{"id": 1, "text": "' + b"y" * 150_000)
    assert cut_partial_line(f) is True and f.read_bytes() == row


def test_appending_after_a_crash_keeps_every_row_readable(tmp_path: Path) -> None:
    f = tmp_path / "sub" / "r.jsonl"
    with JsonlAppender(f) as out:  # parent folders made
        out.write({"id": 1})
        out.write('{"id": 2}\n')
        assert out.count == 2
    with f.open("a") as fh:
        fh.write('{"id": 3, "half')
    with JsonlAppender(f) as out:
        assert out.cut
        out.write({"id": 3, "whole": "ünïcode"})
    assert f.read_text("utf-8").splitlines() == ['{"id": 1}', '{"id": 2}', '{"id": 3, "whole": "ünïcode"}']
    with JsonlAppender(f, "w") as out:
        assert not out.cut
    assert f.read_bytes() == b""
    out.close()
    with pytest.raises(ValueError, match="closed"):
        out.write({"id": 4})
