"""Every example in examples/ runs (scripted fake backend or the tiny random model) and says what it did."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.py"))


def run_example(name: str, tmp_path: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VT_AGENT_")}
    env.update(PYTHONPATH=str(ROOT), XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_quickstart_fake(tmp_path: Path) -> None:
    out = run_example("quickstart_fake.py", tmp_path)
    assert out.startswith("answer: B (scripted)")
    assert "00:02-00:04  Standing on the grass" in out
    assert "format ok: True | thumbnails: 1" in out


def test_stream_events(tmp_path: Path) -> None:
    out = run_example("stream_events.py", tmp_path)
    lines = out.splitlines()
    assert lines[0].startswith("[decode]") and lines[-1].startswith("done: answer B")
    assert sum(line.startswith("segment ") for line in lines) == 3
    assert "answer tag: 'B' -> B" in out and "scripted=True" in out
    assert "(scripted: a hand-written trace of the fake backend picked this answer" in lines[-1]


def test_reason_transformers_tiny(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    out = run_example("reason_transformers_tiny.py", tmp_path)
    assert "its output is noise" in out
    answer = next(line for line in out.splitlines() if line.startswith("answer:"))
    assert "random weights: a random-weight model picked this answer" in answer
    assert "finish: length" in out and "frames: 16" in out
    assert (tmp_path / "cache" / "vt-agent").is_dir()


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_is_run_by_some_test(name: str) -> None:
    tests = [p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("test_*.py")]
    assert any(f'"{name}"' in text for text in tests), f"no test runs examples/{name}"


def test_overhead_bench_runs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VT_AGENT_")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "overhead.py"), "--rounds", "2", "--tokens", "128"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "overhead / reference:" in proc.stdout and "128 deltas" in proc.stdout
