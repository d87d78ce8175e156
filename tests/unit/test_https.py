"""HTTPS logic without hosts: the certificate plan, renewal time, the CA's words, port conflicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exitkit import checks
from exitkit.https import ca_message, certificate_plan, https_files, needs_asking, parse_served, renewal_due
from exitkit.notice.files import TLS_INCLUDE, notice_files
from exitkit.plan import exit_policy_of
from exitkit.releases import DEBIAN_12, DEBIAN_13
from exitkit.settings import RelaySettings
from tests.unit.test_settings import errors_of, find, host

BASE = dict(nickname="exit1", operator_name="Op", abuse_email="abuse@example.org")


def settings(**more) -> RelaySettings:
    return RelaySettings(**{**BASE, "acme_terms_accepted": True, **more})


def test_a_name_and_addresses_on_debian_13():
    plan = certificate_plan(settings(public_ipv4="192.0.2.1", public_ipv6="2001:db8::1", acme_ip_certificates=True),
                            "exit-1.example.org", DEBIAN_13)
    assert plan.identifiers == ("exit-1.example.org", "ip:192.0.2.1", "ip:2001:db8::1")
    assert not plan.why_not and not plan.notes


def test_debian_12_gets_its_name_only_and_a_note():
    plan = certificate_plan(settings(public_ipv4="192.0.2.1", acme_ip_certificates=True), "exit-1.example.org",
                            DEBIAN_12)
    assert plan.identifiers == ("exit-1.example.org",)
    assert "Debian 12's dehydrated 0.7.0 cannot ask for IP address certificates" in plan.notes[0]


@pytest.mark.parametrize(("more", "hostname", "why"), [
    ({}, "", "no HTTPS: the relay has no DNS name (set domain or hostname) and acme_ip_certificates is off"),
    ({"acme_terms_accepted": False}, "exit-1.example.org", "no HTTPS: set acme_terms_accepted: true"),
    ({"https_port": 0}, "exit-1.example.org", "no HTTPS: https_port is 0"),
])
def test_no_https_and_why(more, hostname, why):
    plan = certificate_plan(settings(**more), hostname, DEBIAN_13)
    assert plan.why_not.startswith(why)
    assert https_files(settings(**more), plan) == []


def test_contact_defaults_to_the_abuse_address_and_profile_is_asked_only_for_addresses():
    plan = certificate_plan(settings(), "exit-1.example.org", DEBIAN_13)
    files = {f.path: f.content for f in https_files(settings(), plan)}
    assert 'CONTACT_EMAIL="abuse@example.org"' in files["/etc/exitkit/acme/config"]
    assert "shortlived" not in files["/usr/local/sbin/exitkit-acme-renew"]
    assert files["/etc/exitkit/acme/domains.txt"] == "exit-1.example.org > notice\n"


def test_lighttpd_includes_https_only_with_a_port_and_the_terms_accepted():
    def conf(**more):
        s = settings(**more)
        files = {f.path: f for f in notice_files(s, exit_policy_of(s), hostname="exit-1.example.org",
                                                  reboot_time=None, now=datetime(2026, 11, 30, tzinfo=UTC))}
        return files, files["/etc/lighttpd/lighttpd.conf"].content
    files, text = conf()
    assert f'include_shell "{TLS_INCLUDE}"' in text and '"0.0.0.0:443"' in files[TLS_INCLUDE].content
    assert "Canonical: https://exit-1.example.org/.well-known/security.txt" in \
        files["/var/www/exitkit/.well-known/security.txt"].content
    for off in ({"https_port": 0}, {"acme_terms_accepted": False}):
        files, text = conf(**off)
        assert "include_shell" not in text and TLS_INCLUDE not in files


@given(st.integers(1, 10_000), st.integers(0, 10_000))
def test_renewal_is_due_in_the_last_third(hours, after):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(hours=hours)
    now = start + timedelta(hours=after)
    assert renewal_due(start, end, now) == (3 * after >= 2 * hours)


OPENSSL = """notBefore=Nov 30 08:00:00 2026 GMT
notAfter=Dec  6 08:00:00 2026 GMT
serial=0ABC
X509v3 Subject Alternative Name:
    DNS:Exit-1.example.org, IP Address:192.0.2.1
--
2026-11-30T09:00:00Z
ERROR: Problem connecting to server"""


def test_served_certificate_is_read_from_openssl():
    served = parse_served(OPENSSL)
    assert served.names == ("exit-1.example.org", "ip:192.0.2.1") and served.serial == "0ABC"
    assert served.not_after == datetime(2026, 12, 6, 8, tzinfo=UTC)
    assert "Problem connecting" in served.last_failure
    plan = certificate_plan(settings(public_ipv4="192.0.2.1", acme_ip_certificates=True), "exit-1.example.org",
                            DEBIAN_13)
    assert not needs_asking(served, plan, datetime(2026, 12, 1, tzinfo=UTC))
    assert needs_asking(served, plan, datetime(2026, 12, 4, 9, tzinfo=UTC))  # a third of six days left
    assert needs_asking(parse_served("--"), plan, datetime(2026, 12, 1, tzinfo=UTC))
    # as pyinfra hands a fact's output over: its lines, the last newline gone
    assert parse_served(OPENSSL.split("\n--")[0] + "\n--") == parse_served(OPENSSL.split("\n--")[0] + "\n--\n")
    assert parse_served(OPENSSL.split("\n--")[0] + "\n--").present


def test_the_cas_words_are_kept():
    output = ' + Requesting...\nERROR: An error occurred\n\nDetails:\n{"type": "urn:ietf:params:acme:error:' \
             'rateLimited", "detail": "too many certificates (5) already issued for \\"example.org\\""}'
    assert ca_message(output) == 'too many certificates (5) already issued for "example.org"'
    assert ca_message("x\nERROR: Problem connecting to server (get for https://ca/dir; curl returned with 7)") \
        == "Problem connecting to server (get for https://ca/dir; curl returned with 7)"


def test_port_conflicts_are_named():
    assert checks.port_conflicts({"or_port": (443, 444), "http_port": (80,), "https_port": (444,)}) == \
        [("https_port", "or_port", 444)]
    assert checks.port_conflicts({"metrics_port": (), "http_port": (80,), "https_port": (0,)}) == []


@pytest.fixture
def fleet_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files show as inventory/..., as when pyinfra runs
    return tmp_path


def test_https_port_on_the_orport_is_refused_before_any_host(fleet_dir):
    errors = errors_of(fleet_dir, {"exits": {"r1": host(or_port=443)}})
    find(errors, "inventory/testfleet.yml", "host 'r1'", "or_port", 443,
         "expected a port no other listener of the relay uses; https_port is 443 too")
    errors = errors_of(fleet_dir, {"exits": {"r1": host(https_port=80)}})
    find(errors, "inventory/testfleet.yml", "host 'r1'", "https_port", 80, "http_port is 80 too")
    errors = errors_of(fleet_dir, {"exits": {"r1": host(metrics_port=9002, tor_instances=2, https_port=9003)}})
    find(errors, "inventory/testfleet.yml", "host 'r1'", "https_port", 9003, "metrics_port is 9003 too")


# ------------------------------------------------------------------ the outside check against a real TLS server
def _certificate(folder, start: datetime, end: datetime) -> tuple[str, str]:
    """A self-signed certificate for exit-1.example.org and 127.0.0.1, valid from start to end: (cert, key) paths."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "exit-1.example.org")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("exit-1.example.org"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


@pytest.fixture
def tls_server(tmp_path, monkeypatch):
    """Serves 'page' over TLS on 127.0.0.1 with a certificate in the last third of its life; trusted by the check."""
    import socket
    import ssl
    import threading

    now = datetime.now(UTC)
    cert, key = _certificate(tmp_path, now - timedelta(days=5), now + timedelta(days=1))
    monkeypatch.setenv("SSL_CERT_FILE", cert)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except OSError:
                continue
            try:
                with context.wrap_socket(raw, server_side=True) as tls:
                    tls.recv(4096)
                    tls.sendall(b"HTTP/1.0 200 OK\r\nContent-Security-Policy: default-src 'none'\r\n"
                                b"X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n\r\npage")
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], now
    stop.set()
    thread.join()
    listener.close()


def test_outside_names_a_certificate_inside_the_renewal_margin(tls_server):
    from exitkit.outside import https_problems

    port, now = tls_server
    s = settings(https_port=port, public_ipv4="127.0.0.1", acme_ip_certificates=True)
    problems = https_problems(s, "exit-1.example.org", "127.0.0.1", {"/": b"page"}, 5, now)
    assert len(problems) == 2 and all("within the renewal margin" in p for p in problems), problems
    assert problems[0].startswith("HTTPS certificate for exit-1.example.org expires ")
    # a day earlier the same certificate was in the first two thirds of its life: the content is then compared
    problems = https_problems(s, "exit-1.example.org", "127.0.0.1", {"/": b"other"}, 5, now - timedelta(days=3))
    assert problems == ["/ over HTTPS (status 200) is not what HTTP serves"]
