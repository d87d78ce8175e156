"""A fleet as operators and pyinfra address it: load it whole and valid, or stop before any host.

The one-line files an operator keeps in the fleet's folder call this module:

    inventory/<fleet>.py    from exitkit.fleet import pyinfra_inventory; globals().update(pyinfra_inventory(__file__))
    group_data/<group>.py   from exitkit.fleet import group_settings; globals().update(group_settings(__file__))

``exitkit`` (the CLI), the inventory loader and the local lab all load through
``load_valid_fleet``, so an invalid fleet reads the same everywhere and exits 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from exitkit.loader import check_values, fleet_dir, load_fleet, read_yaml, shown_path, warn_fleet
from exitkit.model import Fleet, FleetInvalid, SettingsError
from exitkit.plan import PLAN_KEY, RelayPlan, plan_fleet
from exitkit.settings import RelaySettings

INVALID_HEADER = "exitkit: the fleet settings are not valid; no host was contacted."


def report_invalid(invalid: FleetInvalid, stream: TextIO | None = None) -> None:
    """Every mistake, one line each, under one header."""
    stream = stream or sys.stderr
    stream.write(INVALID_HEADER + "\n")
    for error in invalid.errors:
        stream.write(f"  {error}\n")


def load_valid_fleet(inventory: str | Path, cwd: Path | None = None) -> tuple[Fleet, dict[str, RelayPlan]]:
    """The fleet and its plan, or the report of every mistake and exit status 2."""
    try:
        fleet = load_fleet(inventory, cwd)
        return fleet, plan_fleet(fleet, fleet_dir(inventory))
    except FleetInvalid as invalid:
        report_invalid(invalid)
        raise SystemExit(2) from None


def pyinfra_inventory(inventory_py: str) -> dict[str, list]:
    """For ``inventory/<fleet>.py``: validate everything, or stop before any connection.

    Each host gets its complete merged settings as host data, so what the deploy
    reads is exactly what was validated here, and its part of the fleet plan whole
    (``exitkit_plan``, a RelayPlan).
    """
    fleet, plans = load_valid_fleet(inventory_py)
    warn_fleet(fleet)
    groups: dict[str, list] = {}
    for relay in fleet.relays:
        data = {**relay.connection, **_as_host_data(relay.settings), PLAN_KEY: plans[relay.name]}
        first = relay.groups[2] if len(relay.groups) > 2 else fleet.name
        for group in relay.groups[2:] or (fleet.name,):
            groups.setdefault(group, []).append((relay.name, data) if group == first else relay.name)
    return groups


def _as_host_data(relay_settings: RelaySettings) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(relay_settings).items()}


def group_settings(group_py: str) -> dict:
    """For ``group_data/<group>.py``: the group's YAML as pyinfra group data."""
    path = Path(group_py).with_suffix(".yml")
    errors: list[SettingsError] = []
    values = check_values(read_yaml(path, errors), shown_path(path), f"group '{path.stem}'", errors)
    if errors:
        raise FleetInvalid(errors)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items()}
