"""Supervised fine-tuning of Qwen2.5-VL on video (``vt-agent train sft --config FILE``).

Target: ``trace + "\\n" + "<answer>X</answer>"`` then ``<|im_end|>``; the loss covers only those
assistant tokens. Inputs: the exact Video-Thinker prompt and the record's video sampled with the
config's preset (16 frames, 128*28*28 pixels by default), built by
:class:`~vt_agent.training.collate.VideoSFTCollator`; the trainer is TRL's ``SFTTrainer`` with a
check that no batch loses its video (:func:`~vt_agent.training.trl_video.sft_trainer_class`).

The final model is written as safetensors to ``<output_dir>/final`` with the tokenizer and the
processor configs, loadable by ``TransformersBackend`` and vLLM; ``<output_dir>/train_summary.json``
records the losses and timings.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vt_agent._lazy import require
from vt_agent.errors import ConfigError
from vt_agent.training.collate import FEATURE, VideoSFTCollator, dataset_rows
from vt_agent.training.train_config import TrainConfig, _Common

__all__ = ["TrainResult", "load_model_and_tokenizer", "run_sft", "save_final"]

# copied from the starting checkpoint; vt_agent_tiny.json marks a model trained from the tiny one (still tiny)
PROCESSOR_FILES = (
    "preprocessor_config.json",
    "video_preprocessor_config.json",
    "chat_template.jinja",
    "vt_agent_tiny.json",
)


@dataclass
class TrainResult:
    """What a training run did."""

    kind: str
    output_dir: str
    checkpoint: str
    steps: int
    samples: int
    runtime_s: float
    log_history: list[dict[str, Any]] = field(default_factory=list)

    def losses(self) -> list[float]:
        return [float(h["loss"]) for h in self.log_history if "loss" in h]


def resolve_model_path(cfg: TrainConfig) -> str:
    """The checkpoint to start from; ``tiny`` builds the tiny random checkpoint (cached)."""
    if cfg.model.name_or_path == "tiny":
        from vt_agent.tiny import build_tiny_checkpoint

        return str(build_tiny_checkpoint())
    return cfg.model.name_or_path


def use_bf16(settings: _Common) -> bool:
    torch = require("torch", "train", FEATURE)
    if settings.bf16 is not None:
        return settings.bf16
    return bool(not settings.use_cpu and torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def load_model_and_tokenizer(cfg: TrainConfig, settings: _Common) -> tuple[Any, Any, str]:
    """Model (Qwen2.5-VL), tokenizer and the source path, as the config asks."""
    torch = require("torch", "train", FEATURE)
    tf = require("transformers", "train", FEATURE)
    source = resolve_model_path(cfg)
    dtype_name = cfg.model.dtype
    if dtype_name == "auto":
        dtype_name = "bfloat16" if use_bf16(settings) else "float32"
    kwargs: dict[str, Any] = {"dtype": getattr(torch, dtype_name)}
    if cfg.model.attn_implementation:
        kwargs["attn_implementation"] = cfg.model.attn_implementation
    try:
        tokenizer = tf.AutoTokenizer.from_pretrained(source)
        model = tf.Qwen2_5_VLForConditionalGeneration.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"could not load the model {source!r}: {str(exc).splitlines()[0]}") from exc
    if cfg.model.freeze_vision:
        for p in model.model.visual.parameters():
            p.requires_grad_(False)
    return model, tokenizer, source


def peft_config(cfg: TrainConfig) -> Any:
    if cfg.model.lora_r is None:
        return None
    peft = require("peft", "train", "LoRA training")
    return peft.LoraConfig(
        r=cfg.model.lora_r,
        lora_alpha=cfg.model.lora_alpha,
        target_modules=cfg.model.lora_target_modules,
        task_type="CAUSAL_LM",
    )


def common_trl_args(cfg: TrainConfig, settings: _Common) -> dict[str, Any]:
    """Fields shared by ``SFTConfig`` and ``GRPOConfig``."""
    args: dict[str, Any] = {
        "output_dir": str(cfg.output_dir),
        "learning_rate": settings.learning_rate,
        "per_device_train_batch_size": settings.per_device_train_batch_size,
        "gradient_accumulation_steps": settings.gradient_accumulation_steps,
        "num_train_epochs": settings.num_train_epochs,
        "max_steps": settings.max_steps,
        "max_grad_norm": settings.max_grad_norm,
        "warmup_steps": settings.warmup_steps,
        "lr_scheduler_type": settings.lr_scheduler_type,
        "weight_decay": settings.weight_decay,
        "logging_steps": settings.logging_steps,
        "save_strategy": "steps" if settings.save_steps else "no",
        "seed": settings.seed,
        "bf16": use_bf16(settings),
        "gradient_checkpointing": settings.gradient_checkpointing,
        "use_cpu": settings.use_cpu,
        "report_to": "none",
        "remove_unused_columns": False,
        "disable_tqdm": True,
    }
    if settings.save_steps:
        args["save_steps"] = settings.save_steps
    overlap = sorted(set(settings.trl_args) & set(args) - {"report_to", "disable_tqdm"})
    if overlap:
        raise ConfigError(
            f"trl_args repeats fields of the train section: {', '.join(overlap)}; set them once"
        )
    args.update(settings.trl_args)
    return args


def training_dataset(cfg: TrainConfig) -> tuple[Any, int]:
    """The ``datasets.Dataset`` of the config's records (``record`` JSON + ``prompt``) and its size."""
    datasets = require("datasets", "train", FEATURE)
    from vt_agent.training.schema import read_records

    records = read_records(cfg.data.train_file)
    if cfg.data.max_samples is not None:
        records = records[: cfg.data.max_samples]
    if not records:
        raise ConfigError(f"{cfg.data.train_file} holds no training records")
    missing = [r.video for r in records if not Path(r.video).is_file()]
    if missing:
        raise ConfigError(f"{len(missing)} record video(s) not found, first: {missing[0]}")
    return datasets.Dataset.from_list(dataset_rows(records)), len(records)


def save_final(trainer: Any, tokenizer: Any, source: str, output_dir: Path) -> Path:
    """Write the trained model (LoRA merged) as safetensors to ``output_dir/final`` with tokenizer and processor files."""
    final = output_dir / "final"
    model = trainer.accelerator.unwrap_model(trainer.model)
    if hasattr(model, "merge_and_unload"):  # a PEFT model: give a plain checkpoint
        model = model.merge_and_unload()
    if trainer.accelerator.is_main_process:
        final.mkdir(parents=True, exist_ok=True)
    trainer.accelerator.wait_for_everyone()
    state = trainer.accelerator.get_state_dict(trainer.model) if trainer.is_deepspeed_enabled else None
    if trainer.accelerator.is_main_process:
        if state is not None and not hasattr(trainer.model, "merge_and_unload"):
            model.save_pretrained(str(final), state_dict=state, safe_serialization=True)
        else:
            model.save_pretrained(str(final), safe_serialization=True)
        tokenizer.save_pretrained(str(final))
        src = Path(source)
        if src.is_dir():
            for name in PROCESSOR_FILES:
                if (src / name).is_file() and not (final / name).exists():
                    shutil.copy2(src / name, final / name)
    return final


def write_summary(result: TrainResult) -> None:
    path = Path(result.output_dir) / "train_summary.json"
    path.write_text(json.dumps(asdict(result), indent=2, default=str) + "\n", encoding="utf-8")


def train_and_save(
    kind: str, trainer: Any, tokenizer: Any, source: str, cfg: TrainConfig, samples: int, started: float
) -> TrainResult:
    """Train, save ``output_dir/final`` and write ``train_summary.json`` (main process)."""
    trainer.train()
    final = save_final(trainer, tokenizer, source, Path(cfg.output_dir))
    result = TrainResult(
        kind=kind,
        output_dir=str(cfg.output_dir),
        checkpoint=str(final),
        steps=int(trainer.state.global_step),
        samples=samples,
        runtime_s=time.perf_counter() - started,
        log_history=list(trainer.state.log_history),
    )
    if trainer.accelerator.is_main_process:
        write_summary(result)
    return result


def run_sft(cfg: TrainConfig, *, callbacks: list[Any] | None = None) -> TrainResult:
    """Run SFT as ``cfg`` says and save the final checkpoint; returns the run's summary."""
    trl = require("trl", "train", FEATURE)
    from vt_agent.training.trl_video import sft_trainer_class

    if cfg.kind != "sft":
        raise ConfigError(f"run_sft got a '{cfg.kind}' config")
    settings = cfg.sft()
    started = time.perf_counter()
    model, tokenizer, source = load_model_and_tokenizer(cfg, settings)
    dataset, n = training_dataset(cfg)
    collator = VideoSFTCollator(tokenizer, cfg.data.resolved_preset(), max_length=settings.max_length)
    args = trl.SFTConfig(
        **common_trl_args(cfg, settings),
        dataset_kwargs={"skip_prepare_dataset": True},
        max_length=None,
    )
    trainer = sft_trainer_class()(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        data_collator=collator,
        peft_config=peft_config(cfg),
        callbacks=callbacks,
    )
    return train_and_save("sft", trainer, tokenizer, source, cfg, n, started)
