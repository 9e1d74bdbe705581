"""vt_agent.multi without LangGraph: reading options, planning, the rules, the chat reply, answer_videos."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from vt_agent.backends.base import GenerationRequest
from vt_agent.backends.fake_backend import FakeBackend
from vt_agent.backends.fake_traces import question_from_messages
from vt_agent.errors import ConfigError
from vt_agent.multi import VideoEvidence, VideoFailure, answer_videos, plan_question
from vt_agent.multi.chat import as_chat, read_reply
from vt_agent.multi.plan import yes_no_question
from vt_agent.multi.refs import ALL, number_in, option_names_videos, video_refs
from vt_agent.reasoner import VideoReasoner

PATHS = ["/v/cityCC0.mpg", "/v/vtest.avi", "/v/bigbuckbunny.mp4"]


@pytest.mark.parametrize(
    ("text", "refs"),
    [
        ("Video 2", [1]),
        ("Videos 1 and 3", [0, 2]),
        ("the second clip", [1]),
        ("vtest.avi", [1]),
        ("bigbuckbunny", [2]),
        ("None of them", []),
        ("Neither", []),
        ("Both", [ALL]),
        ("Video 3, then Video 1", [2, 0]),
        ("2 -> 1 -> 3", [1, 0, 2]),
        ("Video 7", None),  # no such video
        ("A grey rabbit", None),
        ("Night", None),
    ],
)
def test_video_refs(text: str, refs: list[int] | None) -> None:
    assert video_refs(text, PATHS) == refs


def test_options_naming_videos_and_numbers() -> None:
    assert option_names_videos(["Video 1", "Video 2", "None of them"], PATHS)
    assert not option_names_videos(["None", "All"], PATHS)
    assert not option_names_videos(["Day", "Night"], PATHS)
    assert [number_in(t, 3) for t in ["2", "two", "None", "All three", "about 12 people", "unclear"]] == [
        2, 2, 0, 3, 12, None
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("rest", "question"),
    [
        ("shows a parked white van?", "Does this video show a parked white van?"),
        ("is a parked white van visible", "Is a parked white van visible in this video?"),
        ("does a rabbit appear", "Does a rabbit appear in this video?"),
        ("do people walk on the lawn", "Do people walk on the lawn in this video?"),
        ("were filmed at night", "Was this video filmed at night?"),
        ("has a hard cut", "Does this video have a hard cut?"),
        ("contains people", "Does this video contain people?"),
    ],
)
def test_yes_no_question(rest: str, question: str) -> None:
    assert yes_no_question(rest) == question


def test_plan_modes() -> None:
    q = "What do the videos have in common?"
    assert plan_question(q, [], PATHS).mode == "joint"  # no chat model, three videos fit
    assert plan_question(q, [], PATHS, has_chat=True).mode == "per_video"
    assert plan_question(q, [], PATHS * 2).mode == "per_video"  # six do not fit one prompt
    assert plan_question(q, [], PATHS, mode="per_video").mode == "per_video"
    assert plan_question(q, [], PATHS, mode="auto").mode == "joint"
    assert plan_question("Which video shows a van?", [], PATHS).mode == "per_video"
    with pytest.raises(ConfigError, match="joint mode takes at most 4"):
        plan_question(q, [], PATHS * 2, mode="joint")
    with pytest.raises(ConfigError, match="mode must be"):
        plan_question(q, [], PATHS, mode="both")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="question"):
        plan_question("  ", [], PATHS)


def test_read_reply() -> None:
    options = ["A. Video 1", "B. Video 2"]
    assert read_reply("Video 2 is busier.\nAnswer: B", options, 2) == ("B", {1})
    assert read_reply("**Answer:** (A) Video 1", options, 2) == ("A", {0})
    assert read_reply("Answer: E", options, 2) == (None, set())
    assert read_reply("They share grass.\nAnswer: grass", [], 2) == ("grass", set())
    with pytest.raises(ConfigError, match="chat_model must be"):
        as_chat(42)


def script(request: GenerationRequest) -> str:
    stem = Path(request.videos[0].record.path).stem
    question = question_from_messages(request.messages)
    assert "Video 1" not in question, "a single video was given options naming videos"
    yes = "rabbit" in question and stem == "bigbuckbunny"
    return f"<time>00:01-00:02</time><caption>{stem}.</caption><think>-</think>\n<answer>{'A' if yes else 'B'}</answer>"


def test_answer_videos_without_langgraph(videos_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video" * 40)
    videos = [str(videos_dir / "cityCC0.mpg"), str(bad), str(videos_dir / "bigbuckbunny.mp4")]
    progress: list[tuple[int, int, Any]] = []
    out = asyncio.run(
        answer_videos(
            VideoReasoner(FakeBackend(script)),
            videos,
            "Which clip shows a rabbit?",
            ["Video 1", "Video 2", "Video 3", "None of them"],
            on_progress=lambda done, total, got: progress.append((done, total, got)),
        )
    )
    assert out.answer == "C" and out.partial and out.plan.kind == "selection"
    assert [f.path for f in out.errors] == [str(bad)]
    assert sorted(d for d, _, _ in progress) == [1, 2, 3] and {t for _, t, _ in progress} == {3}
    assert {type(g) for _, _, g in progress} == {VideoEvidence, VideoFailure}
    assert [c.video for c in out.citations] == [2]
    none = asyncio.run(
        answer_videos(VideoReasoner(FakeBackend(script)), videos[:1], "Which clip shows a van?")
    )
    assert none.answer == "None of them" and not none.partial


def test_chat_function_synthesis(videos_dir: Path) -> None:
    seen: list[list[tuple[str, str]]] = []

    async def chat(messages: list[tuple[str, str]]) -> str:
        seen.append(messages)
        return "Both show outdoor scenes.\nAnswer: outdoor scenes (Video 1 and Video 2)"

    def describe(request: GenerationRequest) -> str:
        stem = Path(request.videos[0].record.path).stem
        return f"<time>00:00-00:02</time><caption>{stem} scene.</caption><think>-</think>\n<answer>{stem} scene</answer>"

    videos = [str(videos_dir / "cityCC0.mpg"), str(videos_dir / "bigbuckbunny.mp4")]
    out = asyncio.run(
        answer_videos(
            VideoReasoner(FakeBackend(describe)),
            videos,
            "What do the videos have in common?",
            chat_model=chat,
        )
    )
    assert out.synthesis == "chat" and out.answer == "outdoor scenes (Video 1 and Video 2)"
    assert (
        "Video 2 (bigbuckbunny.mp4) asked" in seen[0][1][1]
        and "00:00-00:02: bigbuckbunny scene." in seen[0][1][1]
    )
    assert {c.video for c in out.citations} == {0, 1}


def test_chat_through_the_openai_compatible_server(videos_dir: Path) -> None:
    """``chat_model`` as OpenAI-server options: a text-only chat-completions request, no video."""
    import json

    import httpx

    from vt_agent.backends.openai_backend import OpenAIBackend

    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        chunks = [
            {"choices": [{"index": 0, "delta": {"content": "Video 2 is longer.\n"}, "finish_reason": None}]},
            {"choices": [{"index": 0, "delta": {"content": "Answer: B"}, "finish_reason": "stop"}]},
        ]
        text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        return httpx.Response(200, content=text.encode(), headers={"content-type": "text/event-stream"})

    server = OpenAIBackend(
        "some-chat-model", base_url="http://chat.test/v1", transport=httpx.MockTransport(handler)
    )

    def describe(request: GenerationRequest) -> str:
        return "<time>00:00-00:02</time><caption>Seen.</caption><think>-</think>\n<answer>bright</answer>"

    videos = [str(videos_dir / "cityCC0.mpg"), str(videos_dir / "bigbuckbunny.mp4")]
    out = asyncio.run(
        answer_videos(
            VideoReasoner(FakeBackend(describe)),
            videos,
            "Which video is brighter?",
            ["Video 1", "Video 2"],
            chat_model=server,
        )
    )
    assert out.plan.kind == "comparison" and out.synthesis == "chat" and out.answer == "B"
    (body,) = bodies
    assert body["model"] == "some-chat-model" and "media_io_kwargs" not in body
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "Options:\nA. Video 1\nB. Video 2" in body["messages"][1]["content"]
    assert {c.video for c in out.citations} == {1}


def test_no_clear_yes_or_no_decides_nothing(videos_dir: Path) -> None:
    backend = FakeBackend(
        "<time>00:00-00:01</time><caption>?</caption><think>-</think>\n<answer>maybe</answer>"
    )
    videos = [str(videos_dir / "cityCC0.mpg"), str(videos_dir / "bigbuckbunny.mp4")]
    out = asyncio.run(
        answer_videos(
            VideoReasoner(backend), videos, "Which video shows a van?", ["Video 1", "Video 2", "None of them"]
        )
    )
    assert out.answer is None and out.partial and out.synthesis == "none"
    assert out.answer_text == "no video gave a clear yes or no"
    assert [e.used for e in out.per_video] == ["unclear yes/no: not counted"] * 2


@pytest.mark.parametrize(
    ("question", "options", "kind", "sub"),
    [
        ("Is there a rabbit in any of the videos?", [], "selection", "Is there a rabbit in this video?"),
        ("Which one shows a tripod?", ["cityCC0", "vtest", "None"], "selection", "Does this video show a tripod?"),
        ("What happens in each video?", [], "per_video", "What happens in this video?"),
        ("Which of the two clips is longer?", [], "comparison", None),
        ("Which clip has the most people walking?", [], "comparison",
         "How many people walking can be seen in this video? Answer with a number."),
        ("Do the videos show the same place?", ["Yes", "No"], "synthesis", None),
        ("Order the clips by when a person first appears", [], "ordering",
         'Does the following happen in this video: "a person appears"? If so, when?'),
    ],
)  # fmt: skip
def test_plan_phrasings(question: str, options: list[str], kind: str, sub: str | None) -> None:
    plan = plan_question(question, options, PATHS)
    assert plan.kind == kind
    if sub is not None:
        assert plan.sub.question == sub
