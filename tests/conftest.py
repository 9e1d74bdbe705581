from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VIDEOS = ROOT / "tests" / "data" / "videos"

# The suite runs the same whatever the developer's shell exports (a VT_AGENT_ALLOWED_ROOTS set for
# the MCP server would restrict every graph test, VT_AGENT_BACKEND would change the defaults).
for _name in [n for n in os.environ if n.startswith("VT_AGENT_")]:
    del os.environ[_name]


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if any("gpu" in item.keywords for item in items) and not _has_cuda():
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def videos_dir() -> Path:
    return VIDEOS


@pytest.fixture(scope="session")
def bbb() -> Path:
    return VIDEOS / "bigbuckbunny.mp4"


@pytest.fixture(scope="session")
def city() -> Path:
    return VIDEOS / "cityCC0.mpg"


@pytest.fixture(scope="session")
def vtest() -> Path:
    return VIDEOS / "vtest.avi"


@pytest.fixture()
def tmp_videos(tmp_path: Path) -> Path:
    """A writable copy of the bundled clips."""
    out = tmp_path / "videos"
    out.mkdir()
    for p in VIDEOS.glob("*.*"):
        if p.suffix in {".mp4", ".mpg", ".avi"}:
            shutil.copy(p, out / p.name)
    return out
