"""scripts/gpu_check.sh: the 7B-shaped config, and its CPU path end to end (--cpu --tiny)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
needs_engines = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("torch", "transformers", "accelerate", "av")),
    reason="needs torch, transformers, accelerate and PyAV",
)


def gpu_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "scripts" / "gpu_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shipped_config_is_qwen25_vl_7b() -> None:
    cfg = json.loads((ROOT / "tests" / "data" / "qwen2_5_vl_7b_config.json").read_text())
    assert (cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]) == (3584, 18944, 28)
    assert (cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["vocab_size"]) == (28, 4, 152064)
    vision = cfg["vision_config"]
    assert (vision["depth"], vision["hidden_size"], vision["out_hidden_size"]) == (32, 1280, 3584)
    assert cfg["rope_scaling"]["mrope_section"] == [16, 24, 24]


@needs_engines
def test_shaped_config_keeps_the_shapes_and_uses_the_tiny_token_ids(tmp_path: Path) -> None:
    import transformers as tf

    from vt_agent.checkpoints import estimate_parameters
    from vt_agent.tiny import build_tiny_checkpoint

    tiny = build_tiny_checkpoint(tmp_path / "tiny")
    cfg = gpu_check().shaped_config(tiny)
    tok = tf.AutoTokenizer.from_pretrained(tiny)
    assert cfg["video_token_id"] == tok.convert_tokens_to_ids("<|video_pad|>")
    assert cfg["eos_token_id"] == tok.convert_tokens_to_ids("<|im_end|>")
    config = tf.Qwen2_5_VLConfig(**cfg)
    assert config.get_text_config().vocab_size == 152064
    assert 8.2e9 < estimate_parameters(config) < 8.4e9  # Qwen2.5-VL-7B has 8.29 B parameters


@pytest.mark.slow
@needs_engines
def test_the_builder_makes_a_loadable_bf16_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 7B builder on a shrunk copy of the config (same code path, CPU instead of CUDA)."""
    import asyncio

    from vt_agent.backends.base import GenerationRequest
    from vt_agent.backends.transformers_backend import TransformersBackend
    from vt_agent.prompts import build_messages, build_question
    from vt_agent.video import sample

    module = gpu_check()
    cfg = json.loads(module.CONFIG_7B.read_text())
    cfg.update(
        hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=2, vocab_size=4096
    )
    cfg["num_key_value_heads"] = 1
    cfg["rope_scaling"]["mrope_section"] = [8, 12, 12]
    cfg["vision_config"].update(
        depth=2, hidden_size=64, intermediate_size=128, num_heads=2, out_hidden_size=128
    )
    cfg["vision_config"]["fullatt_block_indexes"] = [1]
    small = tmp_path / "config.json"
    small.write_text(json.dumps(cfg))
    monkeypatch.setattr(module, "CONFIG_7B", small)
    ckpt = module.build_7b_shaped(tmp_path / "shaped", "cpu")
    saved = json.loads((ckpt / "config.json").read_text())
    assert saved.get("dtype", saved.get("torch_dtype")) == "bfloat16"
    backend = TransformersBackend(ckpt, device="cpu", dtype="bfloat16")
    video = sample(ROOT / "tests" / "data" / "videos" / "bigbuckbunny.mp4", cache=False)
    q = build_question("What happens?", ["A", "B"])
    request = GenerationRequest(build_messages(q), [video], max_tokens=3, temperature=0.0)

    async def run() -> list[str]:
        try:
            return [d.text async for d in backend.stream(request)]
        finally:
            await backend.close()

    asyncio.run(run())
    stats = backend.last_stats
    assert stats is not None and stats.video_tokens == 960 and 1 <= stats.generated_tokens <= 3


@pytest.mark.slow
@needs_engines
def test_cpu_tiny_mode_runs_the_whole_check(tmp_path: Path) -> None:
    out = tmp_path / "check.json"
    env = {**os.environ, "PYTHON": sys.executable, "VT_GPU_SITE": str(tmp_path / "site")}
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--cpu", "--tiny", "--requests", "2",
         "--max-tokens", "4", "--batches", "1", "2", "--json", str(out)],
        capture_output=True, text=True, env=env, timeout=540, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "tok/s" in proc.stdout and "prep share" in proc.stdout
    assert "batch 2: preparing ahead vs in path:" in proc.stdout
    result = json.loads(out.read_text())
    assert result["device"] == "none (CPU)"
    rows = {(r["overlap"], r["batch"]): r for r in result["rows"]}
    assert set(rows) == {(False, 1), (False, 2), (True, 1), (True, 2)}
    for row in rows.values():
        assert row["requests"] == 2 and 2 <= row["tokens"] <= 8
        assert row["prepare_share"] > 0 and row["requests_per_min"] > 0 and row["peak_gpu_gib"] is None
    assert rows[(False, 2)]["mean_batch"] == 2.0  # the wave of two ran as one batch


def test_missing_wheels_are_named(tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text('#!/bin/sh\ncase "$2" in *torch*) exit 0;; *) exit 1;; esac\n')
    fake.chmod(0o755)
    env = {**os.environ, "PYTHON": str(fake), "VT_GPU_WHEELS": str(tmp_path / "none")}
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_check.sh")], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 2
    assert "lacks av pydantic" in proc.stderr and "fetch_gpu_wheels.sh" in proc.stderr
