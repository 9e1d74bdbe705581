"""``vt-agent serve --dry-run``: the vLLM server command and the client settings (no vLLM needed)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from vt_agent.cli import main


def _dry(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[list[str], str]:
    assert main(["serve", "--dry-run", *argv]) == 0
    out, err = capsys.readouterr()
    return shlex.split(out.strip()), err


def _flag(cmd: list[str], name: str) -> str:
    return cmd[cmd.index(name) + 1]


def test_dry_run_with_python(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cmd, err = _dry(
        capsys,
        "--python",
        "/opt/venv/bin/python",
        "--model",
        "/models/vt7b",
        "--port",
        "8123",
        "--served-model-name",
        "vt",
        "--max-videos",
        "2",
        "--allowed-media",
        str(tmp_path),
        "--",
        "--tensor-parallel-size",
        "2",
        "--data-parallel-size",
        "4",
    )
    assert cmd[:5] == [
        "/opt/venv/bin/python",
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        "/models/vt7b",
    ]
    assert _flag(cmd, "--host") == "127.0.0.1" and _flag(cmd, "--port") == "8123"
    assert _flag(cmd, "--served-model-name") == "vt"
    assert _flag(cmd, "--max-model-len") == "64000"
    assert json.loads(_flag(cmd, "--limit-mm-per-prompt")) == {"video": 2, "image": 0}
    assert "--trust-request-mm-kwargs" in cmd and _flag(cmd, "--generation-config") == "vllm"
    assert "--enable-prefix-caching" in cmd and "--enable-prompt-tokens-details" in cmd
    assert _flag(cmd, "--allowed-local-media-path") == str(tmp_path.resolve())
    assert cmd[-4:] == ["--tensor-parallel-size", "2", "--data-parallel-size", "4"]
    assert "VT_AGENT_BACKEND=openai VT_AGENT_BASE_URL=http://127.0.0.1:8123/v1 VT_AGENT_MODEL=vt" in err


def test_max_model_len_capped_to_a_local_model(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"text_config": {"max_position_embeddings": 32768}}))
    cmd, _ = _dry(capsys, "--python", "py", "--model", str(tmp_path))
    assert _flag(cmd, "--max-model-len") == "32768"
    cmd, _ = _dry(capsys, "--python", "py", "--model", str(tmp_path), "--max-model-len", "4096")
    assert _flag(cmd, "--max-model-len") == "4096"


def test_default_launcher_without_vllm_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    cmd, _ = _dry(capsys)
    assert cmd[:3] == [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
    assert _flag(cmd, "--model") == "ShijianW01/Video-Thinker-7B"


def test_vllm_cli_when_it_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "vllm"
    fake.write_text("#!/bin/sh\necho 0.32.0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    cmd, _ = _dry(capsys, "--host", "0.0.0.0")
    assert cmd[:3] == ["vllm", "serve", "ShijianW01/Video-Thinker-7B"]
    assert _flag(cmd, "--host") == "0.0.0.0"
    out = capsys.readouterr()
    assert out.out == ""


def test_bad_arguments(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["serve", "--dry-run", "--python", "py", "--port", "0"]) == 2
    assert "--port" in capsys.readouterr().err
    assert main(["serve", "--dry-run", "--python", "py", "--allowed-media", str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_missing_python_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vt_agent.cli", "serve", "--python", str(tmp_path / "no-python")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "setup_vllm.sh" in done.stderr and "--python" in done.stderr
    assert "VT_AGENT_BASE_URL=http://127.0.0.1:8000/v1" in done.stderr


def test_missing_vllm_or_model_folder_is_named_before_starting(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    import vt_agent.commands.serve as serve

    monkeypatch.setattr(serve, "_vllm_cli_works", lambda: False)
    assert main(["serve", "--model", str(tmp_path / "absent")]) == 2
    assert "no such folder" in capsys.readouterr().err
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real_find_spec(name, *a)
    )
    assert main(["serve", "--model", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "vLLM is not installed" in err and "--python" in err


def test_vllm_flag_without_separator_gets_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--dry-run", "--tensor-parallel-size", "2"])
    assert "vLLM's own flags go after --" in capsys.readouterr().err
