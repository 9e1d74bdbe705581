"""Attack on availability: the stdio server ignored SIGINT until its stdin closed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("mcp")

ROOT = Path(__file__).resolve().parent.parent.parent
VIDEOS = ROOT / "tests" / "data" / "videos"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_stdio_server_stops_on_a_signal_with_stdin_still_open(signum: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VT_AGENT_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcp_server", "--backend", "fake", "--allow", str(VIDEOS)],
        env=env, cwd=str(ROOT), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        seen = b""
        while b"video_reason ready" not in seen:
            line = proc.stderr.readline()
            assert line and time.monotonic() < deadline, seen.decode()
            seen += line
        proc.send_signal(signum)
        t0 = time.monotonic()
        rc = proc.wait(timeout=20)
        rest = proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert time.monotonic() - t0 < 20
    assert rc == 130 and "backend closed" in rest and "Traceback" not in rest, rest
