"""The backend flags shared by reason, triage and eval run: one parser, one resolution."""

from __future__ import annotations

import argparse

import pytest

from vt_agent.commands.backend_args import add_backend_arguments, backend_from_args
from vt_agent.config import parse_backend_options
from vt_agent.errors import ConfigError


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_backend_arguments(parser)
    return parser.parse_args(list(argv))


def test_options_are_json_when_they_parse() -> None:
    assert parse_backend_options(["max_model_len=32768", "name=abc", "flags={\"a\": 1}"]) == {
        "max_model_len": 32768,
        "name": "abc",
        "flags": {"a": 1},
    }
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_backend_options(["novalue"])


def test_flags_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VT_AGENT_BACKEND", "openai")
    monkeypatch.setenv("VT_AGENT_BASE_URL", "http://127.0.0.1:9/v1")
    backend, notices = backend_from_args(parse("--backend", "fake"))
    assert type(backend).__name__ == "FakeBackend" and any("SCRIPTED" in n for n in notices)


def test_environment_chooses_when_no_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VT_AGENT_BACKEND", "fake")
    backend, _ = backend_from_args(parse())
    assert type(backend).__name__ == "FakeBackend"


@pytest.mark.parametrize("command", ["reason", "triage", "eval"])
def test_every_model_command_takes_the_same_flags(command: str) -> None:
    from vt_agent.cli import build_parser

    parser = build_parser()
    argv = {"reason": ["v.mp4", "q"], "triage": ["v.mp4", "q"],
            "eval": ["run", "jsonl", "--data", "d", "--videos", "v", "--out", "o"]}[command]  # fmt: skip
    args = parser.parse_args([command, *argv, "--backend", "fake", "--base-url", "http://h/v1",
                              "--backend-option", "k=1", "--force-cpu-7b"])  # fmt: skip
    assert (args.backend, args.base_url, args.backend_option, args.force_cpu_7b) == (
        "fake", "http://h/v1", ["k=1"], True,
    )  # fmt: skip
