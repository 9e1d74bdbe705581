"""`vt-agent triage` end to end (subprocess): JSON on stdout only, progress on stderr, HTML report."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
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
    assert re.search(r"triage: preparation \d+ worker\(s\) \d+% busy, engine \d+% busy", proc.stderr)
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


# --resume [FILE] before or after the positionals: argparse alone would take QUERY as FILE
QUERY = "a dog runs"
RESUME_SPELLINGS = {
    "resume-then-query": (["V", "--resume", QUERY], "vtest.triage.sqlite"),
    "query-then-resume": (["V", QUERY, "--resume"], "vtest.triage.sqlite"),
    "query-resume-file": (["V", QUERY, "--resume", "run.sqlite"], "run.sqlite"),
    "resume-file-first": (["--resume", "run.sqlite", "V", QUERY], "run.sqlite"),
    "resume-equals-file": (["V", "--resume=run.sqlite", QUERY], "run.sqlite"),
    "resume-before-video": (["--resume", "V", QUERY], "vtest.triage.sqlite"),
    "abbreviated": (["V", "--res", QUERY], "vtest.triage.sqlite"),
    "new-db-suffix": (["V", "--resume", "r.db", QUERY], "r.db"),
}


@pytest.mark.parametrize("spelling", list(RESUME_SPELLINGS))
def test_resume_spellings(
    spelling: str,
    vtest: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from vt_agent.cli import main

    words, file = RESUME_SPELLINGS[spelling]
    monkeypatch.chdir(tmp_path)
    argv = [str(vtest) if w == "V" else w for w in words]
    assert main(["triage", *argv, "--window", "80", "--backend", "fake", "-q"]) == 0
    captured = capsys.readouterr()
    assert f"query: {QUERY}\n" in captured.out
    assert f"progress kept in {file}" in captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == [file]  # never a file named after the query


def test_resume_existing_sqlite_file_without_suffix(
    vtest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A progress file of any name, once it exists, is still FILE before or after QUERY."""
    from vt_agent.cli import main

    monkeypatch.chdir(tmp_path)
    base = ["--window", "80", "--backend", "fake", "-q"]
    assert main(["triage", str(vtest), QUERY, "--resume=progress", *base]) == 2
    assert "--resume=progress: FILE is an existing SQLite file or a new name ending in .sqlite" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "progress").exists()
    with closing(sqlite3.connect(tmp_path / "progress")) as conn:  # a SQLite file named "progress"
        conn.execute("CREATE TABLE t (x)")
    assert main(["triage", str(vtest), "--resume", "progress", QUERY, *base]) == 0
    captured = capsys.readouterr()
    assert f"query: {QUERY}\n" in captured.out and "progress kept in progress " in captured.err


@pytest.mark.parametrize(
    ("words", "left"),
    [
        (["V", QUERY, "--resume", "notes"], "'notes'"),  # a new FILE needs a SQLite suffix
        (["V", "--resume", "notes", QUERY], f"'{QUERY}'"),
        (["V", QUERY, "--resume", "more words"], "'more words'"),
    ],
)
def test_resume_word_that_is_not_a_file_is_refused(
    words: list[str], left: str, vtest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from vt_agent.cli import main

    monkeypatch.chdir(tmp_path)
    argv = [str(vtest) if w == "V" else w for w in words]
    with pytest.raises(SystemExit) as exc:
        main(["triage", *argv, "--backend", "fake", "-q"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"too many words (unrecognized: {left})" in err
    assert "not a FILE (FILE is an existing SQLite file or a new name ending in .sqlite" in err
    assert "name the file e.g. run.sqlite, or write --resume alone after QUERY" in err
    assert list(tmp_path.iterdir()) == []


def test_resume_spelling_as_a_user_types_it(vtest: Path, tmp_path: Path) -> None:
    """The installed `vt-agent` script, --resume between VIDEO and QUERY, run twice: the second run resumes."""
    script = Path(sys.executable).parent / "vt-agent"
    if not script.is_file():
        pytest.skip(f"no vt-agent script beside {sys.executable}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VT_AGENT_")}
    env["PYTHONPATH"] = str(ROOT)  # this checkout's code, whatever the venv was installed from
    argv = [
        str(script),
        "triage",
        str(vtest),
        "--resume",
        QUERY,
        "--window",
        "40",
        "--overlap",
        "0",
        "--backend",
        "fake",
        "-q",
    ]
    first = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert f"query: {QUERY}" in first.stdout and "progress kept in vtest.triage.sqlite" in first.stderr
    again = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert "resuming from vtest.triage.sqlite: 2 of 2 window(s) already done" in again.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vtest.triage.sqlite"]
