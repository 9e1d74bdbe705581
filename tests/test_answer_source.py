"""Noise never looks like an answer: every Result says where its answer came from and whether the
letter was read by the fallback rules, and the terminal summary says it next to the answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vt_agent.backends.fake_backend import FakeBackend
from vt_agent.console import summary
from vt_agent.reasoner import VideoReasoner
from vt_agent.result import Result, answer_source, has_random_weights
from vt_agent.tiny import MARKER, TINY_VERSION

ROOT = Path(__file__).resolve().parent.parent
BBB = ROOT / "tests" / "data" / "videos" / "bigbuckbunny.mp4"
OPTIONS = ["Eats a flower", "Stretches his arms and yawns", "Jumps into a river", "Waves at a bird"]
QUESTION = "What does the character do in the middle of the clip?"


def _random_checkpoint(tmp_path: Path) -> Path:
    """A directory carrying the tiny checkpoint's marker (all the detection reads)."""
    out = tmp_path / "tiny"
    out.mkdir()
    (out / MARKER).write_text(json.dumps({"version": TINY_VERSION, "seed": 0}), encoding="utf-8")
    return out


class _Unscripted(FakeBackend):
    """A backend that is not scripted (as a real engine), streaming a fixed text."""

    name = "transformers"
    scripted = False


def test_scripted_answer_says_so() -> None:
    result = VideoReasoner(FakeBackend("bbb-middle")).reason(BBB, QUESTION, OPTIONS)
    assert result.source == "scripted" and result.scripted and not result.answer_fallback
    assert any(note.startswith("scripted:") for note in result.provenance())
    assert json.loads(result.model_dump_json())["source"] == "scripted"
    assert "(scripted: a hand-written trace picked it)" in summary(result)


def test_random_weight_answer_says_random_weights(tmp_path: Path) -> None:
    model = _random_checkpoint(tmp_path)
    backend = _Unscripted("bbb-middle", model=str(model))
    result = VideoReasoner(backend).reason(BBB, QUESTION, OPTIONS)
    assert result.source == "random weights" and not result.scripted
    assert "random weights" in result.provenance()[0]
    text = summary(result)
    answer_line = next(line for line in text.splitlines() if line.startswith("Answer:"))
    assert "B. Stretches his arms and yawns" in answer_line
    assert "a random-weight model picked it" in answer_line
    assert "random weights" in text.splitlines()[0]


def test_real_model_has_no_notes(tmp_path: Path) -> None:
    result = VideoReasoner(_Unscripted("bbb-middle", model=str(tmp_path))).reason(BBB, QUESTION, OPTIONS)
    assert result.source == "model" and result.provenance() == []
    assert "picked it" not in summary(result)


def test_fallback_letter_is_flagged() -> None:
    result = VideoReasoner(FakeBackend("no-tags")).reason(BBB, QUESTION, OPTIONS)
    assert result.answer is not None and result.answer_text is None
    assert result.answer_fallback
    assert any("fallback rules" in note for note in result.provenance())
    assert any("fallback rules" in w and "PROTOCOL" not in w for w in result.warnings)
    tagged = VideoReasoner(FakeBackend("bbb-middle")).reason(BBB, QUESTION, OPTIONS)
    assert not tagged.answer_fallback


@pytest.mark.parametrize(
    ("model", "scripted", "expected"),
    [
        ("", True, "scripted"),
        ("Qwen/Qwen2.5-VL-7B-Instruct", False, "model"),
        ("/no/such/dir", False, "model"),
    ],
)
def test_answer_source(model: str, scripted: bool, expected: str) -> None:
    assert answer_source(model, scripted=scripted) == expected


def test_detection_reads_the_tiny_marker(tmp_path: Path) -> None:
    assert has_random_weights(str(_random_checkpoint(tmp_path)))
    assert not has_random_weights(str(tmp_path))


def test_old_json_without_the_fields_still_loads() -> None:
    result = VideoReasoner(FakeBackend("bbb-middle")).reason(BBB, QUESTION, OPTIONS)
    data = json.loads(result.model_dump_json())
    del data["source"], data["answer_fallback"]
    again = Result.model_validate(data)
    assert again.source == "scripted"  # scripted: true still marks it


def test_agent_view_carries_the_source(tmp_path: Path) -> None:
    from vt_agent.runs import agent_result, summary_text

    model = _random_checkpoint(tmp_path)
    noise = VideoReasoner(_Unscripted("no-tags", model=str(model))).reason(BBB, QUESTION, OPTIONS)
    text = summary_text(noise)
    assert "random weights: a random-weight model picked this answer" in text
    assert "fallback rules" in text
    view = agent_result(noise)
    assert view["source"] == "random weights" and view["answer_fallback"] is True
    as_json = json.loads(noise.model_dump_json())
    assert agent_result(as_json)["source"] == "random weights" and summary_text(as_json) == text
    scripted = VideoReasoner(FakeBackend("bbb-middle")).reason(BBB, QUESTION, OPTIONS)
    assert agent_result(scripted)["source"] == "scripted" and not agent_result(scripted)["answer_fallback"]
    old = {k: v for k, v in json.loads(scripted.model_dump_json()).items() if k != "source"}
    assert agent_result(old)["source"] == "scripted"


def test_triage_report_and_page_say_random_weights_and_fallback(tmp_path: Path) -> None:
    import asyncio

    from vt_agent.commands.triage import _summary
    from vt_agent.report import render_triage_html
    from vt_agent.triage import triage

    model = _random_checkpoint(tmp_path)
    reasoner = VideoReasoner(_Unscripted("no-tags", model=str(model)))
    report = asyncio.run(triage(reasoner, str(BBB), "the rabbit yawns", window_s=3.0, overlap_s=1.0))
    assert report["source"] == "random weights" and not report["scripted"]
    assert all(w["source"] == "random weights" and w["finish_reason"] == "stop" for w in report["windows"])
    text = _summary(report)
    assert "(random weights: a random-weight model gave these answers" in text
    # the script has no <answer> tag and ends "Final answer: B": every window's letter is a fallback
    assert all(w["answer_fallback"] and w["answer"] == "B" for w in report["windows"])
    assert "their letter was read by the fallback rules" in text
    page = render_triage_html(report, thumbnails=False)
    assert '<div class="banner noise" id="source-banner"><b>Random weights:</b>' in page
