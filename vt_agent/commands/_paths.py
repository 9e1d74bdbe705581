"""Checks on output paths given on the command line, made before any work starts."""

from __future__ import annotations

from pathlib import Path

from vt_agent.errors import ConfigError


def check_output_file(path: Path, option: str) -> Path:
    """Fail early, naming ``option``, when ``path`` cannot be written as a file."""
    if path.is_dir():
        raise ConfigError(f"{option}: {path} is a directory; give a file name, e.g. {path / 'report.html'}")
    if not path.parent.is_dir():
        raise ConfigError(
            f"{option}: folder {path.parent} does not exist; create it first or pick another path"
        )
    return path


def check_output_dir(path: Path, option: str) -> Path:
    """Fail early, naming ``option``, when ``path`` exists and is not a directory."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{option}: {path} exists and is not a folder; give a folder path")
    return path
