"""Deploying to lab relays as an operator does: a fleet folder, and the real pyinfra command line.

Shared by the tests' harness, the benchmark and the rehearsal, so all of them
run the same command an operator types, from a fleet folder an operator could
have written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from exitkit.lab import PROJECT
from exitkit.lab.containers import LocalFleet
from exitkit.lab.process import run

DEPLOY = PROJECT / "deploys" / "exit.py"
INVENTORY_LOADER = ("from exitkit.fleet import pyinfra_inventory; "
                    "globals().update(pyinfra_inventory(__file__))  # noqa\n")
GROUP_LOADER = "from exitkit.fleet import group_settings; globals().update(group_settings(__file__))  # noqa\n"


def pyinfra_command() -> str:
    """pyinfra from the same environment as this Python, else the one on PATH."""
    exe = Path(sys.executable).with_name("pyinfra")
    return str(exe if exe.exists() else "pyinfra")


def pyinfra(inventory: Path, *args: str, cwd: Path = PROJECT, deploy: Path | None = None,
            env: dict[str, str] | None = None, yes: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the real pyinfra command line; its output is captured.

    ``yes=False`` leaves out ``-y``: pyinfra then detects changes first, which is
    what shows a ``--dry --diff`` preview.
    """
    cmd = [pyinfra_command(), *(("-y",) if yes else ()), str(inventory), str(deploy or DEPLOY), *args]
    return run(cmd, check=False, cwd=cwd, env={**os.environ, **(env or {})})


def write_fleet_folder(folder: Path, fleet_name: str, inventory: dict[str, dict[str, Any]],
                       group_data: dict[str, dict[str, Any]]) -> Path:
    """An operator-style fleet folder (inventory/<fleet>.yml and .py, group_data/<group>.yml and .py).

    ``inventory`` is group -> host -> settings, ``group_data`` group -> settings.
    Group files from an earlier write are removed first. Returns inventory/<fleet>.py.
    """
    (folder / "inventory").mkdir(parents=True, exist_ok=True)
    (folder / "group_data").mkdir(exist_ok=True)
    (folder / "inventory" / f"{fleet_name}.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
    (folder / "inventory" / f"{fleet_name}.py").write_text(INVENTORY_LOADER)
    for old in (folder / "group_data").glob("*"):
        old.unlink()
    for group, data in group_data.items():
        (folder / "group_data" / f"{group}.yml").write_text(yaml.safe_dump(data, sort_keys=False))
        (folder / "group_data" / f"{group}.py").write_text(GROUP_LOADER)
    return folder / "inventory" / f"{fleet_name}.py"


def lab_inventory(lab: LocalFleet,
                  groups: Mapping[str, Mapping[str, Mapping[str, Any] | None]]) -> dict[str, dict[str, Any]]:
    """group -> host -> settings, each host (named like a lab relay) given that relay's connection and notice_url.

    The outside check reaches each relay's page at its address on the fleet's internal network.
    """
    relays = {relay.name: relay for relay in lab.relays}
    return {group: {name: {**lab.connection(relays[name]), "notice_url": relays[name].notice_url, **(data or {})}
                    for name, data in hosts.items()}
            for group, hosts in groups.items()}


def changed_operations(json_stdout: str) -> dict[str, list[str]]:
    """From `pyinfra --json` results: operation name -> hosts it changed."""
    operations = json.loads(json_stdout)["results"]["operations"]
    return {op["name"]: op["success"] for op in operations if op["success"]}
