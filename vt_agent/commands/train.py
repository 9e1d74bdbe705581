"""``vt-agent train sft|grpo --config FILE [--output-dir DIR]`` and the data commands.

``sft`` and ``grpo`` run the published recipe (docs/protocol.md, Training recipe) from a YAML config
(:mod:`vt_agent.training.train_config`); ``build`` and ``curate`` (from
:mod:`vt_agent.commands.train_data`) make the training records. Multi-GPU and multi-node runs go
through accelerate: ``accelerate launch --config_file examples/configs/accelerate/zero2.yaml
-m vt_agent.cli train grpo --config ...``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "EPILOG",
    "register",
]

EPILOG = """examples:
  vt-agent train sft --config examples/configs/tiny-sft.yaml
  vt-agent train grpo --config examples/configs/tiny-grpo.yaml --output-dir runs/grpo
  vt-agent train build --source youcook2 --data annotations.json --videos videos/ \\
      --llm-base-url http://127.0.0.1:8001/v1 --llm-model Qwen/Qwen2.5-72B-Instruct --out records.jsonl
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "train",
        help="build training data, then SFT and GRPO on video (Video-Thinker recipe)",
        description=(
            "Train Qwen2.5-VL on video the Video-Thinker way: `build`/`curate` make training records, `sft` and "
            "`grpo` train from a YAML config (see examples/configs/). Scale out with `accelerate launch`."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="train_command", metavar="STEP")
    for kind, help_text in (
        ("sft", "supervised fine-tuning on trace + answer, video in the loss"),
        ("grpo", "GRPO with accuracy + format rewards, video in every log-prob forward"),
    ):
        p = sub.add_parser(
            kind,
            help=help_text,
            description=f"{help_text}.",
            epilog=(
                f"examples:\n  vt-agent train {kind} --config examples/configs/tiny-{kind}.yaml\n"
                f"  vt-agent train {kind} --config examples/configs/tiny-{kind}.yaml --output-dir runs/{kind} --json\n"
            ),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument(
            "--config", "-c", required=True, type=Path, metavar="FILE", help="YAML training config"
        )
        p.add_argument(
            "--output-dir",
            type=Path,
            default=None,
            metavar="DIR",
            help="replaces the config's output_dir",
        )
        p.add_argument("--json", action="store_true", help="print the run summary as JSON on stdout")
        p.set_defaults(func=_run, kind=kind)
    from vt_agent.commands.train_data import add_data_parsers

    add_data_parsers(sub)
    parser.set_defaults(func=lambda args: _no_step(parser))


def _no_step(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _run(args: argparse.Namespace) -> int:
    from vt_agent.training.train_config import load_train_config

    cfg = load_train_config(args.config, kind=args.kind, output_dir=args.output_dir)
    if args.kind == "sft":
        from vt_agent.training.sft import run_sft

        result = run_sft(cfg)
    else:
        from vt_agent.training.grpo import run_grpo

        result = run_grpo(cfg)
    if args.json:
        print(
            json.dumps(
                {k: v for k, v in vars(result).items() if k != "log_history"} | {"losses": result.losses()}
            )
        )
    else:
        losses = result.losses()
        loss_text = f", loss {losses[0]:.4g} -> {losses[-1]:.4g}" if losses else ""
        print(
            f"{args.kind}: {result.steps} steps on {result.samples} samples in {result.runtime_s:.1f} s{loss_text}; "
            f"checkpoint {result.checkpoint}"
        )
    return 0
