"""Rehearsal of an operator's fleet: as many lab relays as it has, converged twice.

The second run must change nothing; the operator's CI runs this before a change
reaches the real servers. The rehearsal never uses the fleet's connection keys:
each host is moved onto a lab relay, with every real network switched off.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from exitkit.lab.containers import LocalFleet
from exitkit.lab.process import log
from exitkit.lab.runs import changed_operations, pyinfra, write_fleet_folder

REHEARSAL = "test_rehearsal"  # the rehearsal's inventory name: a test fleet, so test_network_off draws no warning


def _yaml_value(value: Any) -> Any:
    return [_yaml_value(v) for v in value] if isinstance(value, (tuple, list)) else value


def rehearsal_settings(lab: LocalFleet) -> dict[str, Any]:
    """Set on every rehearsal host (the host layer wins): the lab relays stay off every real network."""
    return {"test_network_off": True, "dns_forwarders": [lab.resolver],
            "key_backup_dir": ""}  # throw-away keys never land in the operator's backup folder


def write_rehearsal(inventory: Path, lab: LocalFleet, folder: Path, cwd: Path | None = None) -> Path:
    """The operator's fleet with its hosts moved onto the lab's relays; returns the rehearsal inventory.

    Same groups, group data and host settings (validated by exitkit.fleet first);
    each host keeps its name but its ssh_* keys point at one lab relay, in the
    fleet's order; the fleet's own group is renamed with the fleet. Connection
    keys set in group data are left out: they describe the real servers.
    """
    from exitkit.loader import group_data_dirs, load_fleet, load_group_files
    from exitkit.settings import CONNECTION_KEYS, SETTINGS

    fleet = load_fleet(inventory, cwd)
    own = {fleet.name: REHEARSAL}
    errors: list = []
    groups = load_group_files(group_data_dirs(Path(inventory), cwd), errors)
    group_data = {own.get(name, name): {k: _yaml_value(v) for k, v in values.items() if k not in CONNECTION_KEYS}
                  for name, (values, _) in groups.items()}
    hosts: dict[str, dict[str, Any]] = {}
    for i, relay in enumerate(fleet.relays, 1):
        mine = {key: _yaml_value(getattr(relay.settings, key)) for key, (_, where) in relay.sources.items()
                if where == f"host '{relay.name}'" and key in SETTINGS}
        data = {**mine, **lab.connection(lab.relay(i)), **rehearsal_settings(lab)}
        for n, group in enumerate(relay.groups[2:] or (REHEARSAL,)):
            hosts.setdefault(own.get(group, group), {})[relay.name] = data if n == 0 else None
    return write_fleet_folder(folder, REHEARSAL, hosts, group_data)


def rehearse(inventory: str, keep: bool = False) -> int:
    """Bring up as many lab relays as the fleet has, converge them twice; the second run must change nothing."""
    from exitkit.fleet import load_valid_fleet  # the same validation and messages as `exitkit check` (exit 2)

    fleet, _ = load_valid_fleet(inventory)
    lab = LocalFleet("rehearse", len(fleet.relays))
    lab.down()  # a rehearsal left over by an interrupted run
    try:
        lab.up()
        folder = lab.dir / "fleet"
        shutil.rmtree(folder, ignore_errors=True)
        rehearsal = write_rehearsal(Path(inventory), lab, folder)
        for i, relay in enumerate(fleet.relays, 1):
            print(f"{relay.name}: rehearsed on {lab.relay(i).container} (ssh {lab.relay(i).address})")
        changed: dict[str, list[str]] = {}
        for attempt in ("first", "second"):
            log(f"rehearsal: {attempt} run of pyinfra {rehearsal.relative_to(folder)} deploys/exit.py")
            result = pyinfra(rehearsal, "--json", cwd=folder)
            if result.returncode != 0:
                print(f"rehearsal: the {attempt} run failed (exit {result.returncode}):\n{result.stderr[-4000:]}",
                      file=sys.stderr)
                return 1
            changed = changed_operations(result.stdout)
            count = sum(len(hosts) for hosts in changed.values())
            print(f"rehearsal: {attempt} run converged {len(fleet.relays)} relays, {count} changes")
        if changed:
            print("rehearsal: the second run changed what the first had converged:", file=sys.stderr)
            for name, hosts in changed.items():
                print(f"  {name}: {', '.join(hosts)}", file=sys.stderr)
            return 1
        print("rehearsal: ok, a second run changes nothing")
        return 0
    finally:
        if keep:
            log(f"kept: relays {', '.join(r.container for r in lab.relays)}; fleet folder {lab.dir / 'fleet'}; "
                f"remove with: python -m exitkit.lab down --name rehearse")
        else:
            lab.down()
