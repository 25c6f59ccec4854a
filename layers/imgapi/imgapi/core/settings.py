"""Runtime configuration, read once from the environment that template.yaml sets."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache


def _number(name: str, default, kind, what: str):
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return kind(raw)
    except ValueError as exc:
        raise RuntimeError(f"environment variable {name} must be {what}, got {raw!r}") from exc


def _int(name: str, default: int) -> int:
    return _number(name, default, int, "an integer")


def _list(name: str, default: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in os.environ.get(name, default).split(",") if item.strip())


def _float(name: str, default: float) -> float:
    return _number(name, default, float, "a number")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes")


DASHSCOPE_DEFAULT_BASE_URL = "https://dashscope.aliyuncs.com/api/v1"
# DashScope's regions and their base URLs (docs/dashscope.md): without a workspace, the region's shared host;
# with DASHSCOPE_WORKSPACE_ID, the workspace endpoint the 2026 references recommend (Frankfurt has only that).
DASHSCOPE_REGION_URLS = {
    "cn-beijing": "https://dashscope.aliyuncs.com/api/v1",
    "ap-southeast-1": "https://dashscope-intl.aliyuncs.com/api/v1",
    "us-east-1": "https://dashscope-us.aliyuncs.com/api/v1",
    "eu-central-1": "",
}
DASHSCOPE_WORKSPACE_URL = "https://{workspace}.{region}.maas.aliyuncs.com/api/v1"


def _dashscope_base_url(region: str, workspace: str) -> str:
    """DASHSCOPE_BASE_URL as given ({WorkspaceId} in it replaced), else the region's (workspace) endpoint."""
    given = os.environ.get("DASHSCOPE_BASE_URL", "").strip()
    if given:
        if "{WorkspaceId}" in given and not workspace:
            raise RuntimeError("DASHSCOPE_BASE_URL holds {WorkspaceId}: set DASHSCOPE_WORKSPACE_ID too")
        return given.replace("{WorkspaceId}", workspace).rstrip("/")
    if workspace and region != "us-east-1":
        return DASHSCOPE_WORKSPACE_URL.format(workspace=workspace, region=region)
    if not DASHSCOPE_REGION_URLS[region]:
        raise RuntimeError(f"DashScope's region {region} is reached through a workspace: set DASHSCOPE_WORKSPACE_ID")
    return DASHSCOPE_REGION_URLS[region]


@dataclass(frozen=True)
class DashScopeSettings:
    """The DashScope engine's configuration (the API key itself is read apart: see dashscope_client.api_key)."""

    base_url: str
    api_key_secret_arn: str
    queue_url: str
    slots_table: str
    # {"change_bg": "wanx-background-generation-v2", ...}: DASHSCOPE_MODEL_<OPERATION>, unset = the catalogue's default
    models: dict[str, str]
    # "model=n,model=n": overrides the catalogue's tasks-in-flight limit per model
    max_in_flight: dict[str, int]
    poll_interval: float  # the official SDK's: 1 s, doubling every 3 polls, up to 5 s
    poll_max_interval: float
    retry_attempts: int  # HTTP 429/5xx: attempts per request, waits base, 2x base, 4x base ... capped
    retry_base_delay: float
    retry_max_delay: float
    task_deadline_seconds: float  # from submit to a terminal state, whatever happens
    slot_retry_seconds: float  # a job that finds no free slot comes back after about this long
    max_queue_seconds: float  # ... and fails when it has waited this long in all
    region: str = "cn-beijing"  # DASHSCOPE_REGION: which models exist there (dashscope/models.py)
    workspace_id: str = ""  # DASHSCOPE_WORKSPACE_ID: the workspace endpoint of the region

    @classmethod
    def from_env(cls) -> "DashScopeSettings":
        models = {key[len("DASHSCOPE_MODEL_"):].lower(): value.strip() for key, value in os.environ.items()
                  if key.startswith("DASHSCOPE_MODEL_") and value.strip()}
        limits = {}
        for item in _list("DASHSCOPE_MAX_IN_FLIGHT", ""):
            model, _, number = item.partition("=")
            if not number.strip().isdigit():
                raise RuntimeError(f"DASHSCOPE_MAX_IN_FLIGHT must look like 'model=2,other=1', got {item!r}")
            limits[model.strip()] = int(number)
        region = os.environ.get("DASHSCOPE_REGION", "").strip() or "cn-beijing"
        if region not in DASHSCOPE_REGION_URLS:
            raise RuntimeError(f"DASHSCOPE_REGION must be one of {', '.join(DASHSCOPE_REGION_URLS)}, got {region!r}")
        workspace = os.environ.get("DASHSCOPE_WORKSPACE_ID", "").strip()
        if workspace and not re.fullmatch(r"[A-Za-z0-9-]{1,64}", workspace):
            raise RuntimeError(f"DASHSCOPE_WORKSPACE_ID must be a workspace id (letters, digits, -), got {workspace!r}")
        return cls(
            base_url=_dashscope_base_url(region, workspace),
            region=region,
            workspace_id=workspace,
            api_key_secret_arn=os.environ.get("DASHSCOPE_API_KEY_SECRET_ARN", ""),
            queue_url=os.environ.get("DASHSCOPE_QUEUE_URL", ""),
            slots_table=os.environ.get("DASHSCOPE_SLOTS_TABLE", ""),
            models=models,
            max_in_flight=limits,
            poll_interval=_float("DASHSCOPE_POLL_INTERVAL_SECONDS", 1.0),
            poll_max_interval=_float("DASHSCOPE_POLL_MAX_INTERVAL_SECONDS", 5.0),
            retry_attempts=max(1, _int("DASHSCOPE_RETRY_ATTEMPTS", 4)),
            retry_base_delay=_float("DASHSCOPE_RETRY_BASE_SECONDS", 1.0),
            retry_max_delay=_float("DASHSCOPE_RETRY_MAX_SECONDS", 8.0),
            task_deadline_seconds=_float("DASHSCOPE_TASK_DEADLINE_SECONDS", 240.0),
            slot_retry_seconds=_float("DASHSCOPE_SLOT_RETRY_SECONDS", 15.0),
            max_queue_seconds=_float("DASHSCOPE_MAX_QUEUE_SECONDS", 3600.0),
        )

    @property
    def configured(self) -> bool:
        """Whether there is a key to call DashScope with (in the environment, or a secret to read it from)."""
        return bool(os.environ.get("DASHSCOPE_API_KEY") or self.api_key_secret_arn)


@dataclass(frozen=True)
class Settings:
    jobs_table: str
    users_table: str
    configs_table: str
    api_keys_table: str
    bucket: str
    image_queue_url: str
    jwt_secret_id: str
    token_ttl_seconds: int
    max_upload_bytes: int
    max_input_pixels: int
    max_output_edge: int
    rembg_models: tuple[str, ...]
    default_rembg_model: str
    fix_sr_model: str
    expand_model: str
    max_receive_count: int
    presign_ttl_seconds: int
    upload_url_ttl_seconds: int
    inline_result_max_bytes: int
    fetch_allow_private_hosts: bool
    usage_table: str
    submits_per_minute: int
    jobs_per_day: int
    stuck_job_seconds: int
    last_delivery_grace_seconds: int
    dashscope: DashScopeSettings

    @classmethod
    def from_env(cls) -> "Settings":
        models = _list("REMBG_MODELS", "u2net")
        return cls(
            jobs_table=os.environ.get("JOBS_TABLE", ""),
            users_table=os.environ.get("USERS_TABLE", ""),
            configs_table=os.environ.get("CONFIGS_TABLE", ""),
            api_keys_table=os.environ.get("API_KEYS_TABLE", ""),
            bucket=os.environ.get("BUCKET_NAME", ""),
            image_queue_url=os.environ.get("IMAGE_QUEUE_URL", ""),
            jwt_secret_id=os.environ.get("JWT_SECRET_ARN", ""),
            token_ttl_seconds=_int("TOKEN_TTL_SECONDS", 3600),
            max_upload_bytes=_int("MAX_UPLOAD_BYTES", 10 * 1024 * 1024),
            max_input_pixels=_int("MAX_INPUT_PIXELS", 40_000_000),
            max_output_edge=_int("MAX_OUTPUT_EDGE", 4096),
            rembg_models=models,
            default_rembg_model=os.environ.get("DEFAULT_REMBG_MODEL", models[0] if models else "u2net"),
            # The local fix's enlargement: a network of engine/super_resolution.MODELS, or "classical".
            fix_sr_model=os.environ.get("FIX_SR_MODEL") or "REALESRGAN_ANIMAVIDEOV3_UP4X",
            # The local expand's inpainting model: the path of an ONNX file baked into the worker image (its Dockerfile's
            # EXPAND_MODEL_URL); empty: the exemplar synthesis (engine/outpaint.py).
            expand_model=os.environ.get("EXPAND_MODEL", ""),
            # Must equal the queue's RedrivePolicy maxReceiveCount: the last delivery fails the job.
            max_receive_count=_int("MAX_RECEIVE_COUNT", 3),
            presign_ttl_seconds=_int("PRESIGN_TTL_SECONDS", 900),
            # How long a presigned upload (POST /api/v1/uploads) may be used.
            upload_url_ttl_seconds=_int("UPLOAD_URL_TTL_SECONDS", 900),
            # A Lambda response carries 6 MB; base64 costs a third, so ~4.4 MB of bytes fit.
            inline_result_max_bytes=_int("INLINE_RESULT_MAX_BYTES", 4_400_000),
            # Only for tests and the local stack, whose servers live on 127.0.0.1 (see safe_fetch).
            fetch_allow_private_hosts=_flag("FETCH_ALLOW_PRIVATE_HOSTS"),
            # Per-user limits on submits (quotas.py); 0 turns one off.
            usage_table=os.environ.get("USAGE_TABLE", ""),
            submits_per_minute=_int("SUBMITS_PER_MINUTE", 60),
            jobs_per_day=_int("JOBS_PER_DAY", 2000),
            # The sweeper (sweeper.py): a job untouched this long is failed, whatever its state; longer than any
            # legitimate wait (DashScope queueing, retries, a backlog on the queues).
            stuck_job_seconds=_int("STUCK_JOB_SECONDS", 6 * 3600),
            # ... and a job whose last delivery's worker went silent is failed once that delivery's visibility
            # timeout (the longest of the two queues') has surely passed.
            last_delivery_grace_seconds=_int("LAST_DELIVERY_GRACE_SECONDS", 1800 + 120),
            dashscope=DashScopeSettings.from_env(),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()


@dataclass(frozen=True)
class WebhookSettings:
    """Webhooks (docs/webhooks.md): the delivery queue and its dead-letter queue, the per-user secrets' table, the
    retry schedule (core/webhooks.parse_schedule), the grace period of a rotated secret and an attempt's timeout."""

    queue_url: str
    dead_letter_queue_url: str
    secrets_table: str
    retry_schedule: str
    rotation_grace_seconds: int
    timeout_seconds: float

    @classmethod
    def from_env(cls) -> "WebhookSettings":
        return cls(queue_url=os.environ.get("WEBHOOK_QUEUE_URL", ""),
                   dead_letter_queue_url=os.environ.get("WEBHOOK_DLQ_URL", ""),
                   secrets_table=os.environ.get("WEBHOOK_SECRETS_TABLE", ""),
                   retry_schedule=os.environ.get("WEBHOOK_RETRY_SCHEDULE", ""),
                   rotation_grace_seconds=_int("WEBHOOK_ROTATION_GRACE_SECONDS", 24 * 3600),
                   timeout_seconds=_float("WEBHOOK_TIMEOUT_SECONDS", 5.0))


def get_webhook_settings() -> WebhookSettings:
    """Read at each call (cheap), so a test or the local stack may change them."""
    return WebhookSettings.from_env()
