"""Continuing an assistant reply: the scripted backend, the OpenAI body, the prefix's tokens."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from vt_agent.backends._tokens import prefix_ids
from vt_agent.backends.base import GenerationRequest
from vt_agent.backends.fake_backend import FakeBackend, continuation
from vt_agent.backends.fake_traces import SCRIPTS
from vt_agent.backends.openai_backend import OpenAIBackend
from vt_agent.errors import ConfigError
from vt_agent.prompts import build_messages

TEXT_ONLY = [{"role": "user", "content": "What happens?"}]
TRACE = (
    "<time>00:00-00:05</time><caption>a rabbit</caption><think>It is a rabbit.</think>\n\n"
    "<time>00:05-00:09</time><caption>it yawns</caption><think>He wakes up.</think>\n\n"
    "<answer>B</answer>"
)


def _stream(backend: FakeBackend, prefix: str) -> str:
    async def go() -> str:
        req = GenerationRequest(messages=build_messages("q?"), videos=[], assistant_prefix=prefix)
        return "".join([d.text async for d in backend.stream(req)])

    return asyncio.run(go())


def test_exact_prefix_streams_the_rest() -> None:
    first = TRACE.index("</think>") + len("</think>")
    for cut in (0, 5, first, first + 1, len(TRACE)):
        assert _stream(FakeBackend(TRACE), TRACE[:cut]) == TRACE[cut:]


def test_every_bundled_script_continues_to_its_own_text() -> None:
    for name, script in SCRIPTS.items():
        text = script.text
        steps = [i + len("</think>") for i in range(len(text)) if text.startswith("</think>", i)]
        for end in steps:
            assert text[:end] + continuation(text, text[:end]) == text, name


def test_edited_prefix_continues_after_the_same_number_of_steps() -> None:
    edited = "<time>00:00-00:04</time><caption>a big grey rabbit</caption><think>Rabbit.</think>\n\n"
    rest = _stream(FakeBackend(TRACE), edited)
    assert rest == TRACE[TRACE.index("<time>00:05") :]
    assert _stream(FakeBackend(TRACE), edited.rstrip()) == "\n\n" + rest


def test_callable_script_still_returns_the_whole_trace() -> None:
    seen: list[str] = []

    def script(request: GenerationRequest) -> str:
        seen.append(request.assistant_prefix)
        return TRACE

    prefix = TRACE[: TRACE.index("<time>00:05")]
    assert _stream(FakeBackend(script), prefix) == TRACE[len(prefix) :]
    assert seen == [prefix]


def test_openai_body_continues_the_final_message() -> None:
    backend = OpenAIBackend(base_url="http://127.0.0.1:9/v1", model="m")
    req = GenerationRequest(messages=TEXT_ONLY, videos=[], assistant_prefix="<time>00:00")
    body = backend.payload(req, "m")
    assert body["messages"][-1] == {"role": "assistant", "content": "<time>00:00"}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    plain = backend.payload(GenerationRequest(messages=TEXT_ONLY, videos=[]), "m")
    assert plain["messages"][-1]["role"] == "user" and "continue_final_message" not in plain


class _Tok:
    """Character-level tokenizer: enough to tell the generated ids from a re-tokenization."""

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [ord(c) for c in text]

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        return "".join(chr(i) for i in ids)


def test_prefix_ids_keep_the_generated_tokens_while_they_match() -> None:
    tok: Any = _Tok()
    assert prefix_ids(tok, "", None).tolist() == []
    assert prefix_ids(tok, "ab", (97, 98)).tolist() == [97, 98]
    assert prefix_ids(tok, "ab", None).tolist() == [97, 98]
    # ids that no longer decode to the text (an edited trace) are dropped for the text's own tokens
    assert prefix_ids(tok, "ax", (97, 98)).tolist() == [97, 120]
    assert prefix_ids(tok, "ab", (97, 98)).dtype == np.int64


@pytest.mark.parametrize("marker", ["<|video_pad|>", "<|im_end|>", "<|vision_start|>"])
def test_prefix_with_control_tokens_is_refused(marker: str) -> None:
    with pytest.raises(ConfigError, match="control token"):
        prefix_ids(_Tok(), f"<caption>{marker}</caption>", None)  # type: ignore[arg-type]
