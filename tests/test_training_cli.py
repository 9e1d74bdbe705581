"""``vt-agent train``: parsers, configs (paper defaults, --output-dir), and the tiny example configs end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vt_agent.cli import build_parser, main
from vt_agent.errors import ConfigError
from vt_agent.training.train_config import load_train_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "examples" / "configs"


def test_train_subcommands_are_registered(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    out = capsys.readouterr().out
    for step in ("sft", "grpo", "build", "curate"):
        assert step in out
    args = build_parser().parse_args(["train", "grpo", "--config", "x.yaml", "--output-dir", "o"])
    assert args.kind == "grpo" and args.config == Path("x.yaml") and args.output_dir == Path("o")


def test_paper_configs_carry_the_published_settings() -> None:
    sft = load_train_config(CONFIGS / "video-thinker-sft.yaml", kind="sft").sft()
    assert sft.learning_rate == 1e-5 and sft.num_train_epochs == 1
    assert sft.per_device_train_batch_size * sft.gradient_accumulation_steps * 8 == 16
    cfg = load_train_config(CONFIGS / "video-thinker-grpo.yaml", kind="grpo")
    grpo = cfg.grpo()
    assert (grpo.beta, grpo.learning_rate, grpo.max_steps, grpo.max_grad_norm) == (0.04, 5e-6, 2500, 5.0)
    assert grpo.per_device_train_batch_size == 8 and grpo.rewards == ["accuracy", "format"]
    assert cfg.data.resolved_preset().name == "video-thinker-16f"
    # the defaults alone are the paper's too
    from vt_agent.training.train_config import GRPOSettings, SFTSettings

    assert (GRPOSettings().beta, GRPOSettings().learning_rate, GRPOSettings().max_steps) == (0.04, 5e-6, 2500)
    assert (SFTSettings().learning_rate, SFTSettings().gradient_accumulation_steps) == (1e-5, 16)


def test_config_paths_output_dir_override_and_errors(tmp_path: Path) -> None:
    cfg = load_train_config(CONFIGS / "tiny-sft.yaml")
    assert cfg.data.train_file == CONFIGS / "tiny-train.jsonl"
    assert cfg.output_dir == (CONFIGS / "../../runs/tiny-sft")
    over = load_train_config(CONFIGS / "tiny-sft.yaml", output_dir=tmp_path / "o")
    assert over.output_dir == tmp_path / "o"
    with pytest.raises(ConfigError, match="vt-agent train sft"):
        load_train_config(CONFIGS / "tiny-sft.yaml", kind="grpo")
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: sft\noutput_dir: o\ndata: {train_file: x.jsonl}\ntrain: {learning_rat: 1}\n")
    with pytest.raises(ConfigError, match="learning_rat"):
        load_train_config(bad)
    with pytest.raises(ConfigError, match="no such config"):
        load_train_config(tmp_path / "missing.yaml")


def test_cli_reports_config_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "grpo", "--config", str(CONFIGS / "tiny-sft.yaml")]) == 2
    assert "vt-agent train sft" in capsys.readouterr().err


def test_folders_and_binary_files_are_named_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = tmp_path / "clip.mp4"
    binary.write_bytes(b"\x00\x86\xff" * 50)
    assert main(["train", "sft", "--config", str(binary)]) == 2
    assert "vt-agent train sft: error:" in capsys.readouterr().err  # the step is named
    assert main(["train", "sft", "--config", str(tmp_path)]) == 2
    assert "not a YAML config file" in capsys.readouterr().err
    data = ["train", "build", "--source", "activitynet-captions", "--videos", str(tmp_path)]
    llm = ["--llm-base-url", "http://127.0.0.1:9/v1", "--llm-model", "m"]
    assert main([*data, "--data", str(tmp_path), *llm, "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "is a folder; --data takes" in capsys.readouterr().err
    assert main([*data, "--data", str(binary), *llm, "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "not a text (JSON or JSONL) file" in capsys.readouterr().err
    assert main([*data, "--data", str(binary), *llm, "--out", str(tmp_path)]) == 2
    assert "--out:" in capsys.readouterr().err
    assert (
        main(["train", "curate", str(binary), "--no-regenerate", *llm, "--out", str(tmp_path / "k.jsonl")])
        == 2
    )
    assert "not a text file" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sft", "grpo"])
def test_tiny_example_config_runs_on_cpu_and_saves_safetensors(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("trl")
    out = tmp_path / kind
    assert (
        main(
            [
                "train",
                kind,
                "--config",
                str(CONFIGS / f"tiny-{kind}.yaml"),
                "--output-dir",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["checkpoint"] == str(out / "final") and summary["steps"] >= 1
    assert (out / "final" / "model.safetensors").is_file()
    assert (out / "final" / "tokenizer.json").is_file()
    saved = json.loads((out / "train_summary.json").read_text())
    assert saved["kind"] == kind
    if kind == "grpo":
        logged = saved["log_history"][0]
        assert (
            "kl" in logged
            and "rewards/accuracy_reward/mean" in logged
            and "rewards/format_reward/mean" in logged
        )
    else:
        assert all(loss == loss for loss in summary["losses"])  # finite, not NaN
