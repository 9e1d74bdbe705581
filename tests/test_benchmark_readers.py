"""One reader per file format: evaluation and training data building read the same questions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vt_agent.benchmarks import READERS, VIDEO_EXTENSIONS, VideoFolder
from vt_agent.evaluation import loaders
from vt_agent.evaluation.loaders import LOADERS, load_benchmark
from vt_agent.training import builders
from vt_agent.training.builders import VideoIndex, load_source
from vt_agent.training.schema import RecordError

DATA = Path(__file__).parent / "data" / "training"
VIDEOS = Path(__file__).parent / "data" / "videos"


@pytest.mark.parametrize(
    ("source", "file"),
    [("star", "star.json"), ("scalelong", "scalelong.jsonl"), ("lvbench", "lvbench.jsonl")],
)
def test_training_and_evaluation_read_the_same_questions(source: str, file: str, tmp_path: Path) -> None:
    samples = load_source(source, DATA / file)
    items = load_benchmark(source, DATA / file, tmp_path).all_items
    assert len(samples) == len(items) > 0
    for sample, item in zip(samples, items, strict=True):
        assert sample.problem == item.problem and sample.answer == item.answer
        assert sample.options == [f"{'ABCDEFG'[i]}. {o}" for i, o in enumerate(item.options)]
        assert sample.video_id == item.extra["video_id"]


def test_youcook2_captions_are_the_evaluation_gold_captions(tmp_path: Path) -> None:
    (sample,) = load_source("youcook2", DATA / "youcook2.json")
    (video,) = load_benchmark("youcook2", DATA / "youcook2.json", tmp_path, level="video").all_items
    assert [s.caption for s in sample.spans] == video.gold_captions
    assert [(s.start_s, s.end_s) for s in sample.spans] == video.gold_spans


def test_a_malformed_record_gives_the_same_reason_on_both_sides(tmp_path: Path) -> None:
    data = tmp_path / "questions.jsonl"
    data.write_text(
        json.dumps({"v": [{"data_id": 0, "question": "Q", "options": {"A": "x"}, "answer": "C"}]})
    )
    loaded = load_benchmark("scalelong", data, tmp_path)
    (problem,) = loaded.problems
    with pytest.raises(RecordError) as info:
        load_source("scalelong", data)
    assert str(info.value) == f"{data}: line 1: {problem.message}"
    assert "'C' is not one of the option letters A-A" in problem.message


def test_one_video_extension_list_and_one_registry() -> None:
    assert loaders.VIDEO_EXTENSIONS is builders.VIDEO_EXTENSIONS is VIDEO_EXTENSIONS
    assert {".mp4", ".mkv", ".webm", ".wmv", ".ts"} <= set(VIDEO_EXTENSIONS)
    assert LOADERS is READERS


def test_both_sides_find_a_video_by_any_listed_extension(tmp_path: Path) -> None:
    videos = tmp_path / "videos" / "nested"
    videos.mkdir(parents=True)
    shutil.copy(VIDEOS / "bigbuckbunny.mp4", videos / "v_clip.wmv")
    (videos / "notes.txt").write_text("not a video")
    index = VideoIndex(tmp_path / "videos")
    assert index.find("clip") == tmp_path / "videos" / "nested" / "v_clip.wmv" and len(index) == 1
    assert index.find("notes") is None
    folder = VideoFolder(tmp_path / "videos")
    assert folder.find(["clip.mp4", "clip"]) == ("nested/v_clip.wmv", True)
    assert folder.by_stem("v_clip") == "nested/v_clip.wmv"
