"""The ``video_reason`` tool as registered: its published input schema and friendly argument errors.

Published schema. ``videos`` and ``question`` are ``required`` at the top level and the schema
has no top-level ``oneOf``/``anyOf``/``allOf`` (Anthropic's API refuses tools whose input schema
has them); optional arguments are plain types (no ``anyOf`` with ``null``). The function behind
the tool stays lenient (nullable, with defaults) so that every bad call reaches the checks below
and gets a sentence a model can act on, instead of pydantic's report.

Errors. An unknown argument is named with the argument meant (``video`` -> ``videos``); a
validation error becomes one line per argument ("'question' is empty: ...").

Imported lazily by :func:`mcp_server.server.create_server` (it subclasses the SDK's ``Tool``).
"""

from __future__ import annotations

import difflib
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools.base import Tool
from pydantic import ValidationError

__all__ = ["ARGUMENTS", "REQUIRED", "CheckedTool", "argument_problem", "published_schema", "validation_text"]

REQUIRED = ("videos", "question")
ARGUMENTS = ("videos", "question", "options", "preset", "thumbnails", "wait_s", "job_id", "cancel")

_ALIASES = {
    "video": "videos",
    "video_path": "videos",
    "video_paths": "videos",
    "path": "videos",
    "paths": "videos",
    "file": "videos",
    "files": "videos",
    "url": "videos",
    "query": "question",
    "prompt": "question",
    "q": "question",
    "choices": "options",
    "answers": "options",
    "timeout": "wait_s",
    "wait": "wait_s",
    "id": "job_id",
    "job": "job_id",
}

_HINTS = {
    "videos": "give a list of video file paths, e.g. videos=['/absolute/path/to/clip.mp4']",
    "question": "give the question to answer about the video(s), e.g. question='What does the man do?'",
    "options": "give two or more answer options, e.g. options=['a cat', 'a dog'], or leave options out",
    "job_id": "give the 16 hex characters of the job_id a running call returned, or leave job_id out",
}


def _listing() -> str:
    return ", ".join(f"{a} (required)" if a in REQUIRED else a for a in ARGUMENTS)


def argument_problem(arguments: dict[str, Any]) -> str | None:
    """A sentence naming any unknown argument and the one meant; None when every name is known."""
    unknown = [name for name in arguments if name not in ARGUMENTS]
    if not unknown:
        return None
    parts = []
    for name in unknown:
        meant = _ALIASES.get(name.lower()) or next(
            iter(difflib.get_close_matches(name, ARGUMENTS, n=1)), None
        )
        parts.append(f"'{name}' (did you mean '{meant}'?)" if meant else f"'{name}'")
    return (
        f"Unknown argument {', '.join(parts)}: video_reason takes {_listing()}. "
        "Call it again with the right names."
    )


def _where(loc: tuple[int | str, ...]) -> str:
    name = str(loc[0]) if loc else "arguments"
    for part in loc[1:]:
        name += f"[{part}]" if isinstance(part, int) else f".{part}"
    return name


def _one(err: Any) -> str:
    loc = tuple(err.get("loc", ()))
    where = _where(loc)
    field = str(loc[0]) if loc else ""
    ctx = err.get("ctx") or {}
    kind = err.get("type", "")
    value = err.get("input")
    hint = _HINTS.get(field, "")
    if kind == "missing":
        return f"'{where}' is missing: {hint or 'give it'}"
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return f"'{where}' is empty: {hint or 'give some text'}"
    if kind == "string_too_long":
        return f"'{where}' is too long: at most {ctx.get('max_length')} characters (got {len(str(value))})"
    if kind == "too_long":
        got = f" (got {len(value)})" if isinstance(value, list | tuple) else ""
        return f"'{where}' has too many items: at most {ctx.get('max_length')} items{got}"
    if kind == "too_short":
        return f"'{where}' needs at least {ctx.get('min_length')} item(s): {hint or 'add more'}"
    if kind in ("less_than_equal", "less_than"):
        return f"'{where}' must be less than or equal to {ctx.get('le', ctx.get('lt'))} (got {value!r})"
    if kind in ("greater_than_equal", "greater_than"):
        return f"'{where}' must be at least {ctx.get('ge', ctx.get('gt'))} (got {value!r})"
    if kind == "string_pattern_mismatch":
        return f"'{where}' should match pattern {ctx.get('pattern')}: {hint}"
    if kind in ("list_type", "tuple_type"):
        return f"'{where}' must be a list: {hint or 'put the values in a list'}"
    if kind == "string_type":
        return f"'{where}' must be text (a string)" + (f": {hint}" if hint else "")
    message = str(err.get("msg", "invalid value")).rstrip(".")
    return f"'{where}': {message[:1].lower()}{message[1:]}"


def validation_text(exc: ValidationError) -> str:
    """A pydantic error about the tool's arguments as one plain sentence per argument."""
    lines = list(dict.fromkeys(_one(err) for err in exc.errors()))
    return "Bad arguments for video_reason: " + "; ".join(lines) + ". Fix them and call video_reason again."


def _plain(prop: dict[str, Any]) -> dict[str, Any]:
    """``anyOf: [X, {type: null}]`` (an optional argument) as X itself, without ``default: null``."""
    branches = prop.get("anyOf")
    if not isinstance(branches, list):
        return prop
    kept = [b for b in branches if b != {"type": "null"}]
    if len(kept) != 1:
        return prop
    out = {k: v for k, v in prop.items() if k != "anyOf"}
    out.update(kept[0])
    if out.get("default", 0) is None:
        del out["default"]
    if isinstance(out.get("enum"), list):
        out["enum"] = [v for v in out["enum"] if v is not None]
    return out


def published_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The input schema hosts see: required ``videos``/``question``, no anyOf/oneOf/allOf at the top."""
    props = {name: _plain(dict(prop)) for name, prop in schema.get("properties", {}).items()}
    out = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf", "allOf", "properties", "required")}
    out["type"] = "object"
    out["properties"] = props
    out["required"] = [name for name in REQUIRED if name in props]
    return out


class CheckedTool(Tool):
    """The SDK's tool with the published schema and plain-language argument errors."""

    async def run(self, arguments: dict[str, Any], context: Any, convert_result: bool = False) -> Any:
        problem = argument_problem(arguments)
        if problem is not None:
            raise ToolError(problem)
        if isinstance(arguments.get("videos"), str):  # one path given as a string: a list of one
            arguments = {**arguments, "videos": [arguments["videos"]]}
        try:
            return await super().run(arguments, context, convert_result=convert_result)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, ValidationError):
                # keep the cause: the SDK then logs the field names only, never the values
                raise ToolError(validation_text(cause)) from cause
            raise
