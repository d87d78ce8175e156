"""The foundation: a real fleet converges over SSH, answers, and a second run changes nothing."""

from __future__ import annotations


def test_first_converge_changes_every_relay(fleet, first_run):
    changed_hosts = {h for hosts in first_run.changed().values() for h in hosts}
    assert changed_hosts == {r.name for r in fleet.relays}
    assert first_run.errors == 0


def test_second_run_changes_nothing(fleet, first_run):
    again = fleet.deploy()
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.errors == 0
    assert again.changed() == {}


def test_relays_are_healthy(fleet, first_run):
    for relay in fleet.relays:
        state = fleet.exec(relay.name, "systemctl", "is-system-running", check=False).stdout.strip()
        assert state == "running", f"{relay.name}: {state}: " + fleet.exec(
            relay.name, "systemctl", "--failed", "--no-legend", check=False).stdout
