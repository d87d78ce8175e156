"""The notice page over HTTPS, with certificates from a local Pebble by the real ACME protocol (HTTP-01).

Two relays of their own: relay-1 Debian 13 (certificate for its name and its
address), relay-2 Debian 12 (its name only: Debian 12's dehydrated cannot ask for
addresses). Pebble runs on the fleet network's gateway (tests/fleet/acmeserver.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from exitkit.https import ACME_DIR, ACME_FAILURE, ACME_RENEW
from exitkit.lab.containers import LocalFleet
from exitkit.notice.files import TLS_LIVE
from tests.fleet.acmeserver import Pebble, https_get
from tests.fleet.harness import lab_fleet

NAMES = {"relay-1": "exit-1.example.net", "relay-2": "exit-2.example.net"}
EXITKIT = Path(sys.executable).parent / "exitkit"
TEST_CA = "/usr/local/share/ca-certificates/exitkit-test-acme.crt"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    lab = LocalFleet("https", 2, releases={"relay-2": "bookworm"})
    with lab_fleet(lab, tmp_path_factory.mktemp("https")) as under_test:
        pebble = Pebble(tmp_path_factory.mktemp("pebble"), lab.gateway, 14000 + 10 * lab.slot)
        pebble.start({NAMES[r.name]: r.address for r in lab.relays})
        for relay in lab.relays:  # the relays trust the test CA that signed Pebble's API certificate
            under_test.exec(relay.name, "sh", "-c", f"cat > {TEST_CA} <<'END'\n{pebble.ca.read_text()}END\n"
                                                    "update-ca-certificates >/dev/null")
            # a relay kept from an earlier run (EXITKIT_KEEP_FLEET) knows a Pebble that forgot it: start afresh
            under_test.exec(relay.name, "rm", "-rf", ACME_DIR, TLS_LIVE)
        under_test.groups = {"nym_gateways": {
            r.name: {"nickname": f"exitkithttps{r.name[-1]}", "hostname": NAMES[r.name], "public_ipv4": r.address}
            for r in lab.relays}}
        under_test.group_data.update({
            "all": {**under_test.group_data["all"], "operator_name": "Test Exit Collective",
                    "abuse_email": "abuse@example.net", "test_network_off": True, "network": "nym",
                    "acme_directory": pebble.directory, "acme_terms_accepted": True,
                    "acme_ip_certificates": True, "reboot": "never"}})
        under_test.pebble = pebble  # type: ignore[attr-defined]
        try:
            yield under_test
        finally:
            pebble.stop()


@pytest.fixture(scope="module")
def first_run(fleet):
    run = fleet.deploy()
    assert run.returncode == 0, run.stderr[-4000:]
    return run


def page(fleet, relay: str, path: str = "/", name: str | None = None):
    address = fleet.relay(relay).address
    return https_get(address, 443, name or NAMES[relay], path, fleet.pebble.root())


def test_each_relay_serves_the_same_page_over_https(fleet, first_run):
    for relay in NAMES:
        for path in ("/", "/exit-policy.txt", "/.well-known/security.txt"):
            status, headers, body, _ = page(fleet, relay, path)
            assert status == 200
            assert body == fleet.http(relay, path).content
            assert headers["Content-Security-Policy"].startswith("default-src 'none'")
            assert headers["X-Content-Type-Options"] == "nosniff"
        security = page(fleet, relay, "/.well-known/security.txt")[2].decode()
        assert f"Canonical: https://{NAMES[relay]}/.well-known/security.txt" in security


def test_the_debian_13_relay_is_certified_for_its_address_too(fleet, first_run):
    address = fleet.relay("relay-1").address
    _, _, _, peer = page(fleet, "relay-1", name=address)
    assert ("IP Address", address) in peer["subjectAltName"]
    _, _, _, peer = page(fleet, "relay-2")
    assert peer["subjectAltName"] == (("DNS", NAMES["relay-2"]),)
    assert "Debian 12's dehydrated 0.7.0 cannot ask for IP address certificates" in \
        "\n".join(first_run.summary_row("relay-2"))


def test_old_tls_is_refused(fleet, first_run):
    """TLS 1.1 and a TLS 1.2 cipher without forward secrecy are refused (openssl s_client on the relay)."""
    for args in ("-tls1_1", "-tls1_2 -cipher AES128-GCM-SHA256"):
        old = fleet.exec("relay-1", "sh", "-c", f"openssl s_client -connect 127.0.0.1:443 {args} </dev/null",
                         check=False)
        assert old.returncode != 0 and "BEGIN CERTIFICATE" not in old.stdout, old.stdout


def test_the_outside_check_verifies_https(fleet, first_run):
    """exitkit outside, as typed, trusting Pebble's root (OpenSSL's SSL_CERT_FILE): certificate and content."""
    env = {**os.environ, "SSL_CERT_FILE": str(fleet.pebble.root())}
    checked = subprocess.run([str(EXITKIT), "outside", f"inventory/{fleet.lab.name}.py", "--json"], cwd=fleet.folder,
                             env=env, text=True, capture_output=True)
    problems = {r["relay"]: r["problems"] for r in json.loads(checked.stdout)["relays"]}
    assert problems["relay-1"] == [], checked.stdout
    # what a visitor of relay-2's bare address meets: Debian 12's dehydrated could not certify it (the deploy said so)
    address = fleet.relay("relay-2").address
    assert len(problems["relay-2"]) == 1 and problems["relay-2"][0].startswith(
        f"HTTPS on {address}:443 for {address}: SSLCertVerificationError"), checked.stdout
    # without Pebble's root the same certificate is not trusted, and the check says so
    untrusted = subprocess.run([str(EXITKIT), "outside", f"inventory/{fleet.lab.name}.py"], cwd=fleet.folder,
                               text=True, capture_output=True)
    assert untrusted.returncode == 1
    assert f"HTTPS on {fleet.relay('relay-1').address}:443 for {NAMES['relay-1']}: SSLCertVerificationError" \
        in untrusted.stdout, untrusted.stdout


def test_a_second_run_changes_nothing(fleet, first_run):
    run = fleet.deploy()
    assert run.returncode == 0, run.stderr[-4000:]
    assert run.changed() == {}


def test_forced_renewal_serves_a_new_certificate_without_a_failed_request(fleet, first_run):
    before = page(fleet, "relay-1")[3]["serialNumber"]
    reloads, pid = lighttpd_reloads(fleet), main_pid(fleet)
    failures: list[str] = []
    answered = [0]
    stop = threading.Event()

    def visit():
        while not stop.is_set():
            try:
                assert fleet.http("relay-1").status_code == 200
                assert page(fleet, "relay-1")[0] == 200
                answered[0] += 1
            except Exception as error:  # noqa: BLE001 - every failure is the finding
                failures.append(repr(error))

    visitor = threading.Thread(target=visit)
    visitor.start()
    try:
        renewed = fleet.exec("relay-1", ACME_RENEW, "--force", check=False)
    finally:
        stop.set()
        visitor.join()
    assert renewed.returncode == 0, renewed.stdout + renewed.stderr
    assert page(fleet, "relay-1")[3]["serialNumber"] != before
    assert not failures and answered[0] > 0, failures
    assert lighttpd_reloads(fleet) == reloads + 1 and main_pid(fleet) == pid  # reloaded once, not restarted


def lighttpd_reloads(fleet) -> int:
    journal = fleet.exec("relay-1", "journalctl", "-u", "lighttpd", "-o", "cat", "--no-pager").stdout
    return journal.count("Reloaded lighttpd.service")


def main_pid(fleet) -> str:
    return fleet.exec("relay-1", "systemctl", "show", "-p", "MainPID", "--value", "lighttpd").stdout.strip()


def test_a_ca_outage_changes_nothing_for_http_and_is_noted(fleet, first_run):
    before = page(fleet, "relay-1")[3]["serialNumber"]
    fleet.pebble.stop_pebble()
    try:
        failed = fleet.exec("relay-1", ACME_RENEW, "--force", check=False)
        assert failed.returncode != 0
        assert fleet.http("relay-1").status_code == 200
        assert page(fleet, "relay-1")[3]["serialNumber"] == before
        assert fleet.exec("relay-1", "test", "-s", ACME_FAILURE, check=False).returncode == 0
        run = fleet.deploy()
        assert run.returncode == 0, run.stderr[-4000:]
        row = "\n".join(run.summary_row("relay-1"))
        # dehydrated's words: the CA did not answer
        assert "note: HTTPS renewal failed, cert kept to 20" in row and ": Problem connecting to server" in row, row
    finally:
        fleet.pebble.start({})
    assert requests.get(f"http://{fleet.relay('relay-1').address}/", timeout=5).status_code == 200
