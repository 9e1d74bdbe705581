"""Builders: official source shapes, video filters, LLM replies (valid and malformed), the CLI.

The LLM is a real local HTTP server (tests/training_fake_llm.py) answering from the prompt; the
videos are the bundled real clips plus an undecodable file and a 40-frame clip made with PyAV.
"""

from __future__ import annotations

import argparse
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import video_factory as vf
from training_fake_llm import FakeLLMServer, caption_writer, qa_writer, user_text

from vt_agent.commands.train_data import add_data_parsers
from vt_agent.errors import BackendError, BackendUnavailableError, ConfigError
from vt_agent.trace import check_format
from vt_agent.training.builders import (
    DatasetBuilder,
    ReplyRejected,
    check_video,
    clock,
    load_source,
    parse_question_reply,
    parse_trace_reply,
)
from vt_agent.training.llm import ChatLLM, LLMConfig
from vt_agent.training.schema import JsonlWriter, RecordError, Span, read_records

DATA = Path(__file__).parent / "data" / "training"
VIDEOS = Path(__file__).parent / "data" / "videos"


def respond_valid(body: dict[str, Any]) -> str:
    return caption_writer(body) if "Timed captions" in user_text(body) else qa_writer(body)


def _read_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


# -- sources --------------------------------------------------------------------------------


def test_sources_in_official_shapes() -> None:
    anet = load_source("activitynet-captions", DATA / "activitynet_captions.json")
    assert [s.id for s in anet] == [
        "activitynet-captions:v_bigbuckbunny",
        "activitynet-captions:v_cityCC0",
        "activitynet-captions:v_notdownloaded",
    ]
    assert anet[0].kind == "captions" and len(anet[0].spans) == 4
    assert anet[0].spans[2].caption == "He yawns with his mouth wide open while stretching."

    yc = load_source("youcook2", DATA / "youcook2.json")
    assert [(s.video_id, len(s.spans), s.meta["subset"]) for s in yc] == [("vtest", 3, "validation")]

    star = load_source("star", DATA / "star.json")
    assert [(s.source_id, s.answer) for s in star] == [("Sequence_T1_1", "B"), ("Interaction_T1_9", "B")]
    # Choices are ordered by choice_id, whatever their order in the file.
    assert star[1].options == ["A. The left one.", "B. The right one.", "C. They are the same height."]
    assert star[1].clip is not None and (star[1].clip.start_s, star[1].clip.end_s) == (4.7, 7.6)

    sl = load_source("scalelong", DATA / "scalelong.jsonl", descriptions=DATA / "descriptions.json")
    assert [(s.id, s.answer) for s in sl] == [("scalelong:cityCC0:0", "B"), ("scalelong:cityCC0:1", "C")]
    assert [sp.caption is not None for sp in sl[0].spans] == [True, True]  # timed descriptions

    lv = load_source("lvbench", DATA / "lvbench.jsonl", descriptions=DATA / "descriptions.json")
    assert lv[0].problem == "What vehicle is parked in front of the brick building?"
    assert lv[0].options == ["A. A red bus", "B. A white van", "C. A black motorbike", "D. A green tractor"]
    assert [(sp.start_s, sp.end_s) for sp in lv[0].spans] == [(0.0, 79.0)]
    assert lv[1].spans == [] and lv[1].answer == "A"
    assert lv[0].description is not None and "white van" in lv[0].description


def test_the_reshaped_bench_samples_load_too() -> None:
    bench = Path(__file__).parent / "data" / "bench"
    star = load_source("star", bench / "star.jsonl")
    assert star[0].answer == "A" and star[0].video_id == "TJZ0P"
    sl = load_source("scalelong", bench / "scalelong.jsonl")
    assert len(sl) == 7 and sl[0].answer == "C"


@pytest.mark.parametrize(
    ("source", "text", "expected"),
    [
        ("lvbench", '{"key": "a", "qa": [{"uid": 1, "question": "Q?", "answer": "A"}]}\n', "line 1"),
        (
            "scalelong",
            '{"v": [{"data_id": 0, "question": "Q", "options": {"A": "x", "C": "y"}, "answer": "A"}]}\n',
            r"line 1: .*option keys \['A', 'C'\] are not \['A', 'B'\]",
        ),
        (
            "star",
            '[{"question_id": "q", "video_id": "v", "start": 0, "end": 1, "question": "Q", '
            '"answer": "zzz", "choices": [{"choice_id": 0, "choice": "x"}, {"choice_id": 1, "choice": "y"}]}]',
            "answer 'zzz' is none of the choices",
        ),
        ("activitynet-captions", '{"v_a": {"duration": 3, "timestamps": [[0, 1]], "sentences": []}}', "v_a"),
    ],
)
def test_malformed_source_entries_are_located(tmp_path: Path, source: str, text: str, expected: str) -> None:
    path = tmp_path / ("src.jsonl" if text.endswith("\n") else "src.json")
    path.write_text(text)
    with pytest.raises(RecordError, match=expected):
        load_source(source, path)


def test_unknown_source_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="choose one of activitynet-captions"):
        load_source("kinetics", DATA / "star.json")


# -- filters --------------------------------------------------------------------------------


def test_filters_drop_undecodable_and_short_videos(tmp_path: Path) -> None:
    (tmp_path / "noise.mp4").write_bytes(b"\x00\x01not a video at all" * 100)
    short = vf.cfr_video(tmp_path / "short.mp4", n=40)
    bad = check_video(tmp_path / "noise.mp4")
    assert not bad.ok and bad.reason.startswith("undecodable:")
    few = check_video(short)
    assert not few.ok and few.reason == "too short: 40 decoded frames < 64" and few.decoded_frames == 40
    assert check_video(short, min_frames=40).ok
    good = check_video(VIDEOS / "bigbuckbunny.mp4")
    assert good.ok and good.decoded_frames == 132 and good.duration_s == pytest.approx(5.28)


def test_clock_formats() -> None:
    assert clock(4.96, 7.6) == "00:05.0"
    assert clock(1.6, 5.28) == "00:01.6"
    assert clock(79.5, 79.5) == "01:20"
    assert clock(3725, 4000) == "1:02:05"


# -- reply validation -----------------------------------------------------------------------

SPANS = [
    Span(start_s=0.0, end_s=1.6, caption="climbs out"),
    Span(start_s=1.6, end_s=3.0, caption="stretches"),
]
GOOD = (
    "<question>What does he do after climbing out?</question>\n<options>\nA. Eats\nB. Stretches\nC. Swims\n</options>\n"
    "<correct>B</correct>\n<trace>Look at the start.\n<time>00:00.0-00:01.6</time><caption>A rabbit climbs out of a "
    "hole.</caption><think>The first moment.</think>\n<time>00:01.6-00:03.0</time><caption>He stretches his arms."
    "</caption><think>What follows.</think>\nA no, B yes, C no.\n<answer>B</answer></trace>"
)


def test_a_valid_question_reply_is_split_into_question_options_and_trace() -> None:
    got = parse_question_reply("```\n" + GOOD + "\n```", 5.28, SPANS)
    assert got.problem == "What does he do after climbing out?"
    assert got.options == ["A. Eats", "B. Stretches", "C. Swims"]
    assert got.answer == "B" and got.grounding == pytest.approx(1.0)
    assert "<answer>" not in got.trace and got.trace.endswith("A no, B yes, C no.")
    assert check_format(got.trace + "\n<answer>B</answer>").ok


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (GOOD.replace("<correct>B</correct>", ""), "no <correct>"),
        (GOOD.replace("<correct>B</correct>", "<correct>E</correct>"), "not one of the option letters"),
        (
            GOOD.replace("<answer>B</answer>", "<answer>C</answer>"),
            "ends with answer C, but the correct answer is B",
        ),
        (GOOD.replace("</think>\n<time>00:01.6", "\n<time>00:01.6"), "tags must not nest"),
        (GOOD.replace("00:01.6-00:03.0", "00:09.0-00:12.0"), "lies outside the video"),
        (
            GOOD.replace("A. Eats\nB. Stretches\nC. Swims", "Eats\nStretches\nSwims"),
            "must start with its letter",
        ),
        (GOOD.replace("A. Eats\nB. Stretches\nC. Swims", "A. Stretches"), "needs at least 2"),
        (GOOD.replace("Look at the start.", "The captions say it."), "talks about captions"),
        (
            GOOD.replace("00:00.0-00:01.6", "00:04.0-00:04.5").replace("00:01.6-00:03.0", "00:04.5-00:05.0"),
            "overlaps an annotated moment",
        ),
        (GOOD.replace("<caption>He stretches his arms.</caption>", "<caption> </caption>"), "empty caption"),
        (
            GOOD.replace("<answer>B</answer></trace>", "<answer>B</answer></trace> Hope this helps!")
            .replace("</trace>", "")
            .replace("<trace>", "<trace>"),
            "no <trace>",
        ),
    ],
)
def test_malformed_replies_are_rejected_with_a_reason(reply: str, reason: str) -> None:
    with pytest.raises(ReplyRejected, match=reason):
        parse_question_reply(reply, 5.28, SPANS)


def test_trace_reply_without_wrapper_is_accepted_but_wrong_letter_is_not() -> None:
    body = GOOD.split("<trace>")[1].removesuffix("</trace>")
    got = parse_trace_reply(body, "B", ["A. Eats", "B. Stretches", "C. Swims"], 5.28, SPANS)
    assert got.answer == "B" and got.problem == ""
    with pytest.raises(ReplyRejected, match="correct answer is A"):
        parse_trace_reply(body, "A", ["A. Eats", "B. Stretches", "C. Swims"], 5.28, SPANS)
    with pytest.raises(ReplyRejected, match="no <trace>"):
        parse_trace_reply("I think the answer is B.", "B", ["A. x", "B. y"], 5.28, SPANS)


# -- building over a real local server --------------------------------------------------------


def _llm(server: FakeLLMServer, **kw: Any) -> ChatLLM:
    return ChatLLM(LLMConfig(base_url=server.base_url, backoff_s=0.0, **kw))


def test_build_caption_source_on_real_clips(tmp_path: Path) -> None:
    samples = load_source("activitynet-captions", DATA / "activitynet_captions.json")
    with FakeLLMServer(respond_valid) as server, _llm(server) as llm:
        builder = DatasetBuilder(llm, VIDEOS, workers=2)
        with JsonlWriter(tmp_path / "r.jsonl") as out, JsonlWriter(tmp_path / "log.jsonl") as log:
            stats = builder.build(samples, out, log)
        prompts = [user_text(b) for b in server.requests]
    assert stats.as_dict() == {
        "samples": 3,
        "written": 2,
        "dropped": {"video_not_found": 1},
        "rejected_replies": 0,
        "duplicate_questions": 0,
        "llm_calls": 2,
    }
    records = read_records(tmp_path / "r.jsonl")
    bunny, city = records
    assert bunny.id == "activitynet-captions:v_bigbuckbunny" and bunny.video == str(
        (VIDEOS / "bigbuckbunny.mp4").resolve()
    )
    assert bunny.decoded_frames == 132 and bunny.duration_s == pytest.approx(5.28)
    assert bunny.answer == "B" and bunny.options[1] == "B. The rabbit stands up and stretches both arms wide"
    assert (
        "<time>00:00.0-00:01.6</time>" in bunny.trace
        and bunny.generator == f"fake-writer-72b@{server.base_url}"
    )
    assert (bunny.spans[0].caption or "").startswith("A big grey rabbit")
    assert city.problem.startswith("What happens right after this moment: the camera looks up")
    # The prompt carries the captions on the decoded timeline, in the grammar's time format.
    assert (
        "00:04.4-00:05.3: He lowers his arms" in prompts[0]
        or "00:04.4-00:05.3: He lowers his arms" in prompts[1]
    )
    log = _read_log(tmp_path / "log.jsonl")
    assert Counter(e["status"] for e in log) == Counter({"accepted": 2, "dropped": 1})
    drop = next(e for e in log if e["status"] == "dropped")
    assert drop["sample"] == "activitynet-captions:v_notdownloaded" and drop["reason"].startswith(
        "video not found"
    )


def test_several_questions_per_video_are_distinct_records(tmp_path: Path) -> None:
    samples = load_source("activitynet-captions", DATA / "activitynet_captions.json")
    with FakeLLMServer(respond_valid) as server, _llm(server) as llm:
        builder = DatasetBuilder(llm, VIDEOS, workers=2, questions_per_video=3)
        with JsonlWriter(tmp_path / "r.jsonl") as out, JsonlWriter(tmp_path / "log.jsonl") as log:
            stats = builder.build(samples, out, log)
        prompts = [user_text(b) for b in server.requests]
    # The city clip has two moments: its third question can only repeat the first one (3 duplicates).
    assert stats.as_dict() == {
        "samples": 3,
        "written": 5,
        "dropped": {"llm_rejected": 1, "video_not_found": 1},
        "rejected_replies": 3,
        "duplicate_questions": 3,
        "llm_calls": 8,
    }
    records = read_records(tmp_path / "r.jsonl")
    anet = "activitynet-captions:v_"
    assert [r.id for r in records] == [
        f"{anet}bigbuckbunny#q1",
        f"{anet}bigbuckbunny#q2",
        f"{anet}bigbuckbunny#q3",
        f"{anet}cityCC0#q1",
        f"{anet}cityCC0#q2",
    ]
    bunny = records[:3]
    assert len({r.problem for r in records}) == 5
    # Each new question is grounded in moments the earlier ones did not use, while some are left.
    assert [(r.meta["question"], r.meta["question_moments"]) for r in bunny] == [
        (1, [0, 1]),
        (2, [2, 3]),
        (3, [0, 1]),
    ]
    assert (
        bunny[1].problem
        == "What happens right after this moment: he yawns with his mouth wide open while stretching?"
    )
    assert bunny[2].problem.startswith("What happens right before this moment: the rabbit stands up")
    assert all(r.source_id == "v_bigbuckbunny" and check_format(r.target).ok for r in bunny)
    second = next(p for p in prompts if "rabbit" in p and "Questions already written" in p)
    assert f"- {bunny[0].problem}" in second
    assert "which no earlier question used, where you can:\n00:03.0-00:04.2: He yawns" in second
    log = _read_log(tmp_path / "log.jsonl")
    city3 = [e for e in log if e["sample"] == f"{anet}cityCC0#q3"]
    assert [e["status"] for e in city3] == ["rejected", "rejected", "rejected", "dropped"]
    assert city3[0]["reason"].startswith("duplicate question: the same text as question 1 of this video")
    assert Counter(e["status"] for e in log if e["sample"].startswith(f"{anet}bigbuckbunny")) == Counter(
        {"accepted": 3}
    )
    with pytest.raises(ConfigError, match="questions_per_video must be at least 1"):
        DatasetBuilder(llm, VIDEOS, questions_per_video=0)


def test_duplicate_questions_are_rejected_whatever_the_case_and_spacing() -> None:
    first = parse_question_reply(GOOD, 5.28, SPANS)
    shouted = GOOD.replace(
        f"<question>{first.problem}</question>", f"<question>  {first.problem.upper()} </question>"
    )
    with pytest.raises(ReplyRejected, match="duplicate question: the same text as question 2"):
        parse_question_reply(shouted, 5.28, SPANS, ["What is first?", first.problem])
    assert parse_question_reply(GOOD, 5.28, SPANS, ["What comes last?"]).problem == first.problem


def test_malformed_replies_are_retried_then_dropped_and_logged(tmp_path: Path) -> None:
    calls: Counter[str] = Counter()

    def respond(body: dict[str, Any]) -> str:
        text = user_text(body)
        key = "bunny" if "rabbit" in text else "city"
        calls[key] += 1
        good = caption_writer(body)
        if key == "city":  # never usable: prose, then a wrong letter, then no grounding at all
            return [
                "Sure! Here is a question about the skyscrapers: what colour are the windows?",
                good.replace("<answer>B</answer>", "<answer>D</answer>"),
                good.replace("<time>", "").replace("</time>", ""),
            ][calls[key] - 1]
        if calls[key] == 1:
            return good.replace("</think>", "", 1)  # an unclosed think
        return good

    samples = load_source("activitynet-captions", DATA / "activitynet_captions.json")[:2]
    with FakeLLMServer(respond) as server, _llm(server) as llm:
        builder = DatasetBuilder(llm, VIDEOS, max_attempts=3)
        with JsonlWriter(tmp_path / "r.jsonl") as out, JsonlWriter(tmp_path / "log.jsonl") as log:
            stats = builder.build(samples, out, log)
    assert calls == Counter({"bunny": 2, "city": 3})
    assert stats.written == 1 and stats.rejected_replies == 4 and stats.dropped == {"llm_rejected": 1}
    (bunny,) = read_records(tmp_path / "r.jsonl")
    assert bunny.attempts == 2
    log = _read_log(tmp_path / "log.jsonl")
    city = [e for e in log if e["sample"] == "activitynet-captions:v_cityCC0"]
    assert [(e["status"], e.get("attempt")) for e in city] == [
        ("rejected", 1),
        ("rejected", 2),
        ("rejected", 3),
        ("dropped", None),
    ]
    assert "no <question>" in city[0]["reason"] and city[0]["reply"].startswith("Sure!")
    assert "ends with answer D, but the correct answer is B" in city[1]["reason"]
    assert "no <time> segment" in city[2]["reason"]
    assert city[3]["reason"] == "no valid reply in 3 attempts"
    bunny_rejected = next(
        e for e in log if e["sample"].endswith("v_bigbuckbunny") and e["status"] == "rejected"
    )
    assert "never closed" in bunny_rejected["reason"] or "must not nest" in bunny_rejected["reason"]


def test_qa_sources_filters_and_traces(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("bigbuckbunny.mp4", "cityCC0.mpg"):
        shutil.copy(VIDEOS / name, videos / name)
    vf.truncated(videos / "broken.mp4", VIDEOS / "bigbuckbunny.mp4", 0.02)
    vf.cfr_video(videos / "short.mp4", n=40)
    star = json.loads((DATA / "star.json").read_text())
    for vid in ("broken", "short"):
        star.append({**star[0], "question_id": f"Sequence_{vid}", "video_id": vid, "start": 0.0, "end": 1.0})
    (tmp_path / "star.json").write_text(json.dumps(star))
    samples = load_source("star", tmp_path / "star.json")
    with FakeLLMServer(respond_valid) as server, _llm(server) as llm:
        builder = DatasetBuilder(llm, videos, workers=3)
        with JsonlWriter(tmp_path / "r.jsonl") as out, JsonlWriter(tmp_path / "log.jsonl") as log:
            stats = builder.build(samples, out, log)
        prompts = [user_text(b) for b in server.requests]
    assert stats.written == 2 and stats.dropped == {"too_short": 1, "undecodable": 1}
    assert stats.llm_calls == 2  # filtered videos never reach the LLM
    assert not any("Sequence_broken" in p or "Sequence_short" in p for p in prompts)
    drops = {e["sample"]: e["reason"] for e in _read_log(tmp_path / "log.jsonl") if e["status"] == "dropped"}
    assert drops["star:Sequence_short"] == "too short: 40 decoded frames < 64"
    assert drops["star:Sequence_broken"].startswith("undecodable:")
    records = {r.id: r for r in read_records(tmp_path / "r.jsonl")}
    city = records["star:Interaction_T1_9"]
    assert city.answer == "B" and city.clip is not None and city.clip.start_s == 4.7
    assert "<time>00:04.7-00:07.6</time>" in city.trace
    prompt = next(p for p in prompts if "taller" in p)
    assert "Correct answer: B" in prompt and "The question is about the part 00:04.7-00:07.6" in prompt


def test_build_lvbench_with_descriptions_and_youcook2(tmp_path: Path) -> None:
    with FakeLLMServer(respond_valid) as server, _llm(server) as llm:
        builder = DatasetBuilder(llm, VIDEOS)
        for source, name in (("lvbench", "lvbench.jsonl"), ("youcook2", "youcook2.json")):
            samples = load_source(source, DATA / name, descriptions=DATA / "descriptions.json")
            with JsonlWriter(tmp_path / f"{source}.jsonl") as out, JsonlWriter(tmp_path / "log.jsonl") as log:
                stats = builder.build(samples, out, log)
            assert stats.written == len(samples), _read_log(tmp_path / "log.jsonl")
        lv_prompt = user_text(server.requests[0])
    lv = read_records(tmp_path / "lvbench.jsonl")
    assert [r.answer for r in lv] == ["B", "A"] and lv[0].meta["time_reference"] == "00:00-01:19"
    assert "white van parked in front" in lv_prompt and "The question concerns 00:00-01:19" in lv_prompt
    assert "times are MM:SS within 00:00-01:19" in lv_prompt
    (yc,) = read_records(tmp_path / "youcook2.jsonl")
    assert yc.source == "youcook2" and yc.decoded_frames == 795 and yc.meta["grounding_miou"] > 0


# -- the LLM client ---------------------------------------------------------------------------


def test_llm_client_errors_over_a_real_server() -> None:
    with FakeLLMServer(respond_valid, models=("a", "b")) as server:
        with (
            ChatLLM(LLMConfig(base_url=server.base_url, model="nope")) as llm,
            pytest.raises(BackendUnavailableError, match=r"does not serve the model 'nope'.*it serves: a, b"),
        ):
            llm.complete("s", "u")
        with (
            ChatLLM(LLMConfig(base_url=server.base_url)) as llm,
            pytest.raises(ConfigError, match="serves 2 models"),
        ):
            llm.complete("s", "u")
        port = int(server.base_url.split(":")[2].split("/")[0])
    with (
        ChatLLM(
            LLMConfig(base_url=f"http://127.0.0.1:{port}/v1", model="a", max_retries=1, backoff_s=0)
        ) as llm,
        pytest.raises(BackendUnavailableError, match="cannot reach the LLM server"),
    ):
        llm.complete("s", "u")


def test_llm_client_retries_transient_failures_and_reads_the_reply() -> None:
    seen: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(len(seen))
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "only"}]})
        if len(seen) < 4:
            return httpx.Response(503 if len(seen) % 2 else 429, json={"error": {"message": "busy"}})
        body = json.loads(request.content)
        assert body["model"] == "only" and body["seed"] == 7 and body["temperature"] == 0.0
        assert request.headers["authorization"] == "Bearer k"
        return httpx.Response(
            200, json={"choices": [{"message": {"content": "<answer>C</answer>"}, "finish_reason": "stop"}]}
        )

    config = LLMConfig(base_url="http://llm.invalid/v1", api_key="k", backoff_s=0.0, max_retries=3)
    with ChatLLM(config, transport=httpx.MockTransport(handler)) as llm:
        reply = llm.complete("s", "u", temperature=0.0, seed=7)
        assert (
            reply.text == "<answer>C</answer>"
            and reply.attempts == 3
            and llm.label == "only@http://llm.invalid/v1"
        )

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"message": "bad key"}})

    with (
        ChatLLM(
            LLMConfig(base_url="http://llm.invalid/v1", model="m"), transport=httpx.MockTransport(refuse)
        ) as llm,
        pytest.raises(BackendUnavailableError, match="refused the credentials"),
    ):
        llm.complete("s", "u")

    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, text="oops")

    config = LLMConfig(base_url="http://llm.invalid/v1", model="m", max_retries=1, backoff_s=0.0)
    with (
        ChatLLM(config, transport=httpx.MockTransport(broken)) as llm,
        pytest.raises(BackendError, match="failed \\(500\\)"),
    ):
        llm.complete("s", "u")
    with pytest.raises(ConfigError, match="http\\(s\\) URL"):
        LLMConfig(base_url="localhost:8000")


# -- the command line -------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vt-agent train")
    add_data_parsers(parser.add_subparsers(dest="action"))
    return parser


def test_build_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "yc.jsonl"
    with FakeLLMServer(respond_valid) as server:
        args = _parser().parse_args(
            [
                "build",
                "--source",
                "youcook2",
                "--data",
                str(DATA / "youcook2.json"),
                "--videos",
                str(VIDEOS),
                "--llm-base-url",
                server.base_url,
                "--llm-model",
                "fake-writer-72b",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        assert args.func(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["written"] == 1 and summary["log"] == str(tmp_path / "yc.build-log.jsonl")
    assert read_records(out)[0].source == "youcook2"
    assert _read_log(tmp_path / "yc.build-log.jsonl")[0]["status"] == "accepted"


def test_build_command_resumes_and_fails_fast_on_a_wrong_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "anet.jsonl"
    common = ["--source", "activitynet-captions", "--data", str(DATA / "activitynet_captions.json")]
    common += ["--videos", str(VIDEOS), "--out", str(out), "--quiet"]
    with FakeLLMServer(respond_valid) as server:
        wrong = _parser().parse_args(
            ["build", *common, "--llm-base-url", server.base_url, "--llm-model", "gpt-x"]
        )
        with pytest.raises(
            BackendUnavailableError, match=r"does not serve the model 'gpt-x'.*fake-writer-72b"
        ):
            wrong.func(wrong)
        assert server.requests == []  # refused before any video was probed or any prompt sent
        first = _parser().parse_args(["build", *common, "--llm-base-url", server.base_url, "--limit", "1"])
        assert first.func(first) == 0
        for f in (out, tmp_path / "anet.build-log.jsonl"):  # a run stopped mid-write
            with f.open("a") as fh:
                fh.write('{"id": "activitynet-captions:v_cityCC0", "vid')
        again = _parser().parse_args(["build", *common, "--llm-base-url", server.base_url, "--resume"])
        assert again.func(again) == 0
        assert len(server.requests) == 2  # the first sample was not asked again
    summaries = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(s["written"], s["skipped_done"]) for s in summaries] == [(1, 0), (1, 1)]
    assert [r.id for r in read_records(out)] == [
        "activitynet-captions:v_bigbuckbunny",
        "activitynet-captions:v_cityCC0",
    ]
    assert len(_read_log(tmp_path / "anet.build-log.jsonl")) == 3  # accepted, accepted, not found


def test_build_command_resumes_with_several_questions_per_video(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "anet.jsonl"
    common = ["build", "--source", "activitynet-captions", "--data", str(DATA / "activitynet_captions.json")]
    common += ["--videos", str(VIDEOS), "--out", str(out), "--quiet"]
    anet = "activitynet-captions:v_"
    with FakeLLMServer(respond_valid) as server:
        common += ["--llm-base-url", server.base_url]
        bad = _parser().parse_args([*common, "--questions-per-video", "0"])
        with pytest.raises(ConfigError, match="--questions-per-video must be at least 1, got 0"):
            bad.func(bad)
        first = _parser().parse_args([*common, "--limit", "1"])  # one question, the plain id
        assert first.func(first) == 0
        n3 = [*common, "--resume", "--questions-per-video", "3"]
        again = _parser().parse_args(n3)
        assert again.func(again) == 0
        # The bunny's plain record counts as its q1: q2 and q3 are asked, told about it.
        bunny_prompts = [user_text(b) for b in server.requests[1:] if "rabbit" in user_text(b)]
        assert len(bunny_prompts) == 2
        plain = read_records(out)[0]
        assert all(f"- {plain.problem}" in p for p in bunny_prompts)
        before = len(server.requests)
        third = _parser().parse_args(n3)
        assert third.func(third) == 0
        # Only the city's missing q3 is asked again (a duplicate again, 3 replies).
        assert len(server.requests) - before == 3
        assert all("skyscrapers" in user_text(b) for b in server.requests[before:])
    summaries = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(s["samples"], s["written"], s["skipped_done"], s["duplicate_questions"]) for s in summaries] == [
        (1, 1, 0, 0),
        (3, 4, 1, 3),
        (2, 0, 5, 3),  # the city q3 and the missing video are tried again
    ]
    ids = [r.id for r in read_records(out)]
    assert ids == [
        f"{anet}bigbuckbunny",
        f"{anet}bigbuckbunny#q2",
        f"{anet}bigbuckbunny#q3",
        f"{anet}cityCC0#q1",
        f"{anet}cityCC0#q2",
    ]
    problems = [r.problem for r in read_records(out)]
    assert len(set(problems)) == 5
