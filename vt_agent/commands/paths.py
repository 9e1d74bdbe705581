"""Checks on output paths given on the command line, made before any work starts."""

from __future__ import annotations

from pathlib import Path

from vt_agent.errors import ConfigError

__all__ = [
    "check_input_file",
    "check_output_dir",
    "check_output_file",
]


def check_output_file(path: Path, option: str, *, parents: bool = False) -> Path:
    """Fail early, naming ``option``, when ``path`` cannot be written as a file.

    ``parents``: a missing folder is fine (the writer creates it), as for evaluation outputs.
    """
    if path.is_dir():
        raise ConfigError(f"{option}: {path} is a directory; give a file name, e.g. {path / 'report.html'}")
    if parents:
        for parent in path.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise ConfigError(f"{option}: {parent} is a file, so {path} cannot be created under it")
                break
        return path
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


def check_input_file(path: Path, option: str, what: str) -> Path:
    """Fail early, naming ``option``, when ``path`` is missing or not a regular file."""
    if path.is_dir():
        raise ConfigError(f"{option}: {path} is a folder; give {what}")
    if not path.is_file():
        raise ConfigError(f"{option}: {path} does not exist; give {what}")
    return path
