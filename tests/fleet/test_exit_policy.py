"""One policy, enforced and served by every relay, and a change that reaches all of them."""

from __future__ import annotations

from exitkit.plan import exit_policy_of
from exitkit.policy import render_nym
from exitkit.settings import RelaySettings


def settings_of(fleet, name: str) -> RelaySettings:
    from exitkit.loader import load_fleet

    return load_fleet(fleet.folder / "inventory" / "test.py", cwd=fleet.folder).relay(name).settings


def test_every_relay_serves_and_enforces_its_policy(fleet, first_run, monkeypatch):
    monkeypatch.chdir(fleet.folder)
    for relay in fleet.relays:
        policy = exit_policy_of(settings_of(fleet, relay.name))
        served = fleet.http(relay.name, "/exit-policy.txt")
        assert served.status_code == 200
        assert served.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert served.text == render_nym(policy)
        ruleset = fleet.host(relay.name).run("nft list table inet exitkit")
        assert ruleset.rc == 0, ruleset.stderr
        assert 'hook forward' in ruleset.stdout and 'oifname "eth0" drop' in ruleset.stdout
    assert 'comment "ticket 4711"' in fleet.host("relay-2").run("nft list ruleset").stdout


def test_a_complaint_reaches_every_relay_and_leaves_again(settings_restored, first_run, monkeypatch):
    fleet = settings_restored
    monkeypatch.chdir(fleet.folder)
    entry = {"rule": "reject 203.0.113.99:8080", "note": "complaint ticket 9001"}
    for group in ("tor_exits", "nym_gateways"):
        fleet.group_data[group]["exit_policy_rules"] = [entry, *fleet.group_data[group].get("exit_policy_rules", [])]
    run = fleet.deploy()
    assert run.returncode == 0, run.stderr[-3000:]
    for relay in fleet.relays:
        policy = exit_policy_of(settings_of(fleet, relay.name))
        assert not policy.allows("203.0.113.99", 8080) and policy.allows("203.0.113.98", 8080)
        assert "complaint ticket 9001" in fleet.http(relay.name, "/exit-policy.txt").text
        assert "complaint ticket 9001" in fleet.http(relay.name, "/").text
        assert 'comment "complaint ticket 9001"' in fleet.host(relay.name).run("nft list ruleset").stdout
    for group in ("tor_exits", "nym_gateways"):
        fleet.group_data[group]["exit_policy_rules"].remove(entry)
    run = fleet.deploy()
    assert run.returncode == 0, run.stderr[-3000:]
    for relay in fleet.relays:
        assert "9001" not in fleet.http(relay.name, "/exit-policy.txt").text
        assert "9001" not in fleet.host(relay.name).run("nft list ruleset").stdout
