"""Choosing the backend and model: typed settings and the ``auto`` resolution.

Precedence: explicit arguments, then (in the CLI and server settings only, via
:func:`settings_from_env`) the ``VT_AGENT_*`` variables of :data:`BACKEND_ENV` and
:data:`REASONER_ENV` (table: docs/settings.md), then ``auto``. The library itself never reads the
environment.

``backend="auto"`` resolves as follows (:func:`resolve_backend`):

==========================================  ==================================================
situation                                   backend
==========================================  ==================================================
a ``base_url`` is configured                ``openai`` (an OpenAI-compatible server, e.g. vllm serve)
a GPU (CUDA, or ``device`` cuda/mps)        ``vllm`` if installed (CUDA only), else ``transformers``
                                            with the configured model (default Video-Thinker-7B)
no GPU, a model configured explicitly       ``transformers`` with that model (the CPU rule below)
no GPU, no model configured                 ``transformers`` with the tiny random checkpoint and a
                                            LOUD notice: its output is noise
==========================================  ==================================================

CPU rule: a model that is not the tiny checkpoint on the CPU with ``transformers`` is refused
with :class:`ConfigError` (Video-Thinker-7B needs ~16 GB in bf16 and minutes per answer) unless
``force_cpu_7b``.

Over 400 lines: the typed settings, their environment variables and the ``auto`` resolution name the same fields; split, one table would spread over three files.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from vt_agent.errors import ConfigError
from vt_agent.video.presets import DEFAULT_PRESET

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"  # an OpenAI-compatible server (`vt-agent serve`)

__all__ = [
    "BACKEND_CHOICES",
    "BACKEND_ENV",
    "DEFAULT_MODEL",
    "ENV_VARS",
    "REASONER_ENV",
    "USED_FIELDS",
    "BackendConfig",
    "EnvSetting",
    "ReasonerConfig",
    "ResolvedBackend",
    "env_value",
    "ignored_settings",
    "make_config",
    "merge_settings",
    "parse_backend_options",
    "reasoner_settings_from_env",
    "redact_url",
    "resolve_backend",
    "settings_from_env",
]

DEFAULT_MODEL = "ShijianW01/Video-Thinker-7B"
BACKEND_CHOICES = ("auto", "transformers", "vllm", "openai", "fake")


@dataclass(frozen=True)
class EnvSetting:
    """A setting the CLI (``vt-agent``, ``vt-agent-mcp``) also reads from a ``VT_AGENT_*`` variable."""

    var: str
    field: str
    kind: Literal["text", "bool", "int", "options"] = "text"


BACKEND_ENV = (
    EnvSetting("VT_AGENT_BACKEND", "backend"),
    EnvSetting("VT_AGENT_MODEL", "model"),
    EnvSetting("VT_AGENT_BASE_URL", "base_url"),
    EnvSetting("VT_AGENT_API_KEY", "api_key"),
    EnvSetting("VT_AGENT_DEVICE", "device"),
    EnvSetting("VT_AGENT_DTYPE", "dtype"),
    EnvSetting("VT_AGENT_FORCE_CPU_7B", "force_cpu_7b", "bool"),
    EnvSetting("VT_AGENT_BACKEND_OPTIONS", "options", "options"),
)
"""The backend settings (:class:`BackendConfig` fields) and their variables."""
REASONER_ENV = (
    EnvSetting("VT_AGENT_PRESET", "preset"),
    EnvSetting("VT_AGENT_MAX_TOKENS", "max_tokens", "int"),
)
"""The reasoner settings (:class:`ReasonerConfig` fields) and their variables."""
ENV_VARS = {s.var: s.field for s in BACKEND_ENV}

BackendName = Literal["auto", "transformers", "vllm", "openai", "fake"]

TINY_NOTICE = (
    "NOTICE: no GPU, no model and no server configured, so vt-agent runs the TINY RANDOM-WEIGHT "
    "Qwen2.5-VL checkpoint. Its output is NOISE: it only shows the pipeline working end to end.\n"
    "  Real answers: --model /path/to/Video-Thinker-7B on a GPU (or --backend vllm),\n"
    "  or a `vllm serve` endpoint: --backend openai --base-url http://HOST:8000/v1,\n"
    "  or scripted, instant traces for trying an integration: --backend fake.\n"
    "  (Settable as VT_AGENT_MODEL, VT_AGENT_BASE_URL, VT_AGENT_BACKEND.)"
)
FAKE_NOTICE = "NOTICE: the fake backend streams SCRIPTED, hand-written traces: not a model's answers."


def redact_url(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@`` (for errors, logs and repr)."""
    scheme, sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    if not sep or "@" not in host:
        return url
    return f"{scheme}://***@{host.rpartition('@')[2]}{slash}{path}"


class BackendConfig(BaseModel):
    """Which backend and model to use, and the engine settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: BackendName = Field(default="auto", description="backend name, or auto (see the module doc)")
    model: str | None = Field(
        default=None,
        description=f"hub id or local checkpoint directory (None: {DEFAULT_MODEL}; for openai: the server's model)",
    )
    base_url: str | None = Field(
        default=None, description="OpenAI-compatible API root, e.g. http://host:8000/v1"
    )
    api_key: SecretStr | None = Field(default=None, description="bearer token for base_url (hidden in repr)")
    dtype: str | None = Field(default=None, description="bfloat16, float16, float32 or auto")
    device: str | None = Field(default=None, description="cuda, cuda:N, mps or cpu (None: auto)")
    attn_implementation: str | None = Field(default=None, description="sdpa, eager, flash_attention_2, ...")
    max_context: int | None = Field(
        default=None, ge=1, description="context length in tokens (None: model's)"
    )
    force_cpu_7b: bool = Field(default=False, description="allow a full-size model on the CPU (very slow)")
    options: dict[str, Any] = Field(default_factory=dict, description="extra keyword options for the backend")

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "base_url" and isinstance(value, str) else value


class ReasonerConfig(BaseModel):
    """Settings of :class:`vt_agent.reasoner.VideoReasoner`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: str = Field(default=DEFAULT_PRESET, description="frame sampling preset")
    max_tokens: int = Field(default=1024, ge=1, description="generation limit (1024 as the authors decoded)")
    thumbnails: int = Field(default=0, ge=0, description="evidence thumbnails at the first N cited spans")


_M = TypeVar("_M", bound=BaseModel)


def make_config(cls: type[_M], **values: Any) -> _M:
    """``cls(**values)`` with pydantic's validation errors turned into :class:`ConfigError`."""
    try:
        return cls(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"bad {cls.__name__} setting: {problems}") from None


def env_value(setting: EnvSetting, text: str) -> Any:
    """The value of ``setting`` written as ``text`` in its variable; ConfigError naming the variable."""
    if setting.kind == "bool":
        word = text.strip().lower()
        if word in {"1", "true", "yes", "on"}:
            return True
        if word in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{setting.var}={text!r}: write 1 or 0 (true/false, yes/no, on/off)")
    if setting.kind == "int":
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{setting.var}={text!r}: write a whole number") from None
    if setting.kind == "options":
        if text.lstrip().startswith("{"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{setting.var}: not a JSON object ({exc})") from None
            if not isinstance(value, dict):
                raise ConfigError(f"{setting.var}: write a JSON object or KEY=VALUE pairs")
            return value
        return parse_backend_options(shlex.split(text), name=setting.var)
    return text.strip()


def _from_env(settings: Sequence[EnvSetting], environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for setting in settings:
        text = environ.get(setting.var, "")
        if text.strip():
            out[setting.field] = env_value(setting, text)
    return out


def settings_from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """The backend settings set (non-empty) in ``environ``'s ``VT_AGENT_*`` variables, by field name.

    For the CLI and server settings only (:data:`BACKEND_ENV`). A bad value raises ConfigError
    naming the variable.
    """
    out = _from_env(BACKEND_ENV, environ)
    if "backend" in out and out["backend"] not in BACKEND_CHOICES:
        raise ConfigError(
            f"VT_AGENT_BACKEND={out['backend']!r} is not a backend: use one of {', '.join(BACKEND_CHOICES)}"
        )
    return out


def reasoner_settings_from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """``preset`` and ``max_tokens`` from ``VT_AGENT_PRESET`` / ``VT_AGENT_MAX_TOKENS`` (:data:`REASONER_ENV`)."""
    return _from_env(REASONER_ENV, environ)


def parse_backend_options(pairs: Sequence[str], *, name: str = "--backend-option") -> dict[str, Any]:
    """``KEY=VALUE`` strings as backend keyword options (VALUE read as JSON when it parses, else text).

    The one parser of ``--backend-option`` for ``vt-agent`` and ``vt-agent-mcp``: a pair without
    ``=`` or whose KEY is not an identifier raises :class:`ConfigError` naming ``name``.
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ConfigError(f"{name} {pair!r}: write KEY=VALUE, e.g. max_model_len=32768")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def merge_settings(explicit: Mapping[str, Any], environ: Mapping[str, str]) -> BackendConfig:
    """A BackendConfig from explicit values (None means unset) over the environment's ``VT_AGENT_*``."""
    values: dict[str, Any] = dict(settings_from_env(environ))
    values.update({k: v for k, v in explicit.items() if v is not None})
    return make_config(BackendConfig, **values)


USED_FIELDS: dict[str, frozenset[str]] = {
    "fake": frozenset({"options"}),
    "openai": frozenset({"model", "base_url", "api_key", "options"}),
    "vllm": frozenset({"model", "dtype", "max_context", "options"}),
    "transformers": frozenset(
        {"model", "device", "dtype", "attn_implementation", "max_context", "force_cpu_7b", "options"}
    ),
}
"""The BackendConfig fields each backend uses (``backend`` itself aside)."""


def ignored_settings(config: BackendConfig, backend: str) -> list[str]:
    """The fields set in ``config`` (away from their defaults) that ``backend`` does not use."""
    used = USED_FIELDS.get(backend, frozenset())
    return [
        name
        for name in config.model_fields_set
        if name != "backend" and name not in used and getattr(config, name) not in (None, False, {})
    ]


@dataclass(frozen=True)
class ResolvedBackend:
    """What ``auto`` (or an explicit name) came to: a backend name and its keyword options."""

    name: str
    options: dict[str, Any]
    notices: list[str] = field(default_factory=list)
    reason: str = ""


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _vllm_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


def _tiny_dir() -> Path:
    from vt_agent.tiny import build_tiny_checkpoint

    return build_tiny_checkpoint()


def _is_tiny(model: str) -> bool:
    """A local checkpoint small enough for the CPU: the tiny one, or one trained from it, or any
    whose config.json estimates under the transformers backend's CPU limit (1 B parameters)."""
    from vt_agent.tiny import is_tiny_checkpoint

    path = Path(model).expanduser()
    if not path.is_dir():
        return False
    if is_tiny_checkpoint(path):
        return True
    try:
        raw = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    from vt_agent.checkpoints import CPU_PARAM_LIMIT, estimate_parameters

    try:
        return estimate_parameters(_JSONConfig(raw)) <= CPU_PARAM_LIMIT
    except (AttributeError, TypeError, ValueError):
        return False


class _JSONConfig:
    """Attribute view of a config.json, enough for ``estimate_parameters`` (no transformers import)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        for key, value in data.items():
            setattr(self, key, _JSONConfig(value) if isinstance(value, Mapping) else value)

    def get_text_config(self) -> Any:
        return getattr(self, "text_config", self)


def _transformers_options(config: BackendConfig, model: str, force: bool) -> dict[str, Any]:
    opts: dict[str, Any] = {"model": model}
    if config.device is not None:
        opts["device"] = config.device
    if config.dtype is not None:
        opts["dtype"] = config.dtype
    if config.attn_implementation is not None:
        opts["attn_implementation"] = config.attn_implementation
    if config.max_context is not None:
        opts["max_context"] = config.max_context
    if force:
        opts["force_cpu"] = True
    opts.update(config.options)
    return opts


def resolve_backend(
    config: BackendConfig,
    *,
    has_gpu: Callable[[], bool] = _cuda_available,
    vllm_installed: Callable[[], bool] = _vllm_installed,
    tiny_dir: Callable[[], Path] = _tiny_dir,
    is_tiny: Callable[[str], bool] = _is_tiny,
) -> ResolvedBackend:
    """Turn ``config`` into a backend name and options (the table in the module doc).

    The probes are injectable for tests; ``has_gpu`` is only called when the decision needs it.
    """
    name = config.backend
    notices: list[str] = []
    device = (config.device or "auto").lower()
    explicit_gpu = device.startswith(("cuda", "mps"))
    reason = f"backend {name} as configured"

    def gpu() -> bool:
        if device == "cpu":
            return False
        return explicit_gpu or has_gpu()

    if name == "auto":
        if config.base_url:
            name, reason = "openai", f"a server is configured ({redact_url(config.base_url)})"
        elif gpu():
            if vllm_installed() and not device.startswith("mps"):
                name, reason = "vllm", "a GPU is available and vLLM is installed"
            else:
                name, reason = "transformers", "a GPU is available (vLLM not installed)"
        elif config.model is not None:
            name, reason = "transformers", "no GPU; the configured model on the CPU"
        else:
            tiny = tiny_dir()
            notices.append(TINY_NOTICE)
            tiny_opts = _transformers_options(config, str(tiny), False)
            tiny_opts.setdefault("device", "cpu")
            return ResolvedBackend(
                "transformers", tiny_opts, notices, "no GPU, no model, no server: the tiny checkpoint"
            )

    if name == "fake":
        return ResolvedBackend("fake", dict(config.options), [FAKE_NOTICE], reason)
    if name == "openai":
        opts: dict[str, Any] = {"model": config.model, "base_url": config.base_url or DEFAULT_BASE_URL}
        if config.api_key is not None:
            opts["api_key"] = config.api_key.get_secret_value()
        opts.update(config.options)
        return ResolvedBackend("openai", opts, notices, reason)
    model = config.model or DEFAULT_MODEL
    if name == "vllm":
        opts = {"model": model}
        if config.dtype is not None:
            opts["dtype"] = config.dtype
        if config.max_context is not None:
            opts["max_model_len"] = config.max_context
        opts.update(config.options)
        return ResolvedBackend("vllm", opts, notices, reason)
    # transformers
    if not gpu() and not is_tiny(model):
        if model.startswith(("/", "./", "../", "~")) and not Path(model).expanduser().exists():
            raise ConfigError(
                f"model {model}: no such folder; give the folder of a downloaded checkpoint "
                f"or a Hugging Face model id such as {DEFAULT_MODEL}"
            )
        if not config.force_cpu_7b:
            raise ConfigError(
                f"refusing to run {model} on the CPU: Video-Thinker-7B needs about 16 GB of memory in bfloat16 "
                "(more in float32) and takes minutes per answer there. Use a GPU (--device cuda), a `vllm serve` "
                "endpoint (--backend openai --base-url http://HOST:8000/v1), the scripted fake backend "
                "(--backend fake), or force it with --force-cpu-7b."
            )
        notices.append(f"NOTICE: running {model} on the CPU as forced: expect minutes per answer.")
    return ResolvedBackend(
        "transformers", _transformers_options(config, model, config.force_cpu_7b), notices, reason
    )
