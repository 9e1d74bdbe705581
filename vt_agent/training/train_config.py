"""Typed training configuration (YAML), with the paper's defaults (docs/protocol.md, Training recipe).

A config file has a ``model``, a ``data`` and a ``train`` section and an ``output_dir``::

    kind: sft                      # or grpo
    output_dir: runs/tiny-sft      # relative paths are taken from the config file's folder
    model:
      name_or_path: tiny           # "tiny": build the tiny random checkpoint (vt_agent.tiny)
    data:
      train_file: tiny-train.jsonl # training records (vt_agent.training.schema)
      preset: video-thinker-16f    # or an inline preset {name, num_frames, min_pixels, max_pixels}
    train:
      max_steps: 4
      learning_rate: 1.0e-5

``train`` holds this project's fields (below) and ``trl_args``: any other ``SFTConfig`` /
``GRPOConfig`` field, passed through unchanged (``deepspeed``, ``fsdp``, ``gradient_checkpointing``...).
Defaults are the paper's: SFT 1 epoch, lr 1e-5, batch 16; GRPO beta 0.04, lr 5e-6, batch 8,
2,500 steps, max grad norm 5, rewards accuracy + format.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vt_agent.errors import ConfigError
from vt_agent.video.presets import DEFAULT_PRESET

__all__ = [
    "DataConfig",
    "GRPOSettings",
    "ModelConfig",
    "SFTSettings",
    "TrainConfig",
    "load_train_config",
]


RewardName = Literal["accuracy", "format", "grounding"]
PAPER_REWARDS: tuple[RewardName, ...] = ("accuracy", "format")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelConfig(_Strict):
    name_or_path: str = Field(
        default="Qwen/Qwen2.5-VL-7B-Instruct",
        description='hub id or local checkpoint; "tiny" builds the tiny random checkpoint (tests, demos)',
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    attn_implementation: str | None = Field(default=None, description="sdpa, eager, flash_attention_2...")
    freeze_vision: bool = Field(default=False, description="keep the vision tower's weights fixed")
    lora_r: int | None = Field(default=None, ge=1, description="train a LoRA adapter of this rank instead")
    lora_alpha: int = 32
    lora_target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])


class DataConfig(_Strict):
    train_file: Path = Field(description="JSONL training records (vt_agent.training.schema)")
    preset: str | dict[str, Any] = Field(
        default=DEFAULT_PRESET, description="sampling preset name, or an inline custom preset"
    )
    max_samples: int | None = Field(default=None, ge=1, description="use only the first N records")

    def resolved_preset(self) -> Any:
        from vt_agent.video import get_preset, make_preset

        return get_preset(self.preset) if isinstance(self.preset, str) else make_preset(**self.preset)


class _Common(_Strict):
    learning_rate: float = Field(gt=0)
    per_device_train_batch_size: int = Field(default=1, ge=1)
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    num_train_epochs: float = Field(default=1.0, gt=0)
    max_steps: int = Field(default=-1, description="-1: run num_train_epochs")
    max_grad_norm: float = 1.0
    warmup_steps: float = Field(
        default=0.0, ge=0, description="steps, or a fraction of all steps when below 1"
    )
    lr_scheduler_type: str = "cosine"
    weight_decay: float = 0.0
    logging_steps: int = Field(default=1, ge=1)
    save_steps: int | None = Field(default=None, ge=1, description="None: save only at the end")
    seed: int = 42
    bf16: bool | None = Field(
        default=None, description="None: bfloat16 on a GPU that has it, float32 elsewhere"
    )
    gradient_checkpointing: bool = False
    use_cpu: bool = Field(default=False, description="train on the CPU even when a GPU is present")
    trl_args: dict[str, Any] = Field(default_factory=dict, description="other SFTConfig/GRPOConfig fields")


class SFTSettings(_Common):
    """SFT: 1 epoch, lr 1e-5, batch 16 (= per-device batch x accumulation x GPUs)."""

    learning_rate: float = Field(default=1e-5, gt=0)
    gradient_accumulation_steps: int = Field(default=16, ge=1)
    max_length: int | None = Field(default=None, ge=2, description="cut the target so prompt+target fit")


class GRPOSettings(_Common):
    """GRPO: beta 0.04, lr 5e-6, batch 8, 2,500 steps, max grad norm 5, accuracy + format rewards."""

    learning_rate: float = Field(default=5e-6, gt=0)
    beta: float = Field(default=0.04, ge=0)
    per_device_train_batch_size: int = Field(default=8, ge=1)
    num_generations: int = Field(default=8, ge=2)
    max_steps: int = 2500
    max_grad_norm: float = 5.0
    max_completion_length: int = Field(default=1024, ge=1)
    temperature: float = Field(default=1.0, gt=0)
    rewards: list[RewardName] = Field(default_factory=lambda: list(PAPER_REWARDS))
    reward_weights: list[float] | None = None
    use_vllm: bool = False


class TrainConfig(_Strict):
    kind: Literal["sft", "grpo"]
    output_dir: Path
    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig
    train: dict[str, Any] = Field(default_factory=dict)

    def sft(self) -> SFTSettings:
        settings: SFTSettings = _settings(SFTSettings, self.train, "train")
        return settings

    def grpo(self) -> GRPOSettings:
        settings: GRPOSettings = _settings(GRPOSettings, self.train, "train")
        return settings


def _settings(cls: type[Any], data: dict[str, Any], where: str) -> Any:
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid '{where}' section: {_describe(exc)}") from exc


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(x) for x in e['loc'])}: {str(e['msg']).removeprefix('Value error, ')}"
        for e in exc.errors()
    )


def load_train_config(
    path: str | os.PathLike[str],
    *,
    kind: Literal["sft", "grpo"] | None = None,
    output_dir: str | os.PathLike[str] | None = None,
) -> TrainConfig:
    """Read and check a YAML config; relative paths are taken from its folder.

    ``kind`` (the command that runs it) must match the file's ``kind``; ``output_dir`` replaces
    the file's (relative to the current directory, like any command-line path).
    """
    from vt_agent._lazy import require

    yaml = require("yaml", "train", "Reading training configs")
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{p}: no such config file") from exc
    except (IsADirectoryError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not a YAML config file; see examples/configs/tiny-sft.yaml") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{p}: a training config is a YAML mapping with kind, output_dir, model, data, train"
        )
    if output_dir is not None:
        raw["output_dir"] = str(Path(output_dir).resolve())
    try:
        cfg = TrainConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{p}: {_describe(exc)}") from exc
    if kind is not None and cfg.kind != kind:
        raise ConfigError(f"{p} is a '{cfg.kind}' config; run it with `vt-agent train {cfg.kind}`")
    base = p.resolve().parent
    cfg.output_dir = cfg.output_dir if cfg.output_dir.is_absolute() else base / cfg.output_dir
    if not cfg.data.train_file.is_absolute():
        cfg.data.train_file = base / cfg.data.train_file
    if cfg.model.name_or_path.startswith(("./", "../")):
        cfg.model.name_or_path = str(base / cfg.model.name_or_path)
    cfg.sft() if cfg.kind == "sft" else cfg.grpo()  # check the train section now
    return cfg
