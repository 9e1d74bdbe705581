"""One CLI grammar (issue 17): positional questions, -q is --quiet, examples in every --help, --version,
missing extras named with the pip command, errors that name the flag."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from vt_agent.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    out = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                out += _parsers(sub)
    return out


def _mcp_parser() -> argparse.ArgumentParser:
    from mcp_server.cli import build_parser as mcp_parser

    return mcp_parser()


ALL = [*_parsers(build_parser()), _mcp_parser()]


@pytest.mark.parametrize("parser", ALL, ids=[p.prog for p in ALL])
def test_every_help_ends_with_examples(parser: argparse.ArgumentParser) -> None:
    text = parser.format_help().rstrip()
    last_block = text.split("\n\n")[-1]
    assert last_block.startswith("examples:\n"), f"{parser.prog} --help does not end with examples"
    assert any(line.strip().startswith(parser.prog) for line in last_block.splitlines()[1:]), last_block


@pytest.mark.parametrize("parser", ALL, ids=[p.prog for p in ALL])
def test_q_means_quiet_and_o_only_option(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if "-q" in action.option_strings:
            assert action.dest == "quiet", parser.prog
        if "-o" in action.option_strings:
            assert parser.prog == "vt-agent reason" and action.dest == "options"


@pytest.mark.parametrize("module", ["vt_agent.cli", "mcp_server"])
def test_version(module: str) -> None:
    from vt_agent import __version__

    out = subprocess.run(
        [sys.executable, "-m", module, "--version"], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0 and out.stdout.strip() == __version__


def test_triage_query_is_positional_and_flag_is_deprecated(capsys: pytest.CaptureFixture[str]) -> None:
    from vt_agent.commands.triage import rewrite_deprecated

    parser = build_parser()
    args = parser.parse_args(["triage", "v.mp4", "-q", "--window", "30", "someone runs"])
    assert (args.video, args.query, args.quiet, args.window) == ("v.mp4", "someone runs", True, 30.0)
    argv = rewrite_deprecated(["triage", "v.mp4", "--query", "-dash first", "--resume"])
    assert "deprecated" in capsys.readouterr().err
    args = parser.parse_args(argv)
    assert (args.query, args.resume) == ("-dash first", True)
    assert rewrite_deprecated(["triage", "v.mp4", "--query=x"])[-2:] == ["--", "x"]
    with pytest.raises(SystemExit):
        parser.parse_args(["triage", "v.mp4"])  # no query: argparse names QUERY


def test_deprecated_query_still_runs(vtest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vt_agent.video import cache_info

    limit = cache_info()["limit_bytes"]
    argv = ["triage", str(vtest), "--query", "a person walks", "--window", "80", "--backend", "fake", "-q"]
    assert main(argv) == 0
    assert cache_info()["limit_bytes"] == limit  # the command turns the frame cache off only while it runs
    captured = capsys.readouterr()
    assert "--query is deprecated" in captured.err and "query: a person walks" in captured.out


def test_inspect_lists_presets_without_a_video(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "--list-presets"]) == 0
    assert "video-thinker-16f" in capsys.readouterr().out
    assert main(["inspect"]) == 2
    assert "give the VIDEO" in capsys.readouterr().err


def test_one_option_is_refused(bbb: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reason", str(bbb), "q", "-o", "A dog", "--backend", "fake"]) == 2
    err = capsys.readouterr().err
    assert "given once" in err and "at least two options" in err


def test_ignored_flags_are_warned(bbb: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "thumbs"
    argv = ["reason", str(bbb), "q", "--backend", "fake", "--device", "cuda", "--dtype", "float16", "-q"]
    assert main([*argv, "--save-thumbnails", str(out)]) == 0
    err = capsys.readouterr().err
    assert "--device is ignored by the fake backend" in err and "--dtype is ignored" in err
    written = sorted(p.name for p in out.iterdir())
    assert written and f"--save-thumbnails: wrote {len(written)} JPEG(s) to {out}: " in err
    assert all(name in err for name in written)


def test_ignored_env_setting_is_named_by_its_variable(
    bbb: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VT_AGENT_DEVICE", "cuda")
    assert main(["reason", str(bbb), "q", "--backend", "fake", "-q"]) == 0
    assert "VT_AGENT_DEVICE is ignored by the fake backend" in capsys.readouterr().err


def test_max_tokens_and_device_errors_name_the_flag(bbb: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["reason", str(bbb), "q", "--max-tokens", "0"])
    err = capsys.readouterr().err
    assert "argument --max-tokens: must be at least 1" in err and "ReasonerConfig" not in err
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    assert main(["reason", str(bbb), "q", "--backend", "transformers", "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "--device cuda: torch sees no CUDA GPU" in err and "device='cpu'" not in err


def test_env_max_tokens_is_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from vt_agent.commands.backend_args import reasoner_settings
    from vt_agent.errors import ConfigError

    args = build_parser().parse_args(["reason", "v.mp4", "q"])
    assert reasoner_settings(args, {"VT_AGENT_MAX_TOKENS": "77", "VT_AGENT_PRESET": "video-thinker-32f"}) == (
        "video-thinker-32f",
        77,
    )
    with pytest.raises(ConfigError, match="VT_AGENT_MAX_TOKENS"):
        reasoner_settings(args, {"VT_AGENT_MAX_TOKENS": "0"})
    with pytest.raises(ConfigError, match="VT_AGENT_MAX_TOKENS='many'"):
        reasoner_settings(args, {"VT_AGENT_MAX_TOKENS": "many"})
    with pytest.raises(ConfigError, match="VT_AGENT_PRESET"):
        reasoner_settings(args, {"VT_AGENT_PRESET": "nope"})
    args = build_parser().parse_args(["reason", "v.mp4", "q", "--max-tokens", "5"])
    assert reasoner_settings(args, {"VT_AGENT_MAX_TOKENS": "77"})[1] == 5  # the flag wins


MISSING_MCP = """
import sys
sys.modules["mcp"] = None  # as if the mcp extra were not installed
from mcp_server.__main__ import main
raise SystemExit(main())
"""


def test_mcp_without_its_extra_names_the_pip_command(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", MISSING_MCP, "--allow", str(tmp_path), "--backend", "fake"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert "pip install 'vt-agent[mcp]'" in out.stderr and "Traceback" not in out.stderr


def test_ignored_settings_per_backend() -> None:
    from vt_agent.config import BackendConfig, ignored_settings

    config = BackendConfig(backend="auto", base_url="http://h/v1", device="cuda", dtype="float16", model="m")
    assert sorted(ignored_settings(config, "openai")) == ["device", "dtype"]
    assert sorted(ignored_settings(config, "fake")) == ["base_url", "device", "dtype", "model"]
    assert ignored_settings(BackendConfig(device="cpu", dtype="float32"), "transformers") == []


def test_detach_values_keeps_the_word_in_place_and_moves_the_flag() -> None:
    from vt_agent.commands.optional_value import detach_values

    def is_file(word: str) -> bool:
        return word.endswith(".sqlite")

    flags = ["--resume", "--ray", "--html"]
    assert detach_values(["v", "--resume", "q", "--html", "r.html"], "--resume", is_file, flags) == (
        ["v", "q", "--html", "r.html", "--resume"],
        ["q"],
    )
    assert detach_values(["--re", "v", "q", "--", "-x"], "--resume", is_file, flags) == (
        ["v", "q", "--resume", "--", "-x"],  # before --: what follows -- stays positional
        ["v"],
    )
    unchanged = [
        ["v", "q", "--resume", "r.sqlite"],  # a FILE
        ["v", "--resume", "--json", "q"],  # no value
        ["v", "--resume=q"],  # = always gives the value
        ["v", "--r", "q"],  # --r could be --ray: argparse refuses it, not us
        ["v", "--", "--resume", "q"],  # after --, words are positionals
    ]
    for argv in unchanged:
        assert detach_values(argv, "--resume", is_file, flags) == (argv, []), argv
