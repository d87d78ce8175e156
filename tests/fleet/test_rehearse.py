"""The operator CI's last step on a sample fleet of two relays: `python -m exitkit.lab rehearse`
brings up relays of the fleet's shape, converges them twice, and removes them."""

from __future__ import annotations

import subprocess
import sys

import yaml

from exitkit.lab.containers import LocalFleet
from exitkit.lab.rehearse import REHEARSAL
from exitkit.lab.runs import write_fleet_folder

SAMPLE = {
    "exits": {
        # the real servers: the rehearsal must never use these connection keys
        "fra-exit-1": {"nickname": "samplefra1", "public_ipv4": "192.0.2.31", "ssh_hostname": "203.0.113.31",
                       "ssh_user": "deploy"},
    },
    "gateways": {
        "ams-gw-1": {"nickname": "sampleams1", "public_ipv4": "192.0.2.32", "ssh_hostname": "203.0.113.32"},
    },
}
GROUP_DATA = {
    "all": {"operator_name": "Sample Exit Association", "abuse_email": "abuse@example.com",
            "domain": "example.com", "timezone": "UTC", "ssh_port": 2222},
    "exits": {"network": "tor", "exit_policy": "web"},
    "gateways": {"network": "nym", "language": "de", "jurisdictions": ["de", "eu"]},
}


def test_rehearsal_of_a_sample_fleet(tmp_path):
    inventory = write_fleet_folder(tmp_path, "sample", SAMPLE, GROUP_DATA)
    lab = LocalFleet("rehearse", 2)
    try:
        result = subprocess.run([sys.executable, "-m", "exitkit.lab", "rehearse",
                                 str(inventory.relative_to(tmp_path))], cwd=tmp_path, text=True, capture_output=True)
        assert result.returncode == 0, result.stderr[-4000:]
        lines = result.stdout.splitlines()
        assert lines[:2] == [f"fra-exit-1: rehearsed on exitkit-rehearse-1 (ssh {lab.relay(1).address})",
                             f"ams-gw-1: rehearsed on exitkit-rehearse-2 (ssh {lab.relay(2).address})"]
        first, second = lines[2], lines[3]
        assert first.startswith("rehearsal: first run converged 2 relays") and not first.endswith(" 0 changes")
        assert second == "rehearsal: second run converged 2 relays, 0 changes"
        assert lines[-1] == "rehearsal: ok, a second run changes nothing"
        # the rehearsal deployed to the lab, with the network switched off, never to the sample's servers
        written = yaml.safe_load((lab.dir / "fleet" / "inventory" / f"{REHEARSAL}.yml").read_text())
        hosts = {name: data for group in written.values() for name, data in group.items() if data}
        assert {h["ssh_hostname"] for h in hosts.values()} == {lab.relay(1).address, lab.relay(2).address}
        assert all(h["test_network_off"] and h["dns_forwarders"] == [lab.resolver] for h in hosts.values())
        assert "203.0.113" not in (lab.dir / "fleet" / "inventory" / f"{REHEARSAL}.yml").read_text()
        # and removed its relays
        assert lab.running() == {}
    finally:
        lab.down()
