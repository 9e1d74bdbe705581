"""The graph examples the README quotes run end to end with the scripted fake backend."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("langgraph")
pytest.importorskip("av")

ROOT = Path(__file__).resolve().parent.parent


def run_example(name: str, *args: str, cwd: Path = ROOT) -> str:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args],
        capture_output=True, text=True, timeout=300, cwd=cwd,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_graph_stream_example() -> None:
    out = run_example("graph_stream.py", "--verify")
    assert "[node] prepare" in out and "[node] reason" in out and "[node] verify" in out
    assert "00:00-00:02  A large grey furry animal" in out
    assert "answer: B (scripted: a hand-written trace)" in out
    assert "verify segment 0: confirmed=" in out


def test_multi_video_example() -> None:
    out = run_example("multi_video.py")
    assert out.startswith("answer: ") and "(scripted: hand-written traces)" in out.splitlines()[0]
    assert "video 1 bigbuckbunny.mp4:" in out and "video 2 cityCC0.mpg:" in out


def test_triage_report_example(tmp_path: Path) -> None:
    out = run_example("triage_report.py", "--out", str(tmp_path / "r.html"))
    done = [line for line in out.splitlines() if line.startswith("window ") and "/5: answer" in line]
    assert len(done) == 5
    assert (tmp_path / "r.html").read_text(encoding="utf-8").count("data:image/jpeg") >= 1
    assert f"wrote {tmp_path / 'r.html'}" in out
    assert "(scripted fake backend: hand-written traces, not a model's answers)" in out


def test_triage_example_writes_nothing_into_the_repository(tmp_path: Path) -> None:
    import tempfile

    before = {p.name for p in ROOT.iterdir()}
    out = run_example("triage_report.py")
    written = Path(tempfile.gettempdir()) / "vt-agent-examples" / "triage_report.html"
    assert f"wrote {written}" in out and written.exists()
    assert {p.name for p in ROOT.iterdir()} == before


def test_sqlite_resume_example(tmp_path: Path) -> None:
    pytest.importorskip("langgraph.checkpoint.sqlite")
    out = run_example("graph_resume_sqlite.py", "--db", str(tmp_path / "t.sqlite"))
    assert "run 1: step 1  00:00-00:02" in out and "run 1 exited with code 3" in out
    assert "saved in t.sqlite: 1 step(s), next node: reason" in out
    assert "run 2: step 2  00:02-00:05" in out and "run 2: step 1" not in out  # step 1 not generated again
    assert "run 2: 2 model request(s), the first continuing 1 saved step(s)" in out
    assert "answer: B (scripted: a hand-written trace), 2 steps" in out
