"""Backend/model settings: environment precedence and the ``auto`` decision table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from vt_agent.backends import backend_from_config, backend_names, load_backend
from vt_agent.config import (
    DEFAULT_MODEL,
    FAKE_NOTICE,
    TINY_NOTICE,
    BackendConfig,
    ReasonerConfig,
    make_config,
    merge_settings,
    resolve_backend,
    settings_from_env,
)
from vt_agent.errors import BackendUnavailableError, ConfigError

TINY = Path("/cache/tiny")


def probes(gpu: bool, vllm: bool, calls: list[str] | None = None) -> dict[str, Any]:
    log = calls if calls is not None else []

    def has_gpu() -> bool:
        log.append("gpu")
        return gpu

    def vllm_installed() -> bool:
        log.append("vllm")
        return vllm

    def tiny_dir() -> Path:
        log.append("tiny")
        return TINY

    return {
        "has_gpu": has_gpu,
        "vllm_installed": vllm_installed,
        "tiny_dir": tiny_dir,
        "is_tiny": lambda model: model == str(TINY),
    }


# (config, gpu, vllm) -> (backend, model option, notice expected)
TABLE = [
    ({}, False, False, "transformers", str(TINY), TINY_NOTICE),
    ({}, False, True, "transformers", str(TINY), TINY_NOTICE),
    ({}, True, True, "vllm", DEFAULT_MODEL, None),
    ({}, True, False, "transformers", DEFAULT_MODEL, None),
    ({"model": "/m/vt7b"}, True, True, "vllm", "/m/vt7b", None),
    ({"model": "/m/vt7b"}, True, False, "transformers", "/m/vt7b", None),
    ({"base_url": "http://h:8000/v1"}, True, True, "openai", None, None),
    ({"base_url": "http://h:8000/v1"}, False, False, "openai", None, None),
    ({"base_url": "http://h:8000/v1", "model": "vt"}, False, False, "openai", "vt", None),
    ({"device": "mps"}, False, True, "transformers", DEFAULT_MODEL, None),
    ({"device": "cuda"}, False, True, "vllm", DEFAULT_MODEL, None),
    ({"device": "cpu", "model": str(TINY)}, True, True, "transformers", str(TINY), None),
    ({"backend": "fake"}, True, True, "fake", None, FAKE_NOTICE),
    ({"backend": "vllm"}, False, False, "vllm", DEFAULT_MODEL, None),
    ({"backend": "openai"}, False, False, "openai", None, None),
    ({"backend": "transformers"}, True, True, "transformers", DEFAULT_MODEL, None),
    ({"backend": "transformers", "model": str(TINY)}, False, False, "transformers", str(TINY), None),
]


@pytest.mark.parametrize(("values", "gpu", "vllm", "name", "model", "notice"), TABLE)
def test_decision_table(
    values: dict[str, Any], gpu: bool, vllm: bool, name: str, model: str | None, notice: str | None
) -> None:
    resolved = resolve_backend(BackendConfig(**values), **probes(gpu, vllm))
    assert resolved.name == name
    assert resolved.options.get("model") == model
    assert resolved.notices == ([notice] if notice else [])


def test_tiny_notice_is_loud_and_says_how_to_get_real_answers() -> None:
    resolved = resolve_backend(BackendConfig(), **probes(False, False))
    text = resolved.notices[0]
    assert "NOISE" in text and "--backend openai --base-url" in text and "--backend fake" in text
    assert resolved.options["device"] == "cpu"


@pytest.mark.parametrize(
    "values",
    [
        {"model": "someone/Video-Thinker-7B"},
        {"backend": "transformers"},
        {"backend": "transformers", "device": "cpu"},
    ],
)
def test_7b_on_cpu_is_refused_unless_forced(values: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="16 GB") as info:
        resolve_backend(BackendConfig(**values), **probes(False, False))
    assert "--force-cpu-7b" in str(info.value)
    forced = resolve_backend(BackendConfig(**values, force_cpu_7b=True), **probes(False, False))
    assert forced.name == "transformers" and forced.options["force_cpu"] is True
    assert "CPU" in forced.notices[0]


def test_missing_local_model_folder_is_named_not_refused_as_7b(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-checkpoint")
    with pytest.raises(ConfigError, match="no such folder") as info:
        resolve_backend(BackendConfig(model=missing), **probes(False, False))
    assert missing in str(info.value) and "16 GB" not in str(info.value)


def test_gpu_probe_is_lazy() -> None:
    calls: list[str] = []
    resolve_backend(BackendConfig(base_url="http://h/v1"), **probes(True, True, calls))
    resolve_backend(BackendConfig(backend="fake"), **probes(True, True, calls))
    resolve_backend(BackendConfig(backend="vllm"), **probes(True, True, calls))
    assert calls == []


def test_engine_settings_reach_the_backend_options() -> None:
    cfg = BackendConfig(
        backend="transformers",
        model="/m",
        device="cuda",
        dtype="bfloat16",
        attn_implementation="sdpa",
        max_context=32000,
        options={"local_files_only": True},
    )
    opts = resolve_backend(cfg, **probes(True, False)).options
    assert opts == {
        "model": "/m",
        "device": "cuda",
        "dtype": "bfloat16",
        "attn_implementation": "sdpa",
        "max_context": 32000,
        "local_files_only": True,
    }
    vllm = resolve_backend(cfg.model_copy(update={"backend": "vllm"}), **probes(True, True)).options
    assert vllm["max_model_len"] == 32000 and vllm["dtype"] == "bfloat16"
    oa = resolve_backend(BackendConfig(base_url="https://x/v1", api_key="k"), **probes(False, False)).options
    assert oa == {"model": None, "base_url": "https://x/v1", "api_key": "k"}


def test_env_settings_and_precedence() -> None:
    env = {
        "VT_AGENT_BACKEND": "openai",
        "VT_AGENT_MODEL": "served",
        "VT_AGENT_BASE_URL": "http://h:1/v1",
        "VT_AGENT_API_KEY": "secret",
        "HOME": "/x",
        "VT_AGENT_OTHER": "y",
    }
    assert settings_from_env(env) == {
        "backend": "openai",
        "model": "served",
        "base_url": "http://h:1/v1",
        "api_key": "secret",
    }
    assert settings_from_env({"VT_AGENT_MODEL": "  "}) == {}
    merged = merge_settings({"backend": "fake", "model": None}, env)
    assert merged.backend == "fake" and merged.model == "served" and merged.base_url == "http://h:1/v1"
    assert merge_settings({}, {}) == BackendConfig()


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="VT_AGENT_BACKEND='gpt'"):
        settings_from_env({"VT_AGENT_BACKEND": "gpt"})
    with pytest.raises(ConfigError, match="backend"):
        merge_settings({"backend": "nope"}, {})
    with pytest.raises(ConfigError, match="max_tokens"):
        make_config(ReasonerConfig, max_tokens=0)
    with pytest.raises(ConfigError, match="thumbnails"):
        make_config(ReasonerConfig, thumbnails=-1)
    with pytest.raises(ConfigError, match="colour"):
        make_config(BackendConfig, colour="red")


def test_registry() -> None:
    assert backend_names() == ["fake", "transformers", "vllm", "openai"]
    with pytest.raises(ConfigError, match="fake, transformers, vllm, openai"):
        load_backend("gpt4")
    with pytest.raises(ConfigError, match="bad option for the fake backend"):
        load_backend("fake", no_such_option=1)
    fake = load_backend("fake", chunk_chars=4)
    assert fake.name == "fake" and fake.scripted
    backend, notices = backend_from_config(BackendConfig(backend="fake"))
    assert backend.scripted and notices == [FAKE_NOTICE]


def test_missing_backend_module_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import vt_agent.backends as registry

    monkeypatch.setitem(registry.BACKENDS, "vllm", ("vt_agent.backends.no_such_module", "X", "vllm"))
    with pytest.raises(BackendUnavailableError, match=r"vt-agent\[vllm\]") as info:
        load_backend("vllm")
    assert info.value.extra == "vllm"


def test_reasoning_modules_import_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, vt_agent.reasoner, vt_agent.config, vt_agent.backends, vt_agent.console, vt_agent.evidence\n"
        "import vt_agent.commands.reason\n"
        "print(','.join(m for m in ('torch', 'transformers', 'vllm', 'av', 'httpx') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _write_config(path: Path, text: dict[str, Any]) -> Path:
    import json

    path.mkdir()
    vision = {"hidden_size": 64, "intermediate_size": 128, "depth": 2, "out_hidden_size": 64}
    (path / "config.json").write_text(json.dumps({"text_config": text, "vision_config": vision}))
    return path


def test_small_local_checkpoint_runs_on_cpu_7b_sized_is_refused(tmp_path: Path) -> None:
    from vt_agent.config import _is_tiny

    small = {"hidden_size": 256, "num_hidden_layers": 4, "intermediate_size": 512,
             "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 32000}  # fmt: skip
    big = {"hidden_size": 3584, "num_hidden_layers": 28, "intermediate_size": 18944,
           "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064}  # fmt: skip
    small_dir = _write_config(tmp_path / "small", small)
    big_dir = _write_config(tmp_path / "big", big)
    assert _is_tiny(str(small_dir))
    assert not _is_tiny(str(big_dir))
    assert not _is_tiny(str(tmp_path / "absent"))
    cpu = {**probes(gpu=False, vllm=False), "is_tiny": _is_tiny}
    assert resolve_backend(BackendConfig(model=str(small_dir)), **cpu).name == "transformers"
    with pytest.raises(ConfigError, match="refusing to run"):
        resolve_backend(BackendConfig(model=str(big_dir)), **cpu)
