"""The outside check and the reverse-DNS check, run as an operator runs them, against the container fleet.

The relays' pages are fetched at their addresses on the test fleet's internal
network (the harness sets notice_url); DNS questions go to a dnsmasq on 127.0.0.1 started
here, never to the machine's resolver.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import requests

from tests.unit.test_rdns import dnsmasq  # noqa: F401 (the loopback DNS server, a fixture)


@pytest.fixture
def checked_fleet(fleet, first_run, dnsmasq):  # noqa: F811
    """The fleet folder with dns_check_resolver pointing at the loopback dnsmasq, for as long as a test runs."""
    fleet.group_data["all"]["dns_check_resolver"] = dnsmasq
    fleet.write()
    try:
        yield fleet
    finally:
        del fleet.group_data["all"]["dns_check_resolver"]
        fleet.write()


def exitkit(fleet, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "exitkit", *args, f"inventory/{fleet.lab.name}.py"], cwd=fleet.folder,
                          text=True, capture_output=True, timeout=120)


def served_wrong(fleet, name: str) -> None:
    """Wait until lighttpd's stat cache (a second or two) lets the changed file through whole."""
    deadline = time.monotonic() + 15
    while True:
        try:
            if fleet.http(name, "/exit-policy.txt").text == "accept *:*\n":
                return
        except requests.RequestException:
            pass  # a length cached from the old file: the answer is cut short
        assert time.monotonic() < deadline, "relay-2 never served the changed policy file"
        time.sleep(0.5)


def test_every_relay_serves_what_its_settings_say(checked_fleet):
    result = exitkit(checked_fleet, "verify", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["outside"]["ok"] is True
    assert {r["relay"]: (r["ok"], r["problems"]) for r in report["outside"]["relays"]} == {
        name: (True, []) for name in ("relay-1", "relay-2", "relay-3")}
    for r in report["outside"]["relays"]:
        assert r["url"] == checked_fleet.relay(r["relay"]).notice_url
    # DNS findings are advice: the test dnsmasq knows relay-1's name and not relay-2's
    verdicts = {a["relay"]: a["verdict"] for a in report["rdns"]["addresses"]}
    assert verdicts["relay-1"] == "ok" and verdicts["relay-2"] == "missing-ptr"
    assert exitkit(checked_fleet, "outside").returncode == 0
    assert exitkit(checked_fleet, "verify", "--strict").returncode == 1


def test_a_relay_serving_a_wrong_policy_is_caught_and_a_deploy_repairs_it(checked_fleet):
    fleet = checked_fleet
    fleet.exec("relay-2", "sh", "-c", "echo 'accept *:*' > /var/www/exitkit/exit-policy.txt")
    try:
        served_wrong(fleet, "relay-2")
        text = exitkit(fleet, "verify")
        assert text.returncode == 1, text.stdout + text.stderr
        assert f"relay-2 ({fleet.relay('relay-2').notice_url}" in text.stdout, text.stdout
        assert "Wrong: relay-2\n" in text.stdout, text.stdout
        assert "/exit-policy.txt is not the policy in the settings" in text.stdout, text.stdout
        assert "line 1 is 'accept *:*', expected" in text.stdout, text.stdout
        report = json.loads(exitkit(fleet, "verify", "--json").stdout)
        by_relay = {r["relay"]: r for r in report["outside"]["relays"]}
        assert by_relay["relay-1"]["ok"] and by_relay["relay-3"]["ok"] and not by_relay["relay-2"]["ok"]
        assert [p.split(" (")[0] for p in by_relay["relay-2"]["problems"]] == [
            "/exit-policy.txt is not the policy in the settings"]
    finally:
        run = fleet.deploy()
    assert run.returncode == 0, run.stderr[-4000:]
    assert exitkit(fleet, "outside").returncode == 0
