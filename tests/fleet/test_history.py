"""The history real deploy runs of the shared fleet write, and `exitkit complaint` judging by it afterwards."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from exitkit import control, history
from exitkit.plan import exit_policy_of
from exitkit.policy import policy_id

BIN = Path(sys.executable).parent


def test_every_run_records_each_relay_and_its_policy(fleet, first_run):
    records = control.read_history(fleet.folder, fleet.lab.name)
    fingerprints = control.known_fingerprints(fleet.folder)
    described = fleet.described()
    for relay in fleet.relays:
        mine = [r for r in records if r.relay == relay.name]
        assert mine and mine[-1].converged, relay.name
        last = mine[-1]
        settings = described.relay(relay.name).settings
        assert last.ipv4 == settings.public_ipv4 and last.network == settings.network
        assert last.policy_id == policy_id(exit_policy_of(settings))
        kept = control.read_policy(fleet.folder, last.policy_id)  # kept beside the history, and its id checked
        assert kept is not None and kept.allows("198.51.100.7", 443) == exit_policy_of(settings).allows(
            "198.51.100.7", 443)
        assert re.fullmatch(r"nightly \d\d:\d\d Europe/Berlin", last.reboot), last.reboot
        if settings.network == "tor":
            assert last.fingerprints == fingerprints[relay.name]
            assert len(last.fingerprints) == settings.tor_instances
            assert all(re.fullmatch(r"[0-9A-F]{40}", fp) for fp in last.fingerprints.values())
        else:
            assert last.fingerprints == {}
    on_relay = fleet.exec("relay-3", "cat", "/var/lib/tor/fingerprint").stdout.split()[-1]
    assert [r for r in records if r.relay == "relay-3"][-1].fingerprints == {"/var/lib/tor": on_relay}


def complaint_about(folder: Path, address: str, destination: str, moment: datetime) -> Path:
    mail = EmailMessage()
    mail["From"] = "SOC <soc@hosting.example.com>"
    mail["To"] = "abuse@example.net"
    mail["Subject"] = f"Brute force from {address}"
    mail["Date"] = "Mon, 30 Nov 2026 09:00:00 +0000"
    mail["Message-ID"] = "<fleet-history@hosting.example.com>"
    mail.set_content(f"Brute force login attempts from {address} on our API at {destination}, "
                     f"starting {moment:%Y-%m-%d %H:%M:%S} UTC.\n")
    path = folder / f"complaint-{moment:%H%M%S}.eml"
    path.write_bytes(bytes(mail))
    return path


def complaint(fleet, path: Path) -> tuple[int, dict]:
    result = subprocess.run([str(BIN / "exitkit"), "complaint", f"inventory/{fleet.lab.name}.py", str(path), "--json"],
                            cwd=fleet.folder, text=True, capture_output=True, check=False)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def test_a_complaint_is_judged_by_the_recorded_runs(fleet, first_run, tmp_path):
    records = control.read_history(fleet.folder, fleet.lab.name)
    last = [r for r in records if r.relay == "relay-2"][-1]
    now = max(datetime.now(UTC), last.moment + timedelta(seconds=1))
    code, answer = complaint(fleet, complaint_about(tmp_path, "192.0.2.22", "198.51.100.7:443", now))
    assert code == 0 and answer["kind"] == "scanning"
    [found] = answer["relays"]
    [judged] = found["judgements"]
    assert (found["relay"], judged["in_service"], judged["allowed"]) == ("relay-2", True, False)
    assert (judged["rule"], judged["note"], judged["policy_id"]) == (
        "reject 198.51.100.7:443", "ticket 4711", last.policy_id)
    assert judged["record_time"] == history.in_force(records, "relay-2", now).time  # type: ignore[union-attr]
    first = history.first_in_service(records, "relay-2")
    before = first.moment - timedelta(hours=1)  # type: ignore[union-attr]
    code, answer = complaint(fleet, complaint_about(tmp_path, "192.0.2.22", "198.51.100.7:443", before))
    assert code == 0 and answer["relays"][0]["judgements"][0]["in_service"] is False
