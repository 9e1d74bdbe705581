"""`vt-agent triage` end to end (subprocess): JSON on stdout only, progress on stderr, HTML report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vt_agent.config import FAKE_NOTICE

pytest.importorskip("av")

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vt_agent.cli", "triage", *args],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip


def test_json_and_html(vtest: Path, tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    proc = cli(
        str(vtest), "a person walks along the path", "--window", "20", "--overlap", "5",
        "--concurrency", "2", "--backend", "fake", "--json", "--html", str(html),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)  # stdout is only JSON
    assert [(w["start_s"], w["end_s"]) for w in report["windows"]] == [
        (0.0, 20.0), (15.0, 35.0), (30.0, 50.0), (45.0, 65.0), (60.0, 79.5),
    ]  # fmt: skip
    assert report["scripted"] is True and report["backend"] == "fake"
    # the generic script answers yes everywhere and cites three spans per window, all in that window
    for w in report["windows"]:
        assert w["answer"] == "A"
        for s in w["segments"]:
            assert w["start_s"] <= s["start_s"] <= s["end_s"] <= w["end_s"]
    assert report["findings"] and report["findings"][0]["rank"] == 1
    assert "5/5" in proc.stderr  # tqdm bar over the windows
    assert f"wrote {html}" in proc.stderr
    page = html.read_text(encoding="utf-8")
    assert 'id="timeline"' in page and "data:image/jpeg;base64," in page


def test_human_summary(vtest: Path) -> None:
    proc = cli(
        str(vtest),
        "-q",  # --quiet now; the query is positional, options may come between
        "a person walks",
        "--window",
        "40",
        "--overlap",
        "0",
        "--backend",
        "fake",
        "--no-progress",
    )
    assert proc.returncode == 0, proc.stderr
    assert "2 window(s) of 40 s" in proc.stdout
    assert "#1  " in proc.stdout and "scripted fake backend" in proc.stdout
    assert proc.stderr.strip() == FAKE_NOTICE  # the backend notice, as `vt-agent reason` gives it


def test_bad_arguments(vtest: Path, tmp_path: Path) -> None:
    proc = cli(str(vtest), "x", "--window", "10", "--overlap", "10", "--backend", "fake")
    assert proc.returncode == 2 and "overlap" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli(str(tmp_path / "missing.avi"), "x", "--backend", "fake")
    assert proc.returncode == 2 and "missing.avi" in proc.stderr
    proc = cli(str(vtest), "x", "--backend", "fake", "--concurrency", "0")
    assert proc.returncode == 2 and "concurrency" in proc.stderr


def test_bad_html_path_and_preset_fail_before_any_window(
    vtest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vt_agent.cli import main

    base = [str(vtest), "x", "--backend", "fake", "--no-progress"]
    assert main(["triage", *base, "--html", str(tmp_path / "absent" / "r.html")]) == 2
    assert "--html: folder" in capsys.readouterr().err
    assert main(["triage", *base, "--html", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert main(["triage", *base, "--preset", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown preset 'nope'" in err and "window 1 failed" not in err
    assert main(["triage", *base, "--window", "10", "--overlap", "10"]) == 2
    err = capsys.readouterr().err
    assert "overlap must be >= 0" in err and "NOTICE" not in err  # refused before the backend loads


@pytest.mark.parametrize("more", [[], ["--video"]])
def test_triage_in_process_leaves_the_frame_cache_as_it_found_it(
    vtest: Path, bbb: Path, more: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The command keeps no frames while it runs, then puts the caller's cache bound back."""
    from vt_agent import video
    from vt_agent.cli import main

    before = video.cache_info()["limit_bytes"]
    extra = [*more, str(bbb)] if more else []
    argv = ["triage", str(vtest), "someone walks", *extra, "--window", "40", "--backend", "fake", "-q"]
    assert main(argv) == 0
    assert video.cache_info()["limit_bytes"] == before > 0
