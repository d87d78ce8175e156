"""The fleet's history: records written and read back, policies kept by id and judged as when they were built."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exitkit import control, history
from exitkit.policy import build_policy

POLICY = build_policy("tor-reduced", [{"rule": "reject 198.51.100.7:443", "note": "ticket 4711"}],
                      ipv6_exit=True, own_addresses=["192.0.2.21"], exit_relay=True)


def record(time: datetime, policy=POLICY, converged=True, relay="relay-1", ipv4="192.0.2.21"):
    return history.run_record(time=time, fleet="f", relay=relay, network="tor", nickname="n1", hostname="",
                              ipv4=ipv4, ipv6="2001:db8::21", policy=policy, converged=converged,
                              fingerprints={"/var/lib/tor": "A" * 40}, reboot_mode="nightly",
                              reboot_local="02:15", timezone="Europe/Berlin")


def test_records_and_policies_round_trip(tmp_path):
    first = record(datetime(2026, 11, 1, 10, 0, tzinfo=UTC))
    control.append_history(tmp_path, [first], [history.policy_document(POLICY)])
    control.append_history(tmp_path, [record(datetime(2026, 11, 2, 10, 0, tzinfo=UTC))], [])
    records = control.read_history(tmp_path, "f")
    assert [r.time for r in records] == ["2026-11-01T10:00:00Z", "2026-11-02T10:00:00Z"]
    assert records[0] == first and first.reboot == "nightly 02:15 Europe/Berlin" and first.exit
    kept = control.read_policy(tmp_path, first.policy_id)
    assert kept is not None and kept.policy_id == first.policy_id
    rule = kept.deciding_rule("198.51.100.7", 443)
    assert (rule.text, rule.note, kept.allows("198.51.100.7", 443)) == ("reject 198.51.100.7:443", "ticket 4711", False)


def test_a_policy_changed_by_hand_is_refused():
    document = history.policy_document(POLICY)
    document["rules"][-2] = ["accept *:*", ""]
    with pytest.raises(ValueError, match="changed by hand"):
        history.stored_policy(document)


def test_in_force_is_the_last_converged_record_before_the_moment():
    other = build_policy("reject-all", [], ipv6_exit=False, own_addresses=[], exit_relay=False)
    records = [record(datetime(2026, 11, 1, tzinfo=UTC)), record(datetime(2026, 11, 5, tzinfo=UTC), other),
               record(datetime(2026, 11, 9, tzinfo=UTC), other, converged=False)]
    assert history.in_force(records, "relay-1", datetime(2026, 10, 31, tzinfo=UTC)) is None
    assert history.in_force(records, "relay-1", datetime(2026, 11, 3, tzinfo=UTC)) == records[0]
    assert history.in_force(records, "relay-1", datetime(2026, 11, 10, tzinfo=UTC)) == records[1]
    assert not records[1].exit
    assert history.relays_with_address(records, "2001:db8:0::21") == ["relay-1"]


def test_a_broken_line_is_named():
    with pytest.raises(ValueError, match="line 2"):
        history.parse_history(record(datetime(2026, 11, 1, tzinfo=UTC)).to_line() + "\n{oops\n")


@given(st.ip_addresses(), st.integers(1, 65535))
def test_the_kept_policy_means_what_the_built_one_did(address, port):
    kept = history.stored_policy(history.policy_document(POLICY))
    assert kept.allows(str(address), port) == POLICY.allows(str(address), port)
    assert kept.deciding_rule(str(address), port).text == POLICY.deciding_rule(str(address), port).text


def _append_many(folder: str, hour: int) -> None:
    for minute in range(30):
        control.append_history(Path(folder), [record(datetime(2026, 11, 3, hour, minute, tzinfo=UTC))] * 40, [])
        control.remember_fingerprints(Path(folder), {(f"relay-{hour}-{minute}", "/var/lib/tor"): "B" * 40})


def test_two_runs_at_once_keep_each_others_records_and_fingerprints(tmp_path):
    """Two deploys from one fleet folder: every line whole, none lost; every fingerprint kept."""
    import multiprocessing

    workers = [multiprocessing.get_context("fork").Process(target=_append_many, args=(str(tmp_path), hour))
               for hour in (1, 2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert len(control.read_history(tmp_path, "f")) == 2 * 30 * 40
    assert len(control.known_fingerprints(tmp_path)) == 2 * 30
