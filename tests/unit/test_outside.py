"""The outside check against a real HTTP server on loopback that serves what lighttpd on a relay serves.

The files are rendered by the same functions the deploy uses; the server adds
the headers templates/lighttpd/lighttpd.conf.j2 adds. Each test then breaks
one thing and asserts that the check names it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from exitkit import notice, outside, summary
from exitkit.loader import load_fleet
from exitkit.plan import exit_policy_of, plan_fleet
from exitkit.policy import render_nym, summarise
from exitkit.settings import RelaySettings
from tests.unit.test_rdns import dnsmasq  # noqa: F401 (the loopback DNS server, a fixture)
from tests.unit.test_rdns import write_fleet as fleet_folder

LIGHTTPD_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class Relay(BaseHTTPRequestHandler):
    """path -> (content type, body); headers that a test may take away or change."""

    files: dict[str, tuple[str, bytes]] = {}
    headers_sent: dict[str, str] = {}

    def do_GET(self):  # noqa: N802 (http.server's name)
        path = "/index.html" if self.path == "/" else self.path
        if path not in self.files:
            self.send_error(404)
            return
        content_type, body = self.files[path]
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        for header, value in self.headers_sent.items():
            self.send_header(header, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Relay)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


def write_fleet(root: Path, port: int, **host) -> Path:
    relay = {"public_ipv4": "192.0.2.21", "notice_url": f"http://127.0.0.1:{port}/", **host}
    return fleet_folder(root, {"relay-1": relay}, phone="+49 30 1234567",
                        exit_policy_rules=[{"rule": "reject 198.51.100.7:443", "note": "ticket 4711"}])


@pytest.fixture
def relay(tmp_path, server, monkeypatch):
    """A one-relay fleet whose notice_url is the loopback server, which serves its files as the deploy writes them."""
    monkeypatch.chdir(tmp_path)
    fleet = load_fleet(write_fleet(tmp_path, server))
    plans = plan_fleet(fleet)
    s, hostname = fleet.relays[0].settings, plans["relay-1"].hostname
    policy = exit_policy_of(s)
    pages = notice.render_pages(s, policy_summary=summarise(policy), address=s.public_ipv4, hostname=hostname,
                                reboot_time=None)
    expires = datetime.now(UTC) + timedelta(days=300)
    Relay.files = {
        "/index.html": (outside.HTML, pages["index.html"].encode()),
        "/exit-policy.txt": (outside.TEXT, render_nym(policy).encode()),
        "/.well-known/security.txt": (outside.TEXT,
                                      notice.render_security_txt(s, hostname=hostname, expires=expires,
                                                                 is_exit=True).encode()),
    }
    Relay.headers_sent = dict(LIGHTTPD_HEADERS)
    return fleet, plans


def check(relay) -> outside.RelayCheck:
    fleet, plans = relay
    [result] = outside.check_fleet(fleet, plans, timeout=5)
    return result


def test_a_relay_that_serves_what_its_settings_say_is_ok(relay, server):
    result = check(relay)
    assert result.problems == ()
    assert result.ok and result.url == f"http://127.0.0.1:{server}/"


def test_a_wrong_policy_is_caught_with_the_first_difference(relay):
    Relay.files["/exit-policy.txt"] = (outside.TEXT, b"accept *:*\n")
    result = check(relay)
    assert not result.ok and len(result.problems) == 1
    assert result.problems[0].startswith("/exit-policy.txt is not the policy in the settings (policy id ")
    assert "line 1 is 'accept *:*', expected" in result.problems[0]


def test_a_policy_that_lost_its_last_lines_is_caught(relay):
    content_type, body = Relay.files["/exit-policy.txt"]
    Relay.files["/exit-policy.txt"] = (content_type, b"\n".join(body.split(b"\n")[:3]) + b"\n")
    [problem] = check(relay).problems
    assert "it has 3 lines, expected" in problem


def test_missing_headers_and_wrong_content_types_are_named(relay):
    del Relay.headers_sent["Referrer-Policy"]
    Relay.headers_sent["X-Content-Type-Options"] = "sniff-away"
    Relay.files["/exit-policy.txt"] = ("text/plain", Relay.files["/exit-policy.txt"][1])
    problems = check(relay).problems
    for path in ("/", "/exit-policy.txt", "/.well-known/security.txt"):
        assert f"{path} has Referrer-Policy None, expected one beginning 'no-referrer'" in problems
        assert f"{path} has X-Content-Type-Options 'sniff-away', expected one beginning 'nosniff'" in problems
    assert "/exit-policy.txt has Content-Type 'text/plain', expected 'text/plain; charset=utf-8'" in problems
    assert len(problems) == 7


def test_security_txt_needs_the_relays_contacts_and_a_future_expiry(relay):
    Relay.files["/.well-known/security.txt"] = (outside.TEXT, b"Contact: mailto:someone@example.org\n"
                                                              b"Expires: 2001-01-01T00:00:00Z\n")
    problems = check(relay).problems
    assert problems == (
        "/.well-known/security.txt lacks 'Contact: mailto:abuse@example.net'",
        "/.well-known/security.txt lacks 'Contact: tel:+49301234567'",
        "/.well-known/security.txt expected one Expires in the future, got ['2001-01-01T00:00:00Z']",
    )


def test_a_missing_file_and_a_page_without_the_abuse_address(relay):
    del Relay.files["/.well-known/security.txt"]
    Relay.files["/index.html"] = (outside.HTML, b"<!doctype html><title>x</title>")
    assert check(relay).problems == ("/ does not link the abuse address abuse@example.net",
                                     "/.well-known/security.txt answered 404, expected 200")


def test_a_relay_that_does_not_answer_is_a_finding_not_a_crash(tmp_path, monkeypatch):
    import socket

    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.chdir(tmp_path)
    fleet = load_fleet(write_fleet(tmp_path, port))
    [result] = outside.check_fleet(fleet, plan_fleet(fleet), timeout=2)
    assert len(result.problems) == 3
    assert all("could not be fetched from http://127.0.0.1:" in p and "ConnectionError" in p for p in result.problems)


def test_where_the_page_answers():
    def s(**kw) -> RelaySettings:
        return RelaySettings(nickname="a", operator_name="Op", abuse_email="abuse@example.net", **kw)

    assert outside.notice_url(s(public_ipv4="192.0.2.21")) == "http://192.0.2.21/"
    assert outside.notice_url(s(public_ipv4="192.0.2.21", http_port=8080)) == "http://192.0.2.21:8080/"
    assert outside.notice_url(s(public_ipv6="2001:db8::21")) == "http://[2001:db8::21]/"
    assert outside.notice_url(s(), "tor-exit-1.example.net") == "http://tor-exit-1.example.net/"
    assert outside.notice_url(s(public_ipv4="192.0.2.21", notice_url="http://127.0.0.1:8081")) == "http://127.0.0.1:8081/"
    assert outside.notice_url(s()) == ""


def test_how_nym_node_is_pointed_at_the_relays_policy_file():
    settings = RelaySettings(nickname="a", operator_name="Op", abuse_email="abuse@example.net", network="nym",
                             public_ipv4="192.0.2.22", http_port=8080)
    assert outside.exit_policy_url(settings) == "http://192.0.2.22:8080/exit-policy.txt"
    intro, line = outside.nym_policy_instruction(settings)
    assert "nym-node" in intro and "config.toml" in intro and "restart" in intro
    assert line == "[exit_gateway] upstream_exit_policy_url = 'http://192.0.2.22:8080/exit-policy.txt'"
    assert all(len(f"      note: {text}") <= summary.WIDTH for text in (intro, line))  # never cut in the summary
    assert "<this relay's address>" in outside.nym_policy_instruction(
        RelaySettings(nickname="a", operator_name="Op", abuse_email="abuse@example.net", network="nym"))[1]


def test_cli_outside_exit_codes_and_json(relay, tmp_path):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "exitkit", "outside", "inventory/lab.py", *args],
                              cwd=tmp_path, text=True, capture_output=True)

    good = run()
    assert good.returncode == 0, good.stdout + good.stderr
    assert "relay-1 (http://127.0.0.1:" in good.stdout and "): ok" in good.stdout
    Relay.files["/exit-policy.txt"] = (outside.TEXT, b"accept *:*\n")
    bad = run("--json")
    assert bad.returncode == 1
    data = json.loads(bad.stdout)
    assert data["ok"] is False and data["relays"][0]["relay"] == "relay-1"
    assert data["relays"][0]["problems"][0].startswith("/exit-policy.txt is not the policy in the settings")


def test_a_bad_notice_url_is_refused_with_the_usual_message(tmp_path, server):
    write_fleet(tmp_path, server, notice_url="ftp://relay.example.net/")
    result = subprocess.run([sys.executable, "-m", "exitkit", "outside", "inventory/lab.py"], cwd=tmp_path,
                            text=True, capture_output=True)
    assert result.returncode == 2
    assert ("inventory/lab.yml: host 'relay-1', key 'notice_url': got 'ftp://relay.example.net/'; "
            "expected a web address starting with https:// or http://") in result.stderr


def test_cli_verify_fails_on_pages_and_takes_dns_findings_as_advice(relay, tmp_path, dnsmasq):  # noqa: F811
    """One relay whose pages are right but whose address carries another name (tor-exit-1 in the test dnsmasq)."""
    write_fleet(tmp_path, int(relay[0].relays[0].settings.notice_url.rsplit(":", 1)[1].strip("/")),
                hostname="tor-exit-9.example.net", dns_check_resolver=dnsmasq)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "exitkit", "verify", "inventory/lab.py", *args],
                              cwd=tmp_path, text=True, capture_output=True)

    advice = run()
    assert advice.returncode == 0, advice.stdout + advice.stderr
    assert "Every relay serves what its settings say." in advice.stdout
    assert "## Reverse DNS (advice)" in advice.stdout
    assert "## DNS blocklists (advice)" in advice.stdout and f"Asked {dnsmasq}" in advice.stdout
    assert ("ask your provider to set the PTR of 192.0.2.21 to tor-exit-9.example.net (now: tor-exit-1.example.net)"
            in advice.stdout)
    assert run("--strict").returncode == 1
    Relay.files["/exit-policy.txt"] = (outside.TEXT, b"accept *:*\n")
    wrong = run("--json")
    assert wrong.returncode == 1
    data = json.loads(wrong.stdout)
    assert data["ok"] is False and data["outside"]["ok"] is False
    assert data["rdns"]["addresses"][0]["verdict"] == "wrong-name"
    # the test dnsmasq forwards nothing: the blocklists' questions go unanswered, which is advice too
    assert {x["verdict"] for x in data["dnsbl"]["listings"]} == {"lookup-failed"}
