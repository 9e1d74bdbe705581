"""`vt-agent eval` refuses bad paths and the wrong benchmark's file up front: one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from vt_agent.cli import main

DATA = Path(__file__).parent / "data"
HOLMES = DATA / "eval" / "video_holmes_clips.json"
VIDEOS = DATA / "videos"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["eval", *argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_run_out_is_a_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, err = run(capsys, "run", "video-holmes", "--data", str(HOLMES), "--videos", str(VIDEOS),
                    "--backend", "fake", "--out", str(tmp_path))  # fmt: skip
    assert code == 2 and "--out" in err and "is a directory" in err


def test_run_out_under_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    code, err = run(capsys, "run", "video-holmes", "--data", str(HOLMES), "--videos", str(VIDEOS),
                    "--backend", "fake", "--out", str(tmp_path / "f" / "r.jsonl"))  # fmt: skip
    assert code == 2 and "is a file" in err


def test_run_data_is_a_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, err = run(capsys, "run", "video-holmes", "--data", str(VIDEOS), "--videos", str(VIDEOS),
                    "--backend", "fake", "--out", str(tmp_path / "r.jsonl"))  # fmt: skip
    assert code == 2 and "--data" in err and "is a folder" in err and "question file" in err


def test_run_another_benchmarks_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    code, err = run(capsys, "run", "vrbench", "--data", str(HOLMES), "--videos", str(VIDEOS),
                    "--backend", "fake", "--out", str(out))  # fmt: skip
    assert code == 2 and "another benchmark" in err and not out.exists()


def test_report_paths(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, err = run(capsys, "report", str(VIDEOS), "--benchmark", "video-holmes")
    assert code == 2 and "is a folder" in err
    results = tmp_path / "r.jsonl"
    assert main(["eval", "run", "video-holmes", "--data", str(HOLMES), "--videos", str(VIDEOS),
                 "--backend", "fake", "-q", "--out", str(results)]) == 0  # fmt: skip
    capsys.readouterr()
    code, err = run(capsys, "report", str(results), "--benchmark", "video-holmes", "--html", str(tmp_path))
    assert code == 2 and "--html" in err and "is a directory" in err


def test_merge_and_score_missing_inputs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, err = run(capsys, "merge", str(tmp_path / "a.jsonl"), "--out", str(tmp_path / "m.jsonl"))
    assert code == 2 and "does not exist" in err
    code, err = run(capsys, "score", "activitynet-qa", "--predictions", str(tmp_path),
                    "--answers", str(tmp_path / "a.json"))  # fmt: skip
    assert code == 2 and "--predictions" in err and "is a folder" in err
