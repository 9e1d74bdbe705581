"""What a video becomes before it reaches a backend: frames plus the record of how they were taken."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vt_agent.result import SamplingRecord

__all__ = ["PreparedVideo"]


@dataclass(frozen=True)
class PreparedVideo:
    """Sampled, resized frames (T, H, W, 3 uint8) and the record of how they were taken."""

    frames: np.ndarray
    record: SamplingRecord
