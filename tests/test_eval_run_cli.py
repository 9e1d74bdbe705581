"""``vt-agent eval run`` / ``vt-agent eval merge`` as a user types them (in-process CLI)."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from vt_agent.cli import main
from vt_agent.commands.eval_run import add_merge_parser, add_run_parser
from vt_agent.evaluation.records import RESULT_KEYS, read_results

ROOT = Path(__file__).resolve().parent
EVAL = ROOT / "data" / "eval"
VIDEOS = ROOT / "data" / "videos"


@pytest.fixture(autouse=True)
def _no_env_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("VT_AGENT_BACKEND", "VT_AGENT_MODEL", "VT_AGENT_BASE_URL", "VT_AGENT_API_KEY"):
        monkeypatch.delenv(var, raising=False)


def _run(*args: str) -> int:
    return main(["eval", "run", *args])


def test_parsers_can_be_added_to_any_eval_command() -> None:
    parser = argparse.ArgumentParser(prog="x")
    sub = parser.add_subparsers()
    add_run_parser(sub)
    add_merge_parser(sub)
    args = parser.parse_args(["run", "video-holmes", "--data", "d.json", "--videos", "v", "--out", "o.jsonl"])
    assert (args.protocol, args.preset, args.shard, args.concurrency) == (
        "video-thinker",
        None,  # unset: VT_AGENT_PRESET, else video-thinker-16f
        None,
        1,
    )
    args = parser.parse_args(["merge", "a.jsonl", "b.jsonl", "--out", "m.jsonl"])
    assert [p.name for p in args.inputs] == ["a.jsonl", "b.jsonl"]


def test_fake_backend_run_then_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.jsonl"
    args = (
        "jsonl",
        "--data",
        str(EVAL / "clips.jsonl"),
        "--videos",
        str(VIDEOS),
        "--backend",
        "fake",
        "--out",
        str(out),
    )
    assert _run(*args) == 0
    cap = capsys.readouterr()
    assert "jsonl: 3 question(s) with their video" in cap.err and "SCRIPTED" in cap.err
    assert "3/3" in cap.err  # the progress bar on stderr
    assert (
        "3 selected, 0 already in" in cap.out
        and "3 run (0 error(s)" in cap.out
        and "3/3 exact matches" in cap.out
    )
    assert re.search(r"preparation \d+ worker\(s\) \d+% busy, engine \d+% busy", cap.out), cap.out
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3 and all(tuple(r) == RESULT_KEYS for r in rows)
    assert _run(*args, "--quiet") == 0
    cap = capsys.readouterr()
    assert "3 already in" in cap.out and "0 run" in cap.out and cap.err.count("\n") == 2  # summary + notice
    assert len(out.read_text().splitlines()) == 3


def test_process_pool_gives_the_thread_rows_and_leaves_no_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import multiprocessing
    import time

    base = ("jsonl", "--data", str(EVAL / "clips.jsonl"), "--videos", str(VIDEOS), "--backend", "fake")
    threads, processes = tmp_path / "threads.jsonl", tmp_path / "processes.jsonl"
    assert _run(*base, "--out", str(threads), "-q") == 0
    capsys.readouterr()
    pool = ("--prepare-pool", "process", "--prepare-workers", "2")
    assert _run(*base, "--out", str(processes), *pool) == 0
    cap = capsys.readouterr()
    assert "3/3" in cap.err and "3 run (0 error(s)" in cap.out and "3/3 exact matches" in cap.out

    def answers(path: Path) -> list[dict[str, object]]:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        return sorted(
            ({k: v for k, v in r.items() if k != "timings"} for r in rows), key=lambda r: str(r["key"])
        )

    assert answers(processes) == answers(threads)
    deadline = time.monotonic() + 10  # the pool's processes end once their last preparation is back
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert multiprocessing.active_children() == []
    out = str(tmp_path / "ray.jsonl")
    assert _run(*base, "--out", out, "--prepare-pool", "process", "--ray", "auto") == 2
    assert "--prepare-pool process does not apply with --ray" in capsys.readouterr().err


def test_open_ended_benchmark_refused_under_video_thinker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.jsonl"
    rc = _run(
        "activitynet-qa",
        "--data",
        str(EVAL / "activitynet_qa_clips.jsonl"),
        "--videos",
        str(VIDEOS),
        "--backend",
        "fake",
        "--out",
        str(out),
    )
    err = capsys.readouterr().err
    assert rc == 2 and "open-ended" in err and "--protocol official" in err and not out.exists()
    rc = _run(
        "activitynet-qa",
        "--data",
        str(EVAL / "activitynet_qa_clips.jsonl"),
        "--videos",
        str(VIDEOS),
        "--backend",
        "fake",
        "--protocol",
        "official",
        "--out",
        str(out),
        "-q",
    )
    assert rc == 0 and len(read_results(out)) == 2


def test_shards_and_merge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = (
        "video-holmes",
        "--data",
        str(EVAL / "video_holmes_clips.json"),
        "--videos",
        str(VIDEOS),
        "--backend",
        "fake",
        "-q",
    )
    assert _run(*common, "--out", str(tmp_path / "all.jsonl")) == 0
    for i in range(2):
        assert _run(*common, "--shard", f"{i}/2", "--out", str(tmp_path / f"s{i}.jsonl")) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "eval",
                "merge",
                str(tmp_path / "s0.jsonl"),
                str(tmp_path / "s1.jsonl"),
                "--out",
                str(tmp_path / "m.jsonl"),
            ]
        )
        == 0
    )
    assert "4 row(s)" in capsys.readouterr().out
    merged = {(r.key, r.prediction, r.skipped) for r in read_results(tmp_path / "m.jsonl")}
    assert merged == {(r.key, r.prediction, r.skipped) for r in read_results(tmp_path / "all.jsonl")}
    rc = main(["eval", "merge", str(tmp_path / "m.jsonl"), "--out", str(tmp_path / "m.jsonl")])
    assert rc == 2 and "also an input" in capsys.readouterr().err


def test_user_errors_are_one_line_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ("--videos", str(VIDEOS), "--backend", "fake", "--out", str(tmp_path / "r.jsonl"))
    assert _run("jsonl", "--data", str(EVAL / "clips.jsonl"), "--shard", "2/2", *base) == 2
    assert "--shard 2/2" in capsys.readouterr().err
    assert _run("jsonl", "--data", str(EVAL / "clips.jsonl"), "--subcategories", "x", *base) == 2
    assert "only applies to cg-bench-reasoning" in capsys.readouterr().err
    assert _run("jsonl", "--data", str(tmp_path / "nope.jsonl"), *base) == 2
    assert "no such benchmark file" in capsys.readouterr().err
    assert (
        _run(
            "video-holmes", "--data", str(EVAL / "malformed_video_holmes.jsonl"), "--limit", "1", "-q", *base
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "4 malformed record(s)" in err and "malformed_video_holmes.jsonl: line 2: not valid JSON" in err
    # another preset into the same file is refused, not mixed
    assert (
        _run(
            "video-holmes",
            "--data",
            str(EVAL / "malformed_video_holmes.jsonl"),
            "--preset",
            "video-thinker-32f",
            "-q",
            *base,
        )
        == 2
    )
    assert "preset 'video-thinker-16f'" in capsys.readouterr().err


@pytest.mark.slow
def test_tiny_checkpoint_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("transformers")
    from vt_agent.tiny import build_tiny_checkpoint

    ckpt = build_tiny_checkpoint(tmp_path / "tiny")
    out = tmp_path / "r.jsonl"
    rc = _run(
        "jsonl",
        "--data",
        str(EVAL / "clips.jsonl"),
        "--videos",
        str(VIDEOS),
        "--backend",
        "transformers",
        "--model",
        str(ckpt),
        "--device",
        "cpu",
        "--dtype",
        "float32",
        "--max-tokens",
        "8",
        "--limit",
        "1",
        "--out",
        str(out),
        "-q",
    )
    assert rc == 0, capsys.readouterr().err
    (row,) = read_results(out)
    assert row.backend == "transformers" and row.error is None and row.timings["generated_chars"] > 0
