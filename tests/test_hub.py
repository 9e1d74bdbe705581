"""Fail fast on a hub model that cannot be fetched (offline or unreachable hub), with the `hf download` command."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from vt_agent.hub import hub_problem, looks_like_hub_id

constants = pytest.importorskip("huggingface_hub.constants")
MODEL = "vt-agent-test/definitely-not-cached"


def test_local_paths_and_non_ids_are_not_checked(tmp_path: Path) -> None:
    assert hub_problem(str(tmp_path)) is None
    assert not looks_like_hub_id(str(tmp_path)) and not looks_like_hub_id("just-a-name")
    assert looks_like_hub_id("ShijianW01/Video-Thinker-7B")


def test_offline_is_refused_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    problem = hub_problem(MODEL)
    assert problem is not None and "HF_HUB_OFFLINE is set" in problem
    assert f"hf download {MODEL} --local-dir DIR" in problem and "huggingface-cli" not in problem


def test_unreachable_hub_is_refused_in_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    start = time.monotonic()
    problem = hub_problem(MODEL, timeout_s=2)
    assert time.monotonic() - start < 5
    assert (
        problem is not None and "127.0.0.1 cannot be reached" in problem and f"hf download {MODEL}" in problem
    )


def test_cli_names_the_flag_and_the_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], bbb: Path
) -> None:
    from vt_agent.cli import main

    pytest.importorskip("torch")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    argv = ["reason", str(bbb), "q", "--backend", "transformers", "--model", MODEL, "--force-cpu-7b", "-q"]
    start = time.monotonic()
    assert main(argv) == 2
    assert time.monotonic() - start < 10  # no retries (they took about 25 s)
    err = capsys.readouterr().err
    assert f"--model: model {MODEL} is not in the local Hugging Face cache" in err and "hf download" in err


def test_library_backend_fails_fast_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """`TransformersBackend(hub id)` used from Python, not the CLI, is refused at once too."""
    pytest.importorskip("transformers")
    from vt_agent.backends.transformers_backend import TransformersBackend
    from vt_agent.errors import BackendUnavailableError

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    start = time.monotonic()
    with pytest.raises(BackendUnavailableError, match="HF_HUB_OFFLINE is set") as info:
        TransformersBackend(MODEL, device="cpu", force_cpu=True).load_sync()
    assert time.monotonic() - start < 10 and "hf download" in str(info.value)
