"""The safe fetcher: only public http(s) hosts, every redirect checked, sizes and time capped."""
from __future__ import annotations

import socket

import pytest

from imgapi.core import safe_fetch
from imgapi.core.safe_fetch import FetchError, FetchLimits, fetch, refusal
from imgapi.core.settings import get_settings
from tests.support.http_server import ScriptedServer


@pytest.fixture
def server():
    with ScriptedServer() as s:
        s.route("/a.png", body=b"\x89PNG fake", content_type="image/png")
        yield s


@pytest.fixture
def private_allowed(monkeypatch):
    monkeypatch.setenv("FETCH_ALLOW_PRIVATE_HOSTS", "true")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_127_0_0_1_url_is_refused_by_default(server, monkeypatch):
    monkeypatch.delenv("FETCH_ALLOW_PRIVATE_HOSTS", raising=False)
    get_settings.cache_clear()
    with pytest.raises(FetchError) as refused:
        fetch(server.url("/a.png"))
    assert refused.value.code == "url_refused" and "loopback" in refused.value.message
    assert not refused.value.retryable
    assert server.requests == []  # refused before connecting


def test_the_setting_lets_test_servers_on_127_0_0_1_through(server, private_allowed):
    fetched = fetch(server.url("/a.png"))
    assert fetched.data == b"\x89PNG fake" and fetched.content_type == "image/png"


@pytest.mark.parametrize("address,allowed_with_setting", [
    ("169.254.169.254", False), ("fd00:ec2::254", False), ("169.254.10.1", False), ("fe80::1", False),
    ("127.0.0.1", True), ("::1", True), ("10.1.2.3", True), ("192.168.0.1", True), ("172.16.5.5", True),
    ("100.64.0.1", True), ("::ffff:127.0.0.1", True), ("fd12:3456::1", True),
    ("0.0.0.0", False), ("224.0.0.1", False), ("240.0.0.1", False),
])
def test_internal_addresses_are_refused_and_metadata_always(address, allowed_with_setting):
    assert refusal(address, allow_private=False) is not None
    assert (refusal(address, allow_private=True) is None) == allowed_with_setting


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "8.8.8.8"])
def test_public_addresses_pass(address):
    assert refusal(address, allow_private=False) is None


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.png", "gopher://x/", "http://user:pw@example.com/a",
                                 "http:///nohost", "data:image/png;base64,AAAA"])
def test_other_schemes_credentials_and_hostless_urls_are_refused(url):
    with pytest.raises(FetchError) as refused:
        fetch(url, allow_private=True)
    assert refused.value.code == "url_refused"


def _resolve_as(monkeypatch, mapping: dict[str, str]):
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        if host in mapping:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (mapping[host], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(safe_fetch.socket, "getaddrinfo", fake)


def test_a_public_name_that_resolves_to_a_private_address_is_refused(monkeypatch):
    _resolve_as(monkeypatch, {"images.example.com": "10.0.0.7"})
    with pytest.raises(FetchError) as refused:
        fetch("http://images.example.com/a.png", allow_private=False)
    assert "10.0.0.7" in refused.value.message and "private" in refused.value.message


def test_the_connection_goes_to_the_checked_address_with_the_real_host_header(server, monkeypatch):
    _resolve_as(monkeypatch, {"images.test": "127.0.0.1"})
    fetched = fetch(server.url("/a.png", host="images.test"), allow_private=True)
    assert fetched.data == b"\x89PNG fake"
    (_, headers), = server.requests
    assert headers["host"] == f"images.test:{server.port}"


def test_redirects_are_followed_and_each_one_is_checked(server, monkeypatch):
    server.route("/moved", status=302, headers={"Location": "/a.png"})
    assert fetch(server.url("/moved"), allow_private=True).data == b"\x89PNG fake"
    server.route("/to-metadata", status=301, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    with pytest.raises(FetchError) as refused:
        fetch(server.url("/to-metadata"), allow_private=True)
    assert refused.value.code == "url_refused" and "metadata" in refused.value.message
    _resolve_as(monkeypatch, {"public.example": "93.184.215.14"})
    # A public URL may not redirect to a private one either.
    server.route("/to-private", status=307, headers={"Location": server.url("/a.png")})
    with pytest.raises(FetchError):
        fetch(server.url("/to-private"), allow_private=False)


def test_a_redirect_loop_stops(server):
    server.route("/loop", status=302, headers={"Location": "/loop"})
    with pytest.raises(FetchError) as looped:
        fetch(server.url("/loop"), allow_private=True)
    assert looped.value.code == "too_many_redirects"
    assert len(server.requests) == safe_fetch.MAX_REDIRECTS + 1


def test_the_size_is_capped_from_the_header_and_while_streaming(server):
    server.route("/big", body=b"x" * 1000, repeat_body=100)
    with pytest.raises(FetchError) as declared:
        fetch(server.url("/big"), FetchLimits(max_bytes=50_000), allow_private=True)
    assert declared.value.code == "file_too_large"
    server.route("/stream", body=b"x" * 1000, repeat_body=100, chunked=True)
    with pytest.raises(FetchError) as streamed:
        fetch(server.url("/stream"), FetchLimits(max_bytes=50_000), allow_private=True)
    assert streamed.value.code == "file_too_large"
    assert len(fetch(server.url("/stream"), FetchLimits(max_bytes=200_000), allow_private=True).data) == 100_000


def test_http_errors_say_whether_trying_again_may_help(server):
    server.route("/gone", status=404)
    server.route("/busy", status=503)
    with pytest.raises(FetchError) as gone:
        fetch(server.url("/gone"), allow_private=True)
    assert gone.value.status == 404 and not gone.value.retryable
    with pytest.raises(FetchError) as busy:
        fetch(server.url("/busy"), allow_private=True)
    assert busy.value.status == 503 and busy.value.retryable


def test_a_server_that_does_not_answer_in_time_is_given_up(server):
    server.route("/slow", body=b"late", delay=1.0)
    with pytest.raises(FetchError) as slow:
        fetch(server.url("/slow"), FetchLimits(read_timeout=0.2), allow_private=True)
    assert slow.value.retryable and "/slow" in slow.value.message


def test_messages_never_carry_the_query_string(server):
    server.route("/signed.png", status=403)
    with pytest.raises(FetchError) as refused:
        fetch(server.url("/signed.png?Signature=secret123"), allow_private=True)
    assert "secret123" not in refused.value.message


def _self_signed(tmp_path, hostname: str):
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_https_keeps_the_host_name_for_sni_and_the_certificate_check(server, tmp_path, monkeypatch):
    import ssl

    cert_file, key_file = _self_signed(tmp_path, "images.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server._server.socket = context.wrap_socket(server._server.socket, server_side=True)
    monkeypatch.setattr(safe_fetch.certifi, "where", lambda: str(cert_file))
    _resolve_as(monkeypatch, {"images.test": "127.0.0.1", "other.test": "127.0.0.1"})
    url = f"https://images.test:{server.port}/a.png"
    assert fetch(url, allow_private=True).data == b"\x89PNG fake"
    # The same server under a name its certificate does not carry: refused by the certificate check.
    with pytest.raises(FetchError):
        fetch(f"https://other.test:{server.port}/a.png", allow_private=True)
