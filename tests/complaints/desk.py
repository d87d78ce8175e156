"""The abuse desk's test fleet (tests/complaints/fleet) with a history, as deploy runs would have written it.

The history is written by the kit's own writer (exitkit.control.append_history) from records built from the
fleet's settings, with two changes in the past that complaints must be judged by:

- relay-1 exited from 192.0.2.41 until the run of 2026-11-15 moved it to 192.0.2.31;
- relay-2 had no rule of its own until the run of 2026-11-15 added 'reject 198.51.100.7:443' (ticket 4711);
- relay-3 was first deployed on 2026-11-20 at 09:00 UTC.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from exitkit import control, history
from exitkit.fleet import load_valid_fleet
from exitkit.loader import fleet_dir
from exitkit.plan import exit_policy_of

FLEET = Path(__file__).resolve().parent / "fleet"
CORPUS = Path(__file__).resolve().parent / "corpus"
RUNS = (datetime(2026, 10, 1, 12, 0, tzinfo=UTC), datetime(2026, 11, 15, 10, 0, tzinfo=UTC),
        datetime(2026, 11, 20, 9, 0, tzinfo=UTC))


def desk_fleet(folder: Path) -> Path:
    """A copy of the desk fleet in ``folder`` with its history; returns the inventory file."""
    shutil.copytree(FLEET, folder, dirs_exist_ok=True)
    inventory = folder / "inventory" / "desk.py"
    fleet, plans = load_valid_fleet(inventory, cwd=folder)
    for number, moment in enumerate(RUNS):
        records, policies = [], []
        for relay in fleet.relays:
            s = relay.settings
            if relay.name == "relay-3" and number < 2:
                continue
            if relay.name == "relay-2" and number == 0:
                s = replace(s, exit_policy_rules=())
            if relay.name == "relay-1" and number == 0:
                s = replace(s, public_ipv4="192.0.2.41")
            policy = exit_policy_of(s)
            fingerprints = {"/var/lib/tor": f"{number}{relay.name[-1]}".ljust(40, "A")} if s.network == "tor" else {}
            records.append(history.run_record(
                time=moment, fleet=fleet.name, relay=relay.name, network=s.network, nickname=s.nickname,
                hostname=plans[relay.name].hostname, ipv4=s.public_ipv4 or "", ipv6=s.public_ipv6 or "",
                policy=policy, converged=True, fingerprints=fingerprints, reboot_mode=s.reboot,
                reboot_local=plans[relay.name].reboot_time, timezone=s.timezone))
            policies.append(history.policy_document(policy))
        control.append_history(fleet_dir(inventory), records, policies)
    return inventory
