"""Small helpers for rows kept in DynamoDB: timestamps and number conversion."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError


def now_iso() -> str:
    """UTC, millisecond precision, sortable as a string (used as a sort key)."""
    return iso_at(datetime.now(timezone.utc).timestamp())


def iso_at(epoch_seconds: float) -> str:
    """An instant in now_iso's form, to compare with stored timestamps as strings."""
    return datetime.fromtimestamp(epoch_seconds, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_of(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def plain(value: Any) -> Any:
    """DynamoDB numbers come back as Decimal; callers want ints and floats."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def storable(value: Any) -> Any:
    """What DynamoDB accepts: floats become Decimals (boto3 refuses floats)."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


def is_condition_failure(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] == "ConditionalCheckFailedException"
