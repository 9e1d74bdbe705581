"""The benchmark runner: protocols, resume, shards and merge, failures as rows; real clips, fake backend."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from vt_agent.backends.fake_backend import FakeBackend
from vt_agent.errors import ConfigError, ResultsFileError
from vt_agent.evaluation.loaders import load_benchmark
from vt_agent.evaluation.records import RESULT_KEYS, EvalResult, read_results, write_results
from vt_agent.evaluation.runner import (
    ProtocolError,
    arun_benchmark,
    merge_results,
    official_messages,
    parse_shard,
    run_benchmark,
    select_items,
)
from vt_agent.reasoner import VideoReasoner

EVAL = Path(__file__).resolve().parent / "data" / "eval"


def _reasoner(backend: FakeBackend | None = None, preset: str = "video-thinker-16f") -> VideoReasoner:
    return VideoReasoner(backend or FakeBackend(), preset=preset)


def test_fake_backend_end_to_end_on_the_real_clips(videos_dir: Path, tmp_path: Path) -> None:
    loaded = load_benchmark("jsonl", EVAL / "clips.jsonl", videos_dir)
    out = tmp_path / "results.jsonl"
    summary = run_benchmark(loaded, _reasoner(), out)
    assert (summary.selected, summary.ran, summary.errors, summary.skipped) == (3, 3, 0, 0)
    lines = out.read_text().splitlines()
    assert len(lines) == 3 and all(tuple(json.loads(line)) == RESULT_KEYS for line in lines)
    rows = {r.id: r for r in read_results(out)}
    # the scripted traces for these human-written questions end with the right letters
    assert {i: r.prediction for i, r in rows.items()} == {
        "bbb-sky": "C",
        "city-taller": "B",
        "vtest-vehicle": "B",
    }
    assert summary.correct == 3 and summary.answered == 3
    sky = rows["bbb-sky"]
    assert sky.format_ok and sky.segments and sky.segments[0]["start_s"] is not None
    assert sky.raw_output.rstrip().endswith("<answer>C</answer>") and sky.gold_spans == [(0.0, 5.3)]
    assert (sky.protocol, sky.preset, sky.backend, sky.model) == (
        "video-thinker",
        "video-thinker-16f",
        "fake",
        "scripted-fake",
    )
    assert sky.error is None and not sky.skipped and sky.timings["total_s"] > 0
    # vtest is asked about its first 20 s only: every cited span lies inside that window
    assert all(0 <= s["start_s"] <= s["end_s"] <= 20 for s in rows["vtest-vehicle"].segments)


def test_resume_does_no_work_twice_even_from_another_directory(
    videos_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "results.jsonl"
    first = FakeBackend()
    run_benchmark(load_benchmark("jsonl", EVAL / "clips.jsonl", videos_dir), _reasoner(first), out)
    assert len(first.requests) == 3
    before = out.read_text()

    again = FakeBackend()
    summary = run_benchmark(load_benchmark("jsonl", EVAL / "clips.jsonl", videos_dir), _reasoner(again), out)
    assert (summary.already_done, summary.ran, len(again.requests)) == (3, 0, 0)
    assert out.read_text() == before

    # the videos moved and the run starts from another working directory with relative paths
    moved = tmp_path / "elsewhere" / "clips"
    shutil.copytree(videos_dir, moved)
    shutil.copy(EVAL / "clips.jsonl", tmp_path / "elsewhere" / "q.jsonl")
    monkeypatch.chdir(tmp_path / "elsewhere")
    third = FakeBackend()
    summary = run_benchmark(load_benchmark("jsonl", "q.jsonl", "clips"), _reasoner(third), "../results.jsonl")
    assert (summary.already_done, summary.ran, len(third.requests)) == (3, 0, 0)


def test_a_half_done_run_resumes_where_it_stopped(videos_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    loaded = load_benchmark("jsonl", EVAL / "clips.jsonl", videos_dir)
    run_benchmark(loaded, _reasoner(), out, limit=1)
    with out.open("a") as fh:
        fh.write('{"key": "cut off mid-wri')  # a run killed while writing its last row
    backend = FakeBackend()
    summary = run_benchmark(loaded, _reasoner(backend), out)
    assert (summary.already_done, summary.ran, len(backend.requests)) == (1, 2, 2)
    assert any("cut off" in n for n in summary.notes) and not summary.problems
    rows = read_results(out)  # the cut-off row was dropped, not glued to the next one
    assert len(rows) == 3 and len({r.key for r in rows}) == 3
    out.write_bytes(out.read_bytes().rstrip(b"\n"))  # a whole last row whose newline never came
    again = FakeBackend()
    summary = run_benchmark(loaded, _reasoner(again), out)
    assert (summary.already_done, summary.ran) == (2, 1) and len(read_results(out)) == 3


def test_a_file_that_is_not_a_results_file_is_left_whole(videos_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "notes.txt"
    out.write_text("notes, not results", "utf-8")
    loaded = load_benchmark("jsonl", EVAL / "clips.jsonl", videos_dir)
    with pytest.raises(ResultsFileError):
        run_benchmark(loaded, _reasoner(), out)
    assert out.read_text("utf-8") == "notes, not results"


def test_shards_merge_to_the_unsharded_run(videos_dir: Path, tmp_path: Path) -> None:
    loaded = load_benchmark("video-holmes", EVAL / "video_holmes_clips.json", videos_dir)
    whole = tmp_path / "whole.jsonl"
    run_benchmark(loaded, _reasoner(), whole)
    parts = []
    for i in range(2):
        part = tmp_path / f"part{i}.jsonl"
        summary = run_benchmark(loaded, _reasoner(), part, shard=(i, 2))
        assert summary.selected == 2
        parts.append(part)
    assert {r.key for r in read_results(parts[0])}.isdisjoint({r.key for r in read_results(parts[1])})
    report = merge_results(parts)
    assert not report.conflicts and report.duplicates == 0

    def view(rows: list[EvalResult]) -> set[tuple[str, str | None, bool, str | None]]:
        return {(r.key, r.prediction, r.skipped, r.raw_output) for r in rows}

    assert view(report.results) == view(read_results(whole))
    # merging the whole run with a shard keeps one row per key
    assert len(merge_results([whole, parts[0]]).results) == 4


def test_sharding_and_limit_follow_file_order(videos_dir: Path) -> None:
    items = load_benchmark("video-holmes", EVAL / "video_holmes_clips.json", videos_dir).all_items
    assert [it.id for it in select_items(items, (0, 2))] == ["1", "3"]
    assert [it.id for it in select_items(items, (1, 2))] == ["2", "4"]
    assert [it.id for it in select_items(items, (1, 2), limit=3)] == ["2"]
    assert parse_shard("3/4") == (3, 4)
    for bad in ("4/4", "1", "a/b", "0/0", "-1/2"):
        with pytest.raises(ConfigError, match="shard"):
            parse_shard(bad)


def test_missing_and_undecodable_videos_become_rows(videos_dir: Path, tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    shutil.copytree(videos_dir, videos)
    (videos / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video" * 10)
    data = tmp_path / "q.jsonl"
    rows = [
        {
            "id": "broken",
            "video": "broken.mp4",
            "question": "What happens?",
            "options": ["x", "y"],
            "answer": "A",
        },
        {
            "id": "gone",
            "video": "gone.mp4",
            "question": "What happens?",
            "options": ["x", "y"],
            "answer": "A",
        },
        {
            "id": "ok",
            "video": "bigbuckbunny.mp4",
            "question": "What animal is the main character?",
            "options": ["A fox", "A grey rabbit"],
            "answer": "B",
        },
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    loaded = load_benchmark("jsonl", data, videos)
    assert [it.id for it in loaded.missing] == ["gone"]
    out = tmp_path / "r.jsonl"
    summary = run_benchmark(loaded, _reasoner(), out)
    assert (summary.ran, summary.errors, summary.skipped, summary.answered) == (3, 1, 1, 1)
    got = {r.id: r for r in read_results(out)}
    assert got["broken"].error and "broken.mp4" in got["broken"].error and not got["broken"].skipped
    assert got["gone"].skipped and "not found" in (got["gone"].error or "")
    assert got["ok"].prediction == "B"
    # --retry-failed runs the failed rows again (the file keeps one row per key)
    (videos / "gone.mp4").write_bytes((videos / "bigbuckbunny.mp4").read_bytes())
    again = run_benchmark(load_benchmark("jsonl", data, videos), _reasoner(), out, retry_failed=True)
    assert (again.already_done, again.ran, again.errors, again.skipped) == (1, 2, 1, 0)
    final = read_results(out)
    assert len(final) == 3 and {r.id for r in final if not r.failed} == {"ok", "gone"}


def test_open_ended_sets_are_refused_under_video_thinker(videos_dir: Path, tmp_path: Path) -> None:
    anet = load_benchmark("activitynet-qa", EVAL / "activitynet_qa_clips.jsonl", videos_dir)
    backend = FakeBackend()
    with pytest.raises(
        ProtocolError, match=r"activitynet-qa has 2 open-ended question\(s\).*--protocol official"
    ):
        run_benchmark(anet, _reasoner(backend), tmp_path / "r.jsonl")
    assert backend.requests == [] and not (tmp_path / "r.jsonl").exists()
    mixed = load_benchmark("jsonl", EVAL / "clips_open.jsonl", videos_dir)
    with pytest.raises(ProtocolError, match="1 open-ended"):
        run_benchmark(mixed, _reasoner(), tmp_path / "r.jsonl")


def test_official_protocol_uses_the_benchmarks_prompt_and_extractor(videos_dir: Path, tmp_path: Path) -> None:
    loaded = load_benchmark("video-holmes", EVAL / "video_holmes_clips.json", videos_dir)
    # official Video-Holmes scoring tries letters in order A..F anywhere: "A " in the reasoning wins
    backend = FakeBackend("<think>A rabbit, not a fox.</think> <answer>B</answer>")
    out = tmp_path / "r.jsonl"
    run_benchmark(loaded, _reasoner(backend), out, protocol="official")
    text = backend.requests[0].messages[-1]["content"][-1]["text"]
    assert text == (
        "Based on the given video, reason and answer the single-choice question. Provide your reasoning between the "
        "<think> and </think> tags, and then give your final answer between the <answer> and </answer> tags. "
        "The question is: What animal is the main character?. The options are: A: A fox, B: A grey rabbit, "
        "C: A squirrel, D: A bear. Your answer:"
    )
    assert [m["role"] for m in backend.requests[0].messages] == ["user"]
    rows = read_results(out)
    answered = [r for r in rows if not r.skipped]
    assert len(answered) == 3 and all(r.prediction == "B" and r.protocol == "official" for r in answered)
    # the same file cannot take rows of the other protocol
    with pytest.raises(ConfigError, match="protocol 'official'"):
        run_benchmark(loaded, _reasoner(), out, protocol="video-thinker")


def test_official_open_ended_activitynet(videos_dir: Path, tmp_path: Path) -> None:
    loaded = load_benchmark("activitynet-qa", EVAL / "activitynet_qa_clips.jsonl", videos_dir)
    backend = FakeBackend(["<answer>rabbit</answer>", " No "])
    out = tmp_path / "r.jsonl"
    run_benchmark(loaded, _reasoner(backend), out, protocol="official")
    rows = {r.id: r for r in read_results(out)}
    assert rows["v_bigbuckbunny_1"].prediction == "rabbit" and rows["v_bigbuckbunny_1"].answer == "rabbit"
    assert rows["v_cityCC0_1"].prediction == "No" and rows["v_cityCC0_1"].question_type == "Yes/No"
    assert (
        backend.requests[0]
        .messages[-1]["content"][-1]["text"]
        .endswith("\nAnswer the question using a single word or phrase.")
    )


def test_official_prompts_of_other_benchmarks(videos_dir: Path) -> None:
    lv = load_benchmark("lvbench", EVAL / "lvbench_clips.jsonl", videos_dir).items[0]
    text = official_messages(lv)[-1]["content"][-1]["text"]
    assert text.startswith("Where does the character come from at the start?\n(A) He falls from a tree\n(B) ")
    assert text.endswith("\nAnswer the question with the option letter.")
    vr1 = load_benchmark("video-r1", EVAL / "video_r1_clips.json", videos_dir).items[0]
    text = official_messages(vr1)[-1]["content"][-1]["text"]
    assert text.startswith("What does he do in the middle of the clip? Options:\nA. Eats a flower\nB. ")
    assert text.endswith(
        "Please provide only the single option letter (e.g., A, B, C, D, etc.) within the <answer> </answer> tags."
    )
    own = load_benchmark("jsonl", EVAL / "clips.jsonl", videos_dir).items[0]
    from vt_agent.prompts import SYSTEM_PROMPT

    assert official_messages(own)[0]["content"][0]["text"] == SYSTEM_PROMPT


def test_bounded_concurrency_writes_every_row_once(videos_dir: Path, tmp_path: Path) -> None:
    loaded = load_benchmark("video-holmes", EVAL / "video_holmes_clips.json", videos_dir)
    active = 0
    peak = 0

    class Counting(FakeBackend):
        async def _stream(self, text: str, finish):  # type: ignore[no-untyped-def,override]
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            try:
                async for d in super()._stream(text, finish):
                    yield d
            finally:
                active -= 1

    out = tmp_path / "r.jsonl"
    summary = asyncio.run(
        arun_benchmark(loaded, _reasoner(Counting(delay_s=0.01)), out, concurrency=2, progress=True)
    )
    assert summary.ran == 4 and peak == 2
    assert sorted(r.id for r in read_results(out)) == ["1", "2", "3", "4"]
    with pytest.raises(ConfigError, match="concurrency"):
        run_benchmark(loaded, _reasoner(), tmp_path / "x.jsonl", concurrency=0)


def test_merge_refuses_mixed_runs_and_reports_conflicts(videos_dir: Path, tmp_path: Path) -> None:
    loaded = load_benchmark("jsonl", EVAL / "clips.jsonl", videos_dir)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    run_benchmark(loaded, _reasoner(FakeBackend("<answer>A</answer>")), a)
    run_benchmark(loaded, _reasoner(FakeBackend("<answer>B</answer>")), b)
    report = merge_results([a, b])
    assert len(report.results) == 3 and len(report.conflicts) == 3
    assert all(r.prediction == "A" for r in report.results)
    c = tmp_path / "c.jsonl"
    run_benchmark(loaded, _reasoner(preset="video-thinker-32f"), c)
    with pytest.raises(ConfigError, match="cannot be merged"):
        merge_results([a, c])
    write_results(tmp_path / "m.jsonl", report.results)
    assert read_results(tmp_path / "m.jsonl") == report.results


@pytest.mark.slow
def test_tiny_checkpoint_end_to_end(videos_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from vt_agent.backends import load_backend
    from vt_agent.tiny import build_tiny_checkpoint

    ckpt = build_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "ckpt")
    backend = load_backend("transformers", model=str(ckpt), device="cpu", dtype="float32")
    reasoner = VideoReasoner(backend, max_tokens=16)
    loaded = load_benchmark("video-holmes", EVAL / "video_holmes_clips.json", videos_dir)
    out = tmp_path_factory.mktemp("run") / "r.jsonl"

    async def main() -> None:
        async with reasoner:
            await arun_benchmark(loaded, reasoner, out, limit=2)
            await arun_benchmark(loaded, reasoner, out, limit=2, protocol="video-thinker")

    asyncio.run(main())
    rows = read_results(out)
    assert len(rows) == 2 and all(r.backend == "transformers" and r.error is None for r in rows)
    assert all(r.raw_output and r.timings["generated_chars"] == len(r.raw_output) for r in rows)


def test_official_open_questions_in_own_jsonl_are_scored(videos_dir: Path, tmp_path: Path) -> None:
    """An open JSONL question is read as text and matched after normalisation, not by the letter ladder."""
    from vt_agent.evaluation.scoring import score_results

    mixed = load_benchmark("jsonl", EVAL / "clips_open.jsonl", videos_dir)
    # open-1 ("rabbit") gets the first output, bbb-sky (options, gold C) the second
    backend = FakeBackend(["<think>A grey animal.</think><answer>The Rabbit.</answer>", "<answer>C</answer>"])
    out = tmp_path / "r.jsonl"
    summary = run_benchmark(mixed, _reasoner(backend), out, protocol="official")
    rows = {r.id: r for r in read_results(out)}
    assert rows["open-1"].prediction == "The Rabbit." and rows["open-1"].format_ok
    assert rows["bbb-sky"].prediction == "C"
    assert summary.correct == 2 and summary.answered == 2
    s = score_results("jsonl", out)
    assert s.accuracy is not None and (s.accuracy.overall.correct, s.accuracy.overall.total) == (2, 2)
    # rescoring with the official rule reads the same; the paper's ladder refuses the open question
    again = score_results("jsonl", out, protocol="official")
    assert again.accuracy is not None and again.accuracy.overall.correct == 2
    with pytest.raises(ConfigError, match="open-ended"):
        score_results("jsonl", out, protocol="video-thinker")


def test_untyped_questions_get_their_own_row(tmp_path: Path) -> None:
    from vt_agent.evaluation.scoring import NO_TYPE, score_results

    base = {"benchmark": "jsonl", "video": "v.mp4", "problem": "?", "protocol": "official", "preset": "p"}
    rows = [
        EvalResult(
            key="a", id="a", options=["x", "y"], answer="A", prediction="A", question_type="scene", **base
        ),
        EvalResult(key="b", id="b", answer="rabbit", prediction="Rabbit", **base),
    ]
    out = tmp_path / "r.jsonl"
    write_results(out, rows)
    s = score_results("jsonl", out)
    assert s.accuracy is not None
    per = {k: (v.correct, v.total) for k, v in s.accuracy.per_type.items()}
    assert per == {"scene": (1, 1), NO_TYPE: (1, 1)} and s.accuracy.overall.total == 2
