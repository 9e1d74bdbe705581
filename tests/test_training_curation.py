"""Hindsight curation: the judge sees only <time>/<caption>; keep, regenerate (up to 3), drop; the log.

The judge and the trace writer are a real local HTTP server (tests/training_fake_llm.py): the
judge answers with the option sharing most words with the notes it gets, the writer writes a
trace from the facts in its prompt (or, for chosen questions, a generic or malformed one).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from training_fake_llm import FakeLLMServer, overlap_judge, qa_trace, user_text

from vt_agent.backends.fake_backend import FakeBackend
from vt_agent.commands.train_data import add_data_parsers
from vt_agent.errors import ConfigError
from vt_agent.training.builders import TraceWriter
from vt_agent.training.curation import BackendJudge, Curator, LLMJudge, evidence_lines, judge_prompt
from vt_agent.training.llm import ChatLLM, LLMConfig
from vt_agent.training.schema import JsonlWriter, TrainRecord, read_records, write_records

VIDEOS = Path(__file__).parent / "data" / "videos"


def _record(
    rid: str, video: str, problem: str, options: list[str], answer: str, groups: str, **kw: Any
) -> TrainRecord:
    return TrainRecord(
        id=rid,
        video=str(VIDEOS / video),
        problem=problem,
        options=options,
        solution=f"<answer>{answer}</answer>",
        trace=f"Let me look.\n{groups}\nSo the answer follows from what is seen.",
        source="custom",
        **kw,
    )


def _group(span: str, caption: str, think: str = "This matters for the question.") -> str:
    return f"<time>{span}</time><caption>{caption}</caption><think>{think}</think>"


def records() -> list[TrainRecord]:
    keep = _record(
        "keep",
        "bigbuckbunny.mp4",
        "What does the rabbit do in the middle of the clip?",
        [
            "A. Eats a flower",
            "B. Stretches his arms and yawns",
            "C. Jumps into a river",
            "D. Waves at a bird",
        ],
        "B",
        _group("00:00.0-00:01.6", "A grey rabbit climbs out of a burrow.")
        + "\nNext...\n"
        + _group(
            "00:01.6-00:04.2",
            "The rabbit stretches his arms wide and yawns.",
            "SECRET-THINK: he never eats a flower or jumps into a river.",
        ),
        duration_s=5.28,
    )
    regen = _record(
        "regen",
        "cityCC0.mpg",
        "What colour dominates the lit windows in the first shot?",
        ["A. Purple windows", "B. Green and teal windows", "C. Orange windows", "D. Red windows"],
        "B",
        _group("00:00.0-00:04.6", "Tall buildings stand in the night."),
        duration_s=7.6,
        spans=[{"start_s": 0.0, "end_s": 4.64, "caption": "the office windows glow green and teal"}],
    )
    drop = _record(
        "drop",
        "vtest.avi",
        "What vehicle is parked in front of the brick building?",
        ["A. A red bus", "B. A white van", "C. A black motorbike", "D. A green tractor"],
        "B",
        _group("00:00-00:20", "A campus is seen from above."),
        duration_s=79.5,
    )
    malformed = _record(
        "malformed",
        "bigbuckbunny.mp4",
        "Where does the character come from at the start?",
        [
            "A. He falls from a tree",
            "B. He climbs out of a burrow",
            "C. He walks in from the right",
            "D. A bed",
        ],
        "B",
        _group("00:00.0-00:01.6", "Grass and trees are seen."),
        duration_s=5.28,
    )
    return [keep, regen, drop, malformed]


def respond(body: dict[str, Any]) -> str:
    text = user_text(body)
    if "These notes say what is seen" in text:
        return overlap_judge(body)
    assert "Correct answer:" in text, text
    if "What vehicle" in text:
        return qa_trace(body, generic=True)
    if "come from at the start" in text:
        return "I'm sorry, I can't describe this video without seeing it."
    return qa_trace(body)


def _split(server: FakeLLMServer) -> tuple[list[str], list[str]]:
    texts = [user_text(b) for b in server.requests]
    judge = [t for t in texts if "These notes say" in t]
    writer = [t for t in texts if "Correct answer:" in t]
    return judge, writer


def test_judge_sees_only_times_and_captions() -> None:
    keep = records()[0]
    assert evidence_lines(keep) == [
        "00:00.0-00:01.6: A grey rabbit climbs out of a burrow.",
        "00:01.6-00:04.2: The rabbit stretches his arms wide and yawns.",
    ]
    prompt = judge_prompt(keep)
    assert prompt is not None
    assert "SECRET-THINK" not in prompt and "Let me look" not in prompt and "answer follows" not in prompt
    assert "<think>" not in prompt and "<answer>B" not in prompt
    assert prompt.rstrip().endswith("written as <answer>X</answer>.")
    assert "B. Stretches his arms and yawns" in prompt


def test_curation_keeps_regenerates_and_drops(tmp_path: Path) -> None:
    with FakeLLMServer(respond) as server:
        llm = ChatLLM(LLMConfig(base_url=server.base_url, backoff_s=0.0))
        curator = Curator(LLMJudge(llm), TraceWriter(llm, max_attempts=1), max_regenerations=3, workers=2)
        with (
            JsonlWriter(tmp_path / "kept.jsonl") as out,
            JsonlWriter(tmp_path / "log.jsonl") as log,
            JsonlWriter(tmp_path / "dropped.jsonl") as dropped,
        ):
            stats = curator.curate(records(), out, log, dropped=dropped)
        judge_prompts, writer_prompts = _split(server)
        judge_bodies = [b for b in server.requests if "These notes say" in user_text(b)]
    kept = {r.id: r for r in read_records(tmp_path / "kept.jsonl")}
    assert sorted(kept) == ["keep", "regen"]
    assert [r.id for r in read_records(tmp_path / "dropped.jsonl")] == ["drop", "malformed"]
    assert kept["keep"].curation is not None and kept["keep"].curation.model_dump() == {
        "status": "kept",
        "attempts": 1,
        "regenerations": 0,
        "answer_given": "B",
        "judge": f"fake-writer-72b@{server.base_url}",
    }
    assert kept["keep"].trace == records()[0].trace  # kept as written
    regen = kept["regen"]
    assert regen.curation is not None and (regen.curation.attempts, regen.curation.regenerations) == (2, 1)
    assert "the office windows glow green and teal" in regen.trace and "Tall buildings" not in regen.trace
    assert stats.as_dict() == {
        "records": 4,
        "kept": 2,
        "kept_after_regeneration": 1,
        "dropped": 2,
        "judge_calls": 1 + 2 + 4 + 1,
        "regenerations": 0 + 1 + 3 + 3,
        "kept_at_attempt": {1: 1, 2: 1},
    }
    # keep 1 + regen 2 + drop 4 (original + 3 rewrites) + malformed 1 (its rewrites never validate)
    assert len(judge_prompts) == 8
    assert len(writer_prompts) == 1 + 3 + 3
    # Regeneration prompts tell the writer why, and never show the judge's text.
    assert all("not specific enough" in p for p in writer_prompts)
    # The judge is asked greedily, and never gets a video or a think.
    assert all(b["temperature"] == 0.0 for b in judge_bodies)
    assert not any("SECRET-THINK" in p or "<think>" in p for p in judge_prompts)

    log = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    by = {rid: [e for e in log if e["sample"] == rid] for rid in ("keep", "regen", "drop", "malformed")}
    assert [(e["attempt"], e["decision"], e["answer_given"]) for e in by["keep"]] == [(1, "kept", "B")]
    assert [(e["attempt"], e["decision"], e["answer_given"]) for e in by["regen"]] == [
        (1, "regenerate", "A"),
        (2, "kept", "B"),
    ]
    assert by["regen"][0]["reason"] == "the captions alone give A, not B"
    drop = by["drop"]
    assert [(e["attempt"], e["decision"]) for e in drop] == [
        (1, "regenerate"),
        (2, "regenerate"),
        (3, "regenerate"),
        (4, "dropped"),
    ]
    assert drop[-1]["reason"] == "the captions alone give A, not B; still wrong after 3 regeneration(s)"
    assert all(e["expected"] == "B" and e["judge_reply"] == "<answer>A</answer>" for e in drop)
    bad = by["malformed"]
    assert Counter(e["decision"] for e in bad) == Counter(
        {"regenerate": 3, "rejected_trace": 3, "dropped": 1}
    )
    assert [e["regeneration"] for e in bad if e["decision"] == "rejected_trace"] == [1, 2, 3]
    assert all("no <trace>" in e["reason"] for e in bad if e["decision"] == "rejected_trace")
    assert bad[-1] == {
        "sample": "malformed",
        "attempt": 1,
        "regeneration": 3,
        "decision": "dropped",
        "reason": "the trace writer gave no valid trace",
        "regenerations": 3,
    }


def test_without_a_writer_a_wrong_answer_drops_at_once() -> None:
    with FakeLLMServer(respond) as server:
        llm = ChatLLM(LLMConfig(base_url=server.base_url, backoff_s=0.0))
        curator = Curator(LLMJudge(llm), None)
        kept, log = curator.curate_one(records()[1])
        assert len(server.requests) == 1
    assert kept is None
    assert [(e["decision"], e["reason"]) for e in log] == [
        ("dropped", "the captions alone give A, not B; no regeneration allowed")
    ]


def test_backend_judge_gets_text_only() -> None:
    backend = FakeBackend(script="Looking at the notes, the answer is <answer>B</answer>")
    curator = Curator(BackendJudge(backend), None)
    keep, regen_rec = records()[0], records()[1].model_copy(update={"solution": "<answer>A</answer>"})
    kept, _ = curator.curate_one(keep)
    dropped, log = curator.curate_one(regen_rec)
    assert kept is not None and kept.curation is not None and kept.curation.judge == "fake:scripted-fake"
    assert dropped is None and log[0]["answer_given"] == "B"
    request = backend.requests[0]
    assert list(request.videos) == []
    texts = [c["text"] for m in request.messages for c in m["content"]]
    assert all(c.get("type") == "text" for m in request.messages for c in m["content"])
    assert "00:01.6-00:04.2: The rabbit stretches his arms wide and yawns." in texts[-1]


def test_curator_rejects_bad_settings() -> None:
    judge = BackendJudge(FakeBackend(script="<answer>A</answer>"))
    with pytest.raises(ConfigError, match="max_regenerations"):
        Curator(judge, None, max_regenerations=-1)
    with pytest.raises(ConfigError, match="workers"):
        Curator(judge, None, workers=0)


def test_curate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "records.jsonl"
    write_records(src, records())
    parser = argparse.ArgumentParser(prog="vt-agent train")
    add_data_parsers(parser.add_subparsers(dest="action"))
    with FakeLLMServer(respond) as server:
        args = parser.parse_args(
            [
                "curate",
                str(src),
                "--llm-base-url",
                server.base_url,
                "--out",
                str(tmp_path / "kept.jsonl"),
                "--max-attempts",
                "1",
                "--quiet",
            ]
        )
        assert args.func(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["kept"], summary["dropped"]) == (2, 2)
    assert summary["log"] == str(tmp_path / "kept.decisions.jsonl")
    assert [r.id for r in read_records(tmp_path / "kept.jsonl")] == ["keep", "regen"]
    lines = (tmp_path / "kept.decisions.jsonl").read_text().splitlines()
    assert sum(json.loads(x)["decision"] == "kept" for x in lines) == 2

    no_writer = parser.parse_args(["curate", str(src), "--out", str(tmp_path / "k2.jsonl")])
    with pytest.raises(ConfigError, match="give --llm-base-url"):
        no_writer.func(no_writer)
