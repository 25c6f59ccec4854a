"""Runtime configuration, read once from the environment that template.yaml sets."""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise RuntimeError(f"environment variable {name} must be an integer, got {raw!r}") from exc


def _list(name: str, default: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in os.environ.get(name, default).split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    jobs_table: str
    users_table: str
    configs_table: str
    bucket: str
    image_queue_url: str
    jwt_secret_id: str
    token_ttl_seconds: int
    max_upload_bytes: int
    max_input_pixels: int
    max_output_edge: int
    rembg_models: tuple[str, ...]
    default_rembg_model: str
    max_receive_count: int
    presign_ttl_seconds: int
    inline_result_max_bytes: int

    @classmethod
    def from_env(cls) -> "Settings":
        models = _list("REMBG_MODELS", "u2net")
        return cls(
            jobs_table=os.environ.get("JOBS_TABLE", ""),
            users_table=os.environ.get("USERS_TABLE", ""),
            configs_table=os.environ.get("CONFIGS_TABLE", ""),
            bucket=os.environ.get("BUCKET_NAME", ""),
            image_queue_url=os.environ.get("IMAGE_QUEUE_URL", ""),
            jwt_secret_id=os.environ.get("JWT_SECRET_ARN", ""),
            token_ttl_seconds=_int("TOKEN_TTL_SECONDS", 3600),
            max_upload_bytes=_int("MAX_UPLOAD_BYTES", 10 * 1024 * 1024),
            max_input_pixels=_int("MAX_INPUT_PIXELS", 40_000_000),
            max_output_edge=_int("MAX_OUTPUT_EDGE", 4096),
            rembg_models=models,
            default_rembg_model=os.environ.get("DEFAULT_REMBG_MODEL", models[0] if models else "u2net"),
            # Must equal the queue's RedrivePolicy maxReceiveCount: the last delivery fails the job.
            max_receive_count=_int("MAX_RECEIVE_COUNT", 3),
            presign_ttl_seconds=_int("PRESIGN_TTL_SECONDS", 900),
            # A Lambda response carries 6 MB; base64 costs a third, so ~4.4 MB of bytes fit.
            inline_result_max_bytes=_int("INLINE_RESULT_MAX_BYTES", 4_400_000),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()
