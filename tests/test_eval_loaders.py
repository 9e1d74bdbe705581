"""Benchmark loaders on the real records of tests/data/bench, put back into their official shapes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from vt_agent.errors import ConfigError
from vt_agent.evaluation.loaders import (
    BenchmarkFormatError,
    benchmark_names,
    load_benchmark,
    parse_inline_options,
)
from vt_agent.evaluation.records import item_key

ROOT = Path(__file__).resolve().parent
BENCH = ROOT / "data" / "bench"
EVAL = ROOT / "data" / "eval"


def _lines(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (BENCH / name).read_text().splitlines() if line.strip()]


def _empty_videos(tmp_path: Path) -> Path:
    d = tmp_path / "videos"
    d.mkdir(exist_ok=True)
    return d


def test_registry_names() -> None:
    assert set(benchmark_names()) == {
        "video-holmes",
        "cg-bench",
        "cg-bench-reasoning",
        "vrbench",
        "activitynet-qa",
        "star",
        "youcook2",
        "scalelong",
        "lvbench",
        "video-r1",
        "jsonl",
    }
    with pytest.raises(ConfigError, match="unknown benchmark"):
        load_benchmark("mvbench", EVAL / "clips.jsonl", EVAL)


def test_video_holmes_official_list_and_missing_videos(tmp_path: Path, bbb: Path) -> None:
    records = _lines("video_holmes.jsonl")
    data = tmp_path / "test_Video-Holmes.json"
    data.write_text(json.dumps(records))
    videos = _empty_videos(tmp_path)
    shutil.copy(bbb, videos / "0at001QMutY.mp4")  # one film present, RSmjqss0XKQ missing
    loaded = load_benchmark("video-holmes", data, videos)
    assert [it.id for it in loaded.items] == ["35", "36", "37", "38", "39", "40"]
    assert [it.id for it in loaded.missing] == ["2", "4"]
    assert loaded.problems == []
    first = loaded.items[0]
    assert first.video == "0at001QMutY.mp4" and first.answer == "E" and first.question_type == "SR"
    assert first.options == [records[0]["Options"][k] for k in "ABCDEF"]
    assert {it.question_type for it in loaded.items} == {"SR", "IMC", "TCI", "TA", "MHR", "CTI"}
    assert "6 question(s) with their video, 2 skipped (video missing)" in loaded.summary()


def test_malformed_lines_are_reported_with_their_line_number() -> None:
    loaded = load_benchmark("video-holmes", EVAL / "malformed_video_holmes.jsonl", ROOT / "data" / "videos")
    assert [it.id for it in loaded.items] == ["1"]
    where = {p.where: p.message for p in loaded.problems}
    assert set(where) == {"line 2", "line 3", "line 5", "line 6"}  # line 4 is blank
    assert "not valid JSON" in where["line 2"]
    assert "missing field 'Question'" in where["line 3"]
    assert "'E' is not one of the option letters A-B" in where["line 5"]
    assert "letters AC" in where["line 6"]
    assert all(p.file.endswith("malformed_video_holmes.jsonl") for p in loaded.problems)
    with pytest.raises(BenchmarkFormatError, match=r"malformed_video_holmes.jsonl: line 2: not valid JSON"):
        load_benchmark(
            "video-holmes", EVAL / "malformed_video_holmes.jsonl", ROOT / "data" / "videos", strict=True
        )


def test_a_file_that_is_not_json_names_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bench.json"
    bad.write_text('[{"video ID": "x",\n  oops]')
    with pytest.raises(BenchmarkFormatError, match=r"bench.json: line 2, column 3"):
        load_benchmark("video-holmes", bad, tmp_path)
    with pytest.raises(BenchmarkFormatError, match="no such benchmark file"):
        load_benchmark("video-holmes", tmp_path / "absent.json", tmp_path)


def test_cg_bench_and_the_reasoning_subset(tmp_path: Path) -> None:
    data = tmp_path / "cgbench.json"
    data.write_text(json.dumps(_lines("cg_bench.jsonl")))
    videos = _empty_videos(tmp_path)
    full = load_benchmark("cg-bench", data, videos)
    assert len(full.missing) == 4 and not full.items and not full.problems
    q = {it.id: it for it in full.missing}["5607"]
    assert q.answer == "G" and q.options[6] == "Appearance, character, behavior, and his views and methods"
    assert q.gold_spans == [(90.0, 100.0)] and q.question_type == "Event Perception"
    reasoning = load_benchmark("cg-bench-reasoning", data, videos)
    assert [it.question_type for it in reasoning.all_items] == ["Event Cognition"]
    assert reasoning.filtered == 3
    chosen = load_benchmark("cg-bench-reasoning", data, videos, subcategories=["Event Perception"])
    assert len(chosen.all_items) == 2
    assert len(load_benchmark("cg-bench-reasoning", data, videos, subcategories="all").all_items) == 4
    # a record whose letter key disagrees with its answer text is reported, not loaded
    recs = _lines("cg_bench.jsonl")
    recs[0]["right_answer"] = "A"
    data.write_text(json.dumps(recs))
    bad = load_benchmark("cg-bench", data, videos)
    assert [p.where for p in bad.problems] == ["record 1"] and "right_answer A" in bad.problems[0].message


def test_vrbench_official_per_video_lines(tmp_path: Path) -> None:
    flat = _lines("vrbench.jsonl")
    per_video: dict[str, dict[str, Any]] = {}
    for r in flat:
        v = per_video.setdefault(
            r["video_id"],
            {"video_id": r["video_id"], "video_path": r["video_path"], "mcq": {}, "video_read_type": "av"},
        )
        v["mcq"][r["qa_key"]] = {
            k: r[k] for k in ("question", "options", "answer", "reasoning_process", "reasoning_type")
        }
    data = tmp_path / "VRBench_eval.jsonl"
    data.write_text("".join(json.dumps(v) + "\n" for v in per_video.values()))
    loaded = load_benchmark("vrbench", data, _empty_videos(tmp_path))
    items = loaded.all_items
    assert len(items) == 13 and len(per_video) == 2 and not loaded.problems
    first = items[0]
    assert (
        first.id == "TZk_p-q8Fzo/qa1" and first.answer == "D" and first.question_type == "Implicit Inference"
    )
    assert first.video == "VRBench/videos/v001/TZk_p-q8Fzo.mp4"
    assert first.gold_spans[0] == (7 * 60 + 44.0, 8 * 60 + 28.0)  # [00:07:44->00:08:28]
    # the flattened sample shape reads the same questions
    flat_loaded = load_benchmark("vrbench", BENCH / "vrbench.jsonl", _empty_videos(tmp_path))
    assert [it.key for it in flat_loaded.all_items] == [it.key for it in items]


def test_activitynet_qa_question_and_answer_files(tmp_path: Path) -> None:
    recs = _lines("activitynet_qa.jsonl")
    (tmp_path / "test_q.json").write_text(
        json.dumps([{k: r[k] for k in ("video_name", "question", "question_id")} for r in recs])
    )
    (tmp_path / "test_a.json").write_text(
        json.dumps([{k: r[k] for k in ("answer", "type", "question_id")} for r in recs])
    )
    videos = _empty_videos(tmp_path)
    shutil.copy(ROOT / "data" / "videos" / "bigbuckbunny.mp4", videos / "v_4LoAbHdHWqM.mp4")
    loaded = load_benchmark("activitynet-qa", tmp_path / "test_q.json", videos)
    assert len(loaded.items) == 1 and len(loaded.missing) == 8
    assert loaded.items[0].video == "v_4LoAbHdHWqM.mp4" and loaded.items[0].answer == "tie rope"
    types = [it.question_type for it in loaded.all_items]
    assert types == [
        "Motion",
        "Spatial Relation",
        "Temporal Relation",
        "Yes/No",
        "Color",
        "Object",
        "Location",
        "Number",
        "Other",
    ]
    assert all(it.options == [] for it in loaded.all_items)
    (tmp_path / "test_a.json").unlink()
    with pytest.raises(BenchmarkFormatError, match=r"test_a\.json is not beside it"):
        load_benchmark("activitynet-qa", tmp_path / "test_q.json", videos)
    # the joined sample lines carry their answers
    assert len(load_benchmark("activitynet-qa", BENCH / "activitynet_qa.jsonl", videos).all_items) == 9


def test_star_letters_from_choice_order(tmp_path: Path) -> None:
    recs = _lines("star.jsonl")
    data = tmp_path / "STAR_val.json"
    data.write_text(json.dumps(recs))
    items = load_benchmark("star", data, _empty_videos(tmp_path)).all_items
    assert [it.id for it in items] == ["Interaction_T1_4", "Interaction_T2_6132"]
    for it, rec in zip(items, recs, strict=True):
        choices = [c["choice"] for c in sorted(rec["choices"], key=lambda c: c["choice_id"])]
        assert it.options == choices
        assert it.options["ABCD".index(it.answer)] == rec["answer"]
        assert it.window == (rec["start"], rec["end"]) and it.question_type == "Interaction"
    assert items[0].answer == "A"
    recs[1]["answer"] = "Danced."
    data.write_text(json.dumps(recs))
    loaded = load_benchmark("star", data, tmp_path)
    assert loaded.problems[0].where == "record 2" and "not one of the choices" in loaded.problems[0].message


def test_youcook2_official_database(tmp_path: Path) -> None:
    video_rec = _lines("youcook2.jsonl")[0]
    ytid = video_rec["youtube_id"]
    entry = {k: video_rec[k] for k in ("annotations", "duration", "recipe_type", "subset", "video_url")}
    data = tmp_path / "youcookii_annotations_trainval.json"
    data.write_text(
        json.dumps({"database": {ytid: entry, "noCaptions1": {"subset": "testing", "annotations": []}}})
    )
    videos = _empty_videos(tmp_path)
    segs = load_benchmark("youcook2", data, videos, subset="validation")
    assert len(segs.all_items) == 13 and segs.problems == []
    s0 = segs.all_items[0]
    assert (
        s0.id == f"{ytid}/0"
        and s0.window == (25.0, 37.0)
        and s0.gold_captions == ["cut the onion in half and dice"]
    )
    assert len({it.key for it in segs.all_items}) == 13  # same question and video, distinct windows
    whole = load_benchmark("youcook2", data, videos, level="video")
    assert len(whole.all_items) == 1 and len(whole.problems) == 1  # the video without captions
    assert "annotations" in whole.problems[0].message and "noCaptions1" in whole.problems[0].message
    v = whole.all_items[0]
    assert len(v.gold_spans) == 13 and v.gold_spans[-1] == (192.0, 213.0) and len(v.gold_captions) == 13
    with pytest.raises(ConfigError, match="level must be"):
        load_benchmark("youcook2", data, videos, level="clip")
    # the lmms-eval segment-level lines of the sample file read as the same questions
    lines = load_benchmark("youcook2", BENCH / "youcook2.jsonl", videos)
    seg_keys = {it.key for it in lines.all_items if it.id.endswith(("/0", "/1"))}
    assert {s0.key, segs.all_items[1].key} <= seg_keys


def test_scalelong_one_line_per_video(tmp_path: Path) -> None:
    recs = _lines("scalelong.jsonl")
    line = {
        recs[0]["video_id"]: [
            {k: r[k] for k in ("data_id", "question", "question_type", "options", "answer")} for r in recs
        ]
    }
    line[recs[0]["video_id"]][2]["answer"] = "Z"
    data = tmp_path / "questions_converted.jsonl"
    data.write_text(json.dumps(line) + "\n")
    loaded = load_benchmark("scalelong", data, _empty_videos(tmp_path))
    assert len(loaded.all_items) == 6  # the bad question is reported, the other six kept
    assert loaded.problems[0].where == "line 1" and loaded.problems[0].message.startswith("question 3:")
    assert loaded.all_items[0].answer == "C" and loaded.all_items[0].question_type == "Counting Problem"


def test_lvbench_inline_options() -> None:
    assert parse_inline_options("Q?\n(A) x\n(B) y y\n(C) z") == ("Q?", ["x", "y y", "z"])
    with pytest.raises(ValueError, match="expected A, B, C"):
        parse_inline_options("Q?\n(A) x\n(C) z")
    loaded = load_benchmark("lvbench", EVAL / "lvbench_clips.jsonl", ROOT / "data" / "videos")
    assert [it.id for it in loaded.items] == ["lv-1", "lv-2"]
    lv1 = loaded.items[0]
    assert lv1.problem == "Where does the character come from at the start?"
    assert lv1.options[1] == "He climbs out of a hole in the hillside" and lv1.answer == "B"
    assert lv1.extra["question_types"] == ["entity recognition", "event understanding"]
    assert lv1.video == "bigbuckbunny.mp4"
    assert len(loaded.problems) == 1 and "lv-bad" in loaded.problems[0].message


def test_video_r1_format() -> None:
    loaded = load_benchmark("video-r1", EVAL / "video_r1_clips.json", ROOT / "data" / "videos")
    mcq, num = loaded.items
    assert (
        mcq.options[1] == "Stretches his arms and yawns"
        and mcq.answer == "B"
        and mcq.video == "bigbuckbunny.mp4"
    )
    assert (
        num.options == []
        and num.answer == "2"
        and num.question_type == "numerical"
        and num.video == "cityCC0.mpg"
    )
    assert loaded.problems[0].where == "record 3" and "image" in loaded.problems[0].message


def test_own_jsonl_format() -> None:
    loaded = load_benchmark("jsonl", EVAL / "clips.jsonl", ROOT / "data" / "videos")
    a, b, c = loaded.items
    assert a.options[2] == "Clear, pale blue/pink sky" and a.gold_spans == [(0.0, 5.3)]
    assert b.options == ["The left one", "The right one", "They are the same height"]  # letters removed
    assert c.window == (0.0, 20.0)


def test_resume_key_follows_protocol_and_ignores_the_videos_dir(tmp_path: Path, videos_dir: Path) -> None:
    here = load_benchmark("jsonl", EVAL / "clips.jsonl", videos_dir).items[0]
    elsewhere = tmp_path / "mnt"
    shutil.copytree(videos_dir, elsewhere)
    there = load_benchmark("jsonl", EVAL / "clips.jsonl", elsewhere).items[0]
    assert here.key == there.key
    lettered = [f"{'ABCD'[i]}. {o}" for i, o in enumerate(here.options)]
    import hashlib

    assert here.key == hashlib.md5((here.problem + str(lettered) + "bigbuckbunny.mp4").encode()).hexdigest()
    assert item_key(here.problem, here.options, "bigbuckbunny.mp4", (0.0, 1.0)) != here.key
