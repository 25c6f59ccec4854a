"""Images a worker downloads from a URL (a job's image_url, a DashScope result): fetched safely, checked like uploads."""
from __future__ import annotations

from urllib.parse import urlsplit

from imgapi.core.errors import ApiError, JobFailure
from imgapi.imagefiles.image_input import ImageInfo, inspect_image
from imgapi.core.safe_fetch import FetchError, FetchLimits, fetch


class ImageUnavailable(Exception):
    """The image could not be had this time (timeout, 5xx, 429, a resolver failing for now): trying again may work.
    `code` says why (safe_fetch's: fetch_timeout, fetch_failed, url_unresolvable) and `host` where, for one log line
    per attempt and, should every delivery fail so, the job's error code (jobs.job_runs)."""

    def __init__(self, message: str, *, code: str = "fetch_failed", host: str | None = None):
        super().__init__(message)
        self.code, self.host = code, host


def download_image(url: str, *, what: str, max_bytes: int, max_pixels: int) -> tuple[bytes, ImageInfo]:
    """The image at `url` and what it is. JobFailure when it can never work (refused URL, 404, not an image,
    too large); ImageUnavailable when it may work later. `what` names the image in messages ("image_url")."""
    try:
        fetched = fetch(url, FetchLimits(max_bytes=max_bytes))
    except FetchError as exc:
        if exc.retryable:
            raise ImageUnavailable(f"{what}: {exc.message}", code=exc.code, host=urlsplit(url).hostname) from exc
        raise JobFailure(f"{what} could not be downloaded: {exc.message}", code=exc.code) from exc
    try:
        info = inspect_image(fetched.data, max_bytes=max_bytes, max_pixels=max_pixels)
    except ApiError as exc:
        raise JobFailure(f"{what}: {exc.message}", code=exc.code) from exc
    return fetched.data, info
