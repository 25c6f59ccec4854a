"""How a background is removed: which rembg model, and how its mask is refined (the engine's own settings).

Plain values, so that saved configurations (removal_configs) and requests can build them without loading the engine.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RemovalConfig:
    model: str
    alpha_matting: bool = False
    alpha_matting_foreground_threshold: int = 240
    alpha_matting_background_threshold: int = 10
    alpha_matting_erode_size: int = 10
    post_process_mask: bool = False
    bgcolor: tuple[int, int, int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["bgcolor"] = list(self.bgcolor) if self.bgcolor else None
        return data
