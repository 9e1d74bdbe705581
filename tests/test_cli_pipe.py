"""A reader that leaves early (`| head`) ends the command quietly, with no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data" / "bench" / "activitynet_qa_eval"


def test_closed_stdout_is_not_a_traceback() -> None:
    cmd = (
        f"'{sys.executable}' -m vt_agent.cli eval score activitynet-qa --json "
        f"--predictions '{DATA / 'pred_val_example.json'}' --answers '{DATA / 'val_a.json'}' | head -c 5"
    )
    proc = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {cmd}"], capture_output=True, text=True, timeout=120
    )
    assert proc.stdout == '{\n  "'[:5]
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
