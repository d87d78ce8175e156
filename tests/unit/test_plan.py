"""Fleet-wide plans refuse what cannot work, with the settings' one-message style."""

from __future__ import annotations

import pytest
import yaml

from exitkit.loader import load_fleet
from exitkit.model import FleetInvalid
from exitkit.plan import plan_fleet


def fleet_of(tmp_path, monkeypatch, size: int, **all_settings):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inventory").mkdir()
    (tmp_path / "group_data").mkdir()
    hosts = {f"r{i}": {"nickname": f"relay{i}"} for i in range(1, size + 1)}
    (tmp_path / "inventory" / "prod.yml").write_text(yaml.safe_dump({"exits": hosts}))
    base = {"operator_name": "Op", "abuse_email": "abuse@example.org", "domain": "example.org"}
    (tmp_path / "group_data" / "all.yml").write_text(yaml.safe_dump({**base, **all_settings}))
    return load_fleet(tmp_path / "inventory" / "prod.py")


def test_window_too_small_for_the_fleet_is_refused(tmp_path, monkeypatch):
    fleet = fleet_of(tmp_path, monkeypatch, 5, reboot_window="02:00-02:30", reboot_max_at_once=1)
    with pytest.raises(FleetInvalid) as refused:
        plan_fleet(fleet)
    message = str(refused.value)
    assert message.startswith("group_data/all.yml: group 'all' (for host 'r1'), key 'reboot_window': got '02:00-02:30'")
    assert "expected a window that holds the fleet" in message and "5 relays" in message


def test_never_rebooting_relays_need_no_window(tmp_path, monkeypatch):
    fleet = fleet_of(tmp_path, monkeypatch, 5, reboot_window="02:00-02:30", reboot="never")
    assert all(plan.reboot is None for plan in plan_fleet(fleet).values())


def test_a_policy_entry_that_can_never_match_is_refused(tmp_path, monkeypatch):
    fleet = fleet_of(tmp_path, monkeypatch, 1, exit_policy_rules=["accept 10.1.2.3:80"])
    with pytest.raises(FleetInvalid) as refused:
        plan_fleet(fleet)
    assert "key 'exit_policy_rules': got 'accept 10.1.2.3:80'" in str(refused.value)
    assert "can never match" in str(refused.value)


def test_purge_of_the_relay_keys_is_refused(tmp_path, monkeypatch):
    fleet = fleet_of(tmp_path, monkeypatch, 1, purge_dirs=["/var/log/lighttpd", "/var/lib/tor"])
    with pytest.raises(FleetInvalid) as refused:
        plan_fleet(fleet)
    assert "key 'purge_dirs'" in str(refused.value) and "/var/lib/tor" in str(refused.value)


def test_in_service_since_is_the_first_converged_run_in_the_fleet_history(tmp_path, monkeypatch):
    from datetime import UTC, datetime

    from exitkit import control, history
    from exitkit.plan import exit_policy_of
    fleet = fleet_of(tmp_path, monkeypatch, 2)
    assert {plan.in_service_since for plan in plan_fleet(fleet, tmp_path).values()} == {""}

    def record(relay: str, day: int, converged: bool) -> history.RunRecord:
        settings = fleet.relay(relay).settings
        return history.run_record(time=datetime(2026, 3, day, 23, 59, tzinfo=UTC), fleet="prod", relay=relay,
                                  network="tor", nickname=settings.nickname, hostname="", ipv4="", ipv6="",
                                  policy=exit_policy_of(settings), converged=converged, fingerprints={},
                                  reboot_mode="never")
    control.append_history(tmp_path, [record("r1", 2, False), record("r2", 3, True)], [])
    control.append_history(tmp_path, [record("r1", 4, True), record("r2", 5, True)], [])
    plans = plan_fleet(fleet, tmp_path)
    assert plans["r1"].in_service_since == "2026-03-04"  # the run that failed on it does not count
    assert plans["r2"].in_service_since == "2026-03-03"
    assert plan_fleet(fleet)["r1"].in_service_since == ""  # no fleet folder, no history
