"""The notice page as a visitor, an abuse desk and a validator see it, from outside the relay."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import markupsafe
import pytest

from exitkit import tor
from exitkit.notice import available_languages, load_texts

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
EXPECTED = {  # relay -> (default language, network name on the page)
    "relay-1": ("en", "Tor"),
    "relay-2": ("de", "Nym"),
    "relay-3": ("ja", "Tor"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_page_answers_in_the_relays_language_with_its_network(fleet, first_run, name):
    lang, network = EXPECTED[name]
    if lang not in available_languages():
        lang = "en"
    page = fleet.http(name, "/")
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert f'<html lang="{lang}"' in page.text
    assert network in page.text
    assert 'href="mailto:abuse@example.net' in page.text
    assert "Test Exit Collective" in page.text
    for other in available_languages():
        assert f'hreflang="{other}"' in page.text


def test_hardened_headers(fleet, first_run):
    page = fleet.http("relay-1", "/")
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "http" not in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert not re.search(r"\d", page.headers.get("Server", "")), page.headers.get("Server")
    assert "<script" not in page.text.lower()


def test_only_get_and_head(fleet, first_run):
    assert fleet.http("relay-1", "/", method="HEAD").status_code == 200
    assert fleet.http("relay-1", "/", method="POST", data="x=1").status_code == 403
    assert fleet.http("relay-1", "/", method="PUT", data="x").status_code in (403, 405)
    assert fleet.http("relay-1", "/.well-known/").status_code in (403, 404)  # no directory listing


def test_language_follows_accept_language(fleet, first_run):
    for lang in available_languages():
        page = fleet.http("relay-1", "/", headers={"Accept-Language": f"{lang}-XX,{lang};q=0.9,en;q=0.5"})
        assert f'<html lang="{lang}"' in page.text, lang
        assert fleet.http("relay-1", f"/index.{lang}.html").status_code == 200


def test_policy_summary_on_the_page_names_the_blocked_destination(fleet, first_run):
    page = fleet.http("relay-2", "/").text
    assert "198.51.100.7" in page and "ticket 4711" in page
    assert "/exit-policy.txt" in page


def test_security_txt(fleet, first_run):
    response = fleet.http("relay-2", "/.well-known/security.txt")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    fields = dict(line.split(": ", 1) for line in response.text.splitlines()
                  if ": " in line and not line.startswith("#"))
    assert fields["Contact"] == "mailto:abuse@example.net"
    assert datetime.fromisoformat(fields["Expires"].replace("Z", "+00:00")) > datetime.now(UTC)
    assert fields["Canonical"] == "http://nym-exit-1.example.net/.well-known/security.txt"
    assert fields["Preferred-Languages"] == "de"  # the languages the operator reads: by default the page's


def test_no_visitor_address_is_logged(fleet, first_run):
    """A request leaves neither its address nor its path in any log on the relay."""
    marker = f"/visitor-{uuid.uuid4().hex}"
    assert fleet.http("relay-1", marker).status_code == 404
    host = fleet.host("relay-1")
    # the address the relay saw: the control machine's side of the fleet's network
    gateway = fleet.lab.gateway
    assert host.run(f"grep -rlF -e '{gateway}' -e '{marker}' /var/log").stdout == ""
    assert host.run(f"journalctl --no-pager -o cat | grep -cF '{marker}'").stdout.strip() == "0"
    # the journal does hold sshd's lines about the tests' own SSH logins (an operator's access, not a visitor's)
    assert host.run(f"journalctl --no-pager -o cat _COMM=lighttpd | grep -cF '{gateway}'").stdout.strip() == "0"


def test_broken_config_never_replaces_a_working_one(fleet, first_run):
    """An override that slips past the settings (pyinfra --data) is stopped by lighttpd -tt."""
    before = fleet.host("relay-1").file("/etc/lighttpd/lighttpd.conf").content_string
    run = fleet.deploy("--limit", "relay-1", "--data", "http_port=notaport")
    assert run.returncode != 0
    assert "lighttpd" in run.stderr and "notaport" in run.stderr
    assert fleet.host("relay-1").file("/etc/lighttpd/lighttpd.conf").content_string == before
    assert not fleet.host("relay-1").file("/etc/lighttpd/lighttpd.conf.exitkit-new").exists
    assert fleet.http("relay-1", "/").status_code == 200


def test_screenshots_of_each_language(fleet, first_run, tmp_path):
    """Headless Chromium renders each language version; the PNGs are kept as artifacts."""
    import shutil
    import subprocess

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: ./kit setup installs it")
    ARTIFACTS.mkdir(exist_ok=True)
    shots = [(f"notice-{lang}.png", lang, "900,1800") for lang in available_languages()]
    shots.append(("notice-en-phone.png", "en", "390,1600"))  # the README's phone picture
    for name, lang, size in shots:
        out = ARTIFACTS / name
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={tmp_path / name}", "--hide-scrollbars", f"--window-size={size}",
                        f"--screenshot={out}", f"{fleet.relay('relay-1').notice_url}index.{lang}.html"],
                       check=True, capture_output=True, timeout=120)
        assert out.stat().st_size > 10_000, out


def test_served_pages_fold_ports_and_explain_the_dsa_once(fleet, first_run):
    """As served: tor-reduced's 104 ports folded away; Germany and the EU on one page explain the DSA once."""
    english = fleet.http("relay-1", "/index.en.html").text
    assert '<details class="ports">' in english and "(104 ports)" in english
    law = load_texts("de")["law"]
    german = fleet.http("relay-2", "/index.de.html").text  # jurisdictions de and eu
    for key in ("mere_conduit", "no_monitoring"):
        assert german.count(str(markupsafe.escape(law["dsa"][key]))) == 1, key
    assert str(markupsafe.escape(law["de"]["dsa_in_eu"])) in german
    japanese = fleet.http("relay-3", "/").text  # jurisdiction jp
    assert "情報流通プラットフォーム対処法" in japanese and "第21条第2項" in japanese


def test_the_first_converge_pages_show_every_tor_instances_fingerprint(fleet, first_run):
    """tor made its keys during the first converge, after the pages were planned: the run completed them, so every
    page and fact sheet the first converge left names each instance's fingerprint as tor wrote it, linked to its
    record (the second run changing nothing is test_foundation's)."""
    completed = {op: hosts for op, hosts in first_run.changed().items() if "fingerprints tor made" in op}
    assert sorted(host for hosts in completed.values() for host in hosts) == ["relay-1", "relay-3"], completed
    for name in ("relay-1", "relay-3"):
        instances = tor.instances(fleet.described().relay(name).settings)
        listed = []
        for instance in instances:
            fingerprint = fleet.exec(name, "cat", f"{instance.data_dir}/fingerprint").stdout.split()[-1]
            grouped = " ".join(fingerprint[i:i + 4] for i in range(0, 40, 4))
            listed.append(f'<span>{instance.nickname} <a href="https://metrics.torproject.org/rs.html#details/{fingerprint}">'
                          f'<code class="fp">{grouped}</code></a></span>')
        pages = {path: html for (relay, path), html in fleet.first_pages.items() if relay == name}
        assert len(pages) == 1 + 2 * len(available_languages()) and len(listed) == (2 if name == "relay-1" else 1)
        for path, html in pages.items():
            assert "".join(listed) in html, (name, path)
            assert html.count('rs.html#details/') == len(listed), (name, path)
