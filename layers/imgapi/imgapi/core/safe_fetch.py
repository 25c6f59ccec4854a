"""The one way our code downloads a URL it was given (an input image, a DashScope result): safely.

- http and https only, no credentials in the URL;
- the host is resolved and every address it resolves to is checked: private, loopback, link-local,
  reserved, multicast and cloud metadata addresses (169.254.169.254, fd00:ec2::254) are refused;
- the connection goes to the very address that was checked (no second DNS lookup an attacker could
  answer differently), with the real host name for TLS (SNI and certificate check) and the Host header;
- redirects are followed by hand, each one checked the same way, at most MAX_REDIRECTS;
- the body is streamed and cut off at `max_bytes`; connect, read and overall timeouts apply.

FETCH_ALLOW_PRIVATE_HOSTS=true lets private and loopback addresses through (the test servers and the
fake DashScope live on 127.0.0.1); metadata, link-local, multicast and reserved addresses stay refused.

`post` calls an outside URL (a webhook) under the same rules, except that no redirect is ever followed; `check_url`
applies the address rules alone (a URL given now, called later).
"""
from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error

from imgapi.core.settings import get_settings

MAX_REDIRECTS = 5
CHUNK_BYTES = 64 * 1024  # at most this much per read
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
                                ipaddress.ip_address("192.0.0.192")})  # AWS, AWS IPv6, Oracle Cloud
# IPv6 forms that carry an IPv4 address a router may translate to: judged by the IPv4 address inside.
NAT64_NETWORKS = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
USER_AGENT = "imgapi-fetch/1"
_PERMANENT_DNS_ERRORS = frozenset(e for e in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None))
                                  if e is not None)


class FetchError(Exception):
    """A URL could not be fetched. `retryable`: the same request may work later (timeouts, 5xx, 429)."""

    def __init__(self, message: str, *, code: str, retryable: bool = False, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable
        self.status = status


@dataclass(frozen=True)
class Fetched:
    data: bytes
    content_type: str
    url: str  # the final URL, after redirects


@dataclass(frozen=True)
class FetchLimits:
    """`total_timeout` bounds the whole fetch (redirects, connects and every read), enforced on each socket read.
    20 s by default: well under the image worker's 60 s Lambda timeout, so one slow URL cannot cost a whole
    invocation (and its redeliveries)."""

    max_bytes: int = 20 * 1024 * 1024
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 20.0


def refusal(address: str, *, allow_private: bool) -> str | None:
    """Why an address may not be fetched from, or None when it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and any(ip in network for network in NAT64_NETWORKS):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            if ip.ipv4_mapped is None:  # 6to4, Teredo, NAT64: refused whenever the IPv4 inside would be
                inner = refusal(str(embedded), allow_private=allow_private)
                return f"{inner} inside an IPv6 address" if inner else None
            ip = embedded
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_loopback:  # before is_reserved: ::1 is in a reserved block too
        return None if allow_private else "a loopback address"
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return "a reserved address"
    if not ip.is_global and not allow_private:
        return "a private address"
    return None


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as exc:
        raise FetchError(f"the host {host!r} is not a valid host name", code="url_unresolvable") from exc
    except socket.gaierror as exc:
        # The name does not exist (NXDOMAIN, no address): an authoritative answer that retrying will not change,
        # so the job fails at once with url_unresolvable. A resolver that fails for now (EAI_AGAIN) is retried.
        permanent = exc.errno in _PERMANENT_DNS_ERRORS
        raise FetchError(f"the host {host!r} could not be resolved" + (" (no such host)" if permanent else ""),
                         code="url_unresolvable", retryable=not permanent) from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise FetchError(f"the host {host!r} has no address", code="url_unresolvable", retryable=True)
    return addresses


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str


def _check(url: str, allow_private: bool) -> _Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError("only http and https URLs can be fetched", code="url_refused")
    if not parts.hostname:
        raise FetchError("the URL has no host", code="url_refused")
    if parts.username or parts.password:
        raise FetchError("URLs with credentials in them are not fetched", code="url_refused")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise FetchError("the URL's port is not valid", code="url_refused") from exc
    addresses = _resolve(parts.hostname, port)
    for address in addresses:
        reason = refusal(address, allow_private=allow_private)
        if reason:
            raise FetchError(f"the URL's host {parts.hostname} resolves to {reason} ({address}); only public "
                             "hosts can be fetched", code="url_refused")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(parts.scheme, parts.hostname, port, path, addresses[0])


def _pool(target: _Target, limits: FetchLimits, read_timeout: float):
    timeout = urllib3.Timeout(connect=limits.connect_timeout, read=read_timeout)
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(target.address, target.port, timeout=timeout, retries=False,
                                           cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(),
                                           server_hostname=target.host, assert_hostname=target.host)
    return urllib3.HTTPConnectionPool(target.address, target.port, timeout=timeout, retries=False)


def _host_header(target: _Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = 443 if target.scheme == "https" else 80
    return host if target.port == default else f"{host}:{target.port}"


def _read_body(response, url: str, limits: FetchLimits, deadline: float) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limits.max_bytes:
        raise FetchError(f"{_short(url)} is {declared} bytes; the limit is {limits.max_bytes}", code="file_too_large")
    chunks, size = [], 0
    while True:
        # The deadline holds on every read: each socket read may wait only for the time left (a server dripping one
        # byte at a time would otherwise reset the read timeout forever), and read1 returns what one read got.
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _too_slow(url, limits)
        sock = getattr(response.connection, "sock", None)
        if sock is not None:
            sock.settimeout(min(limits.read_timeout, remaining))
        try:
            chunk = response.read1(CHUNK_BYTES)
        except (Urllib3Error, OSError) as exc:
            if remaining <= limits.read_timeout:  # this read could wait only until the deadline
                raise _too_slow(url, limits) from exc
            raise
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limits.max_bytes:
            raise FetchError(f"{_short(url)} is larger than the limit of {limits.max_bytes} bytes", code="file_too_large")
        chunks.append(chunk)


def _too_slow(url: str, limits: FetchLimits) -> FetchError:
    return FetchError(f"{_short(url)} took longer than {limits.total_timeout:g} s to download", code="fetch_timeout",
                      retryable=True)


def _short(url: str) -> str:
    """A URL without its query string (which may hold a signature) for messages and logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def fetch(url: str, limits: FetchLimits | None = None, *, allow_private: bool | None = None) -> Fetched:
    """GET a URL under the rules above; FetchError saying why not."""
    limits = limits or FetchLimits()
    allow = get_settings().fetch_allow_private_hosts if allow_private is None else allow_private
    deadline = time.monotonic() + limits.total_timeout
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        target = _check(current, allow)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError(f"{_short(url)} took longer than {limits.total_timeout:g} s", code="fetch_timeout", retryable=True)
        pool = _pool(target, limits, min(limits.read_timeout, remaining))
        try:
            response = pool.urlopen("GET", target.path, headers={"Host": _host_header(target), "User-Agent": USER_AGENT,
                                                                 "Accept": "image/*, */*;q=0.5"},
                                    redirect=False, retries=False, preload_content=False, assert_same_host=False)
            try:
                if response.status in REDIRECT_STATUSES and response.headers.get("Location"):
                    current = urljoin(current, response.headers["Location"])
                    continue
                if response.status != 200:
                    raise FetchError(f"{_short(current)} answered HTTP {response.status}", code="fetch_failed",
                                     retryable=response.status in (408, 425, 429) or response.status >= 500,
                                     status=response.status)
                data = _read_body(response, current, limits, deadline)
                return Fetched(data, response.headers.get("Content-Type", "application/octet-stream"), current)
            finally:
                response.release_conn()
        except (Urllib3Error, OSError) as exc:
            raise FetchError(f"{_short(current)} could not be downloaded: {type(exc).__name__}", code="fetch_failed",
                             retryable=True) from exc
        finally:
            pool.close()
    raise FetchError(f"{_short(url)} redirected more than {MAX_REDIRECTS} times", code="too_many_redirects")


# -- calling an outside URL (webhooks) ----------------------------------------------------------------------------


def _allow(allow_private: bool | None) -> bool:
    return get_settings().fetch_allow_private_hosts if allow_private is None else allow_private


def check_url(url: str, *, allow_private: bool | None = None) -> None:
    """FetchError when `url` may not be called: its scheme, credentials, port, or an address its host resolves to."""
    _check(url, _allow(allow_private))


def _skim(response, max_bytes: int, deadline: float) -> None:
    """Read at most `max_bytes` of an answer nobody uses, until the deadline; the status has been read already, so
    a failure here changes nothing."""
    left = max_bytes
    try:
        while left > 0:
            remaining = deadline - time.monotonic()
            sock = getattr(response.connection, "sock", None)
            if remaining <= 0:
                return
            if sock is not None:
                sock.settimeout(remaining)
            chunk = response.read1(left)
            if not chunk:
                return
            left -= len(chunk)
    except (Urllib3Error, OSError):
        return


def post(url: str, body: bytes, headers: dict[str, str], *, allow_private: bool | None = None,
         timeout: float = 5.0, max_response_bytes: int = 4096) -> int:
    """POST `body` to an outside URL under the rules above: the target checked and the connection made to the
    checked address; no redirect followed (a 3xx is returned as it came); `timeout` for connecting and for the answer;
    at most `max_response_bytes` of the answer read, none of it kept. The answer's HTTP status, or FetchError
    (url_refused, url_unresolvable; fetch_timeout or fetch_failed when there was no answer)."""
    target = _check(url, _allow(allow_private))
    deadline = time.monotonic() + timeout
    pool = _pool(target, FetchLimits(connect_timeout=timeout, read_timeout=timeout, total_timeout=timeout), timeout)
    try:
        response = pool.urlopen("POST", target.path, body=body,
                                headers={"Host": _host_header(target), "User-Agent": USER_AGENT, **headers},
                                redirect=False, retries=False, preload_content=False, assert_same_host=False)
        try:
            _skim(response, max_response_bytes, deadline)
        finally:
            response.release_conn()
        return response.status
    except (Urllib3Error, OSError) as exc:
        timed_out = isinstance(exc, (TimeoutError, socket.timeout, urllib3.exceptions.TimeoutError))
        raise FetchError(f"{_short(url)} " + (f"did not answer within {timeout:g} s" if timed_out else
                                              f"could not be reached: {type(exc).__name__}"),
                         code="fetch_timeout" if timed_out else "fetch_failed", retryable=True) from exc
    finally:
        pool.close()
