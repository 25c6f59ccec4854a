"""Issue #22, point 7: more metadata addresses and IPv6 forms that embed an IPv4 address; DNS failures that are final."""
from __future__ import annotations

import socket

import pytest

from imgapi.core import safe_fetch
from imgapi.core.errors import JobFailure
from imgapi.core.safe_fetch import FetchError, fetch, refusal
from imgapi.imagefiles.remote_images import ImageUnavailable, download_image


@pytest.mark.parametrize("address", [
    "192.0.0.192",  # Oracle Cloud's metadata service
    "2002:a9fe:a9fe::1",  # 6to4 around 169.254.169.254
    "64:ff9b::a9fe:a9fe",  # NAT64 around 169.254.169.254
    "64:ff9b::192.0.0.192",
])
def test_metadata_addresses_in_any_form_are_refused_even_with_private_hosts_allowed(address):
    assert refusal(address, allow_private=True) is not None
    assert "metadata" in refusal(address, allow_private=False)


@pytest.mark.parametrize("address", ["2002:0a00:0001::1", "2002:c0a8:0101::1", "64:ff9b::10.0.0.1", "64:ff9b:1::7f00:1"])
def test_6to4_and_nat64_forms_of_private_addresses_are_refused(address):
    assert refusal(address, allow_private=False) is not None


@pytest.mark.parametrize("address", ["2002:0808:0808::1", "64:ff9b::8.8.8.8"])
def test_6to4_and_nat64_forms_of_public_addresses_pass(address):
    assert refusal(address, allow_private=False) is None


def _dns_fails(monkeypatch, errno):
    def fail(*args, **kwargs):
        raise socket.gaierror(errno, "resolver says no")

    monkeypatch.setattr(safe_fetch.socket, "getaddrinfo", fail)


def test_a_host_that_does_not_exist_fails_the_job_at_once_with_url_unresolvable(monkeypatch):
    _dns_fails(monkeypatch, socket.EAI_NONAME)
    with pytest.raises(FetchError) as nxdomain:
        fetch("http://no-such-host.example/a.png")
    assert nxdomain.value.code == "url_unresolvable" and not nxdomain.value.retryable
    with pytest.raises(JobFailure) as failed:  # not ImageUnavailable: no redeliveries ending in retries_exhausted
        download_image("http://no-such-host.example/a.png", what="image_url", max_bytes=1000, max_pixels=1000)
    assert failed.value.code == "url_unresolvable"


def test_a_resolver_that_fails_for_now_is_retried(monkeypatch):
    _dns_fails(monkeypatch, socket.EAI_AGAIN)
    with pytest.raises(ImageUnavailable):
        download_image("http://images.example/a.png", what="image_url", max_bytes=1000, max_pixels=1000)
