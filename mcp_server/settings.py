"""Server settings: typed, from ``vt-agent-mcp`` flags over ``VT_AGENT_*`` environment variables.

Only this module (and :mod:`mcp_server.cli`) reads the environment. Precedence: explicit values
(flags), then the environment, then the defaults below.

environment variable         flag                                 meaning
===========================  ===================================  ==============================
VT_AGENT_ALLOWED_ROOTS       --allow DIR (repeatable)             directories videos may come from
                                                                  (os.pathsep-separated; no default:
                                                                  never the working directory)
VT_AGENT_ALLOW_BROAD_ROOT    --allow-broad-root                   accept /, home or above as roots
VT_AGENT_BACKEND             --backend                            auto, transformers, vllm, openai,
                                                                  fake
VT_AGENT_MODEL               --model                              checkpoint / served model name
VT_AGENT_BASE_URL            --base-url                           OpenAI-compatible API (vllm serve)
VT_AGENT_API_KEY             --api-key                            bearer token for --base-url
VT_AGENT_MCP_TOKEN           --token                              bearer token HTTP clients must send
VT_AGENT_MCP_TRANSPORT       --transport                          stdio or http
VT_AGENT_MCP_HOST            --host                               HTTP bind address
VT_AGENT_MCP_PORT            --port                               HTTP port
VT_AGENT_MCP_ALLOWED_HOSTS   --allowed-host HOST (repeatable)     extra Host names HTTP accepts
VT_AGENT_MAX_CONCURRENCY     --max-concurrency                    calls generating at once
VT_AGENT_TIMEOUT_S           --timeout                            per-call limit, seconds
VT_AGENT_WAIT_S              --wait                               default wait before a job handle
VT_AGENT_MAX_FILE_MB         --max-file-mb                        largest video file accepted
VT_AGENT_ALLOW_URL_HOSTS     --allow-url-host HOST (repeatable)   http(s) hosts videos may come from
===========================  ===================================  ==============================
=======
Every flag of ``vt-agent-mcp`` is also a ``VT_AGENT_*`` variable: the table is docs/settings.md,
generated from the flags' help by ``scripts/settings_table.py`` (a test keeps it current).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from vt_agent.config import BackendConfig, make_config, settings_from_env
from vt_agent.errors import ConfigError
from vt_agent.video.presets import DEFAULT_PRESET

__all__ = ["LOOPBACK_HOSTS", "ServerSettings", "is_loopback_host", "load_settings", "needs_no_token"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
"""The only bind addresses where HTTP runs without a token (not the rest of 127.0.0.0/8)."""

_ENV: dict[str, str] = {
    "VT_AGENT_MCP_TRANSPORT": "transport",
    "VT_AGENT_MCP_HOST": "host",
    "VT_AGENT_MCP_PORT": "port",
    "VT_AGENT_MCP_TOKEN": "token",
    "VT_AGENT_ALLOW_BROAD_ROOT": "allow_broad_root",
    "VT_AGENT_MAX_CONCURRENCY": "max_concurrency",
    "VT_AGENT_TIMEOUT_S": "timeout_s",
    "VT_AGENT_WAIT_S": "wait_s",
    "VT_AGENT_MAX_FILE_MB": "max_file_mb",
    "VT_AGENT_PRESET": "preset",
    "VT_AGENT_MAX_TOKENS": "max_tokens",
}


def needs_no_token(host: str) -> bool:
    """True only for exactly ``127.0.0.1``, ``::1`` and ``localhost`` (HTTP may run without a token)."""
    return host.strip().strip("[]").lower() in LOOPBACK_HOSTS


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ServerSettings(BaseModel):
    """Everything ``create_server`` needs. Build it with :func:`load_settings` or directly."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: BackendConfig = Field(default_factory=lambda: BackendConfig(backend="auto"))
    allowed_roots: tuple[Path, ...] = Field(
        default=(),
        description="directories videos may be read from (empty: none, until a client sends roots)",
    )
    allow_broad_root: bool = Field(default=False, description="accept /, the home folder or above as roots")
    allow_url_hosts: tuple[str, ...] = Field(
        default=(), description="http(s) host names videos may be downloaded from (empty: URLs refused)"
    )
    preset: str = Field(default=DEFAULT_PRESET, description="default frame sampling preset")
    max_tokens: int = Field(default=1024, ge=1, le=8192, description="generation limit per call")
    max_concurrency: int = Field(default=2, ge=1, le=64, description="calls decoding/generating at once")
    timeout_s: float = Field(default=600.0, gt=0, le=24 * 3600, description="per-call limit, seconds")
    wait_s: float = Field(
        default=45.0, ge=0, le=3600, description="default seconds a call waits before returning a job handle"
    )
    max_file_mb: float = Field(default=4096.0, gt=0, description="largest video file accepted, MiB")
    max_videos: int = Field(default=4, ge=1, le=16)
    max_question_chars: int = Field(default=2000, ge=10, le=100_000)
    max_options: int = Field(default=10, ge=2, le=26)
    max_option_chars: int = Field(default=500, ge=1, le=10_000)
    job_ttl_s: float = Field(default=900.0, gt=0, description="how long finished jobs are kept for pickup")
    max_jobs: int = Field(default=32, ge=1, description="jobs kept at once (running + finished)")
    transport: Literal["stdio", "http"] = "stdio"
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    http_path: str = "/mcp"
    token: SecretStr | None = Field(default=None, description="bearer token HTTP clients must send")
    allowed_hosts: tuple[str, ...] = Field(
        default=(), description="extra Host header names the HTTP server accepts (besides the bound address)"
    )

    @field_validator("allowed_roots", mode="before")
    @classmethod
    def _roots(cls, value: Any) -> Any:
        if isinstance(value, str | os.PathLike):
            value = [value]
        return tuple(Path(os.fspath(v)).expanduser() for v in value)

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        text = value.get_secret_value().strip()
        if len(text) < 16:
            raise ValueError("the bearer token must be at least 16 characters (use a random one)")
        return SecretStr(text)

    @model_validator(mode="after")
    def _check(self) -> ServerSettings:
        if self.transport == "http" and not needs_no_token(self.host) and not self.token:
            raise ValueError(
                f"binding HTTP to {self.host} needs a bearer token (only 127.0.0.1, ::1 and localhost run "
                "without one): pass --token or set VT_AGENT_MCP_TOKEN (at least 16 random characters)"
            )
        if not self.http_path.startswith("/"):
            raise ValueError(f"http_path must start with '/', got {self.http_path!r}")
        return self

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    def roots(self) -> list[Path]:
        """The allowed roots, resolved (symlinks followed); empty when none is set (no implicit root)."""
        out: list[Path] = []
        for r in self.allowed_roots:
            resolved = r.resolve()
            if resolved not in out:
                out.append(resolved)
        return out


def _split_list(text: str, sep: str) -> list[str]:
    return [p for p in (s.strip() for s in text.split(sep)) if p]


def load_settings(
    explicit: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> ServerSettings:
    """Settings from ``explicit`` values (None: unset) over ``environ``'s ``VT_AGENT_*`` variables.

    ``explicit`` keys: the ServerSettings field names, plus ``backend``, ``model``, ``base_url``,
    ``api_key`` and ``backend_options`` (the BackendConfig and its extra backend options). Lists (``allowed_roots``, ``allow_url_hosts``) replace the
    environment's when non-empty. Bad values raise :class:`ConfigError` naming the setting.
    """
    explicit = dict(explicit or {})
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for var, key in _ENV.items():
        text = env.get(var, "").strip()
        if text:
            values[key] = text
    roots_env = env.get("VT_AGENT_ALLOWED_ROOTS", "")
    if roots_env.strip():
        values["allowed_roots"] = _split_list(roots_env, os.pathsep)
    allowed_env = env.get("VT_AGENT_MCP_ALLOWED_HOSTS", "")
    if allowed_env.strip():
        values["allowed_hosts"] = _split_list(allowed_env, ",")
    hosts_env = env.get("VT_AGENT_ALLOW_URL_HOSTS", "")
    if hosts_env.strip():
        values["allow_url_hosts"] = _split_list(hosts_env, ",")

    backend_values: dict[str, Any] = dict(settings_from_env(env))
    backend_options = explicit.pop("backend_options", None)
    if backend_options:
        backend_values["options"] = dict(backend_options)
    for key in ("backend", "model", "base_url", "api_key"):
        value = explicit.pop(key, None)
        if value is not None:
            backend_values[key] = value
    for key, value in explicit.items():
        if value is None or (isinstance(value, Sequence) and not isinstance(value, str) and not value):
            continue
        values[key] = value
    values["backend"] = make_config(BackendConfig, **backend_values)
    try:
        return ServerSettings(**values)
    except ValidationError as exc:
        problems = "; ".join(dict.fromkeys(_problem(err) for err in exc.errors()))
        raise ConfigError(f"bad MCP server setting: {problems}") from None


_FLAGS = {
    "timeout_s": "--timeout",
    "wait_s": "--wait",
    "allowed_roots": "--allow",
    "allowed_hosts": "--allowed-host",
}
_SECRET = ("token", "api_key")


def _problem(err: Any) -> str:
    """One pydantic error as the flag and a plain rule (``--port 99999: must be at most 65535``)."""
    loc = [str(p) for p in err.get("loc", ())]
    name = loc[0] if loc else ""
    flag = _FLAGS.get(name, "--" + name.replace("_", "-")) if name else ""
    ctx = err.get("ctx") or {}
    kind = err.get("type", "")
    rules = {
        "less_than_equal": f"must be at most {ctx.get('le')}",
        "less_than": f"must be less than {ctx.get('lt')}",
        "greater_than_equal": f"must be at least {ctx.get('ge')}",
        "greater_than": f"must be more than {ctx.get('gt')}",
        "int_parsing": "must be a whole number",
        "int_from_float": "must be a whole number",
        "float_parsing": "must be a number",
        "bool_parsing": "must be 1/true or 0/false",
    }
    rule = rules.get(kind) or str(err.get("msg", "invalid")).removeprefix("Value error, ")
    if not flag:
        return rule
    shown = "" if name in _SECRET or kind not in rules else f" {err.get('input')}"
    env = next((var for var, key in _ENV.items() if key == name), None)
    return f"{flag}{shown}{f' (or {env})' if env else ''}: {rule}"
