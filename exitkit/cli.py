"""The `exitkit` command: look at a fleet without touching any host.

    exitkit check inventory/<fleet>.py         validate every setting of every relay
    exitkit settings-table                     the README's settings table
"""

from __future__ import annotations

import argparse
import sys

from exitkit import settings
from exitkit.fleet import FleetInvalid, load_fleet


def _load(inventory: str):
    from exitkit.plan import plan_fleet

    try:
        fleet = load_fleet(inventory)
        return fleet, plan_fleet(fleet)
    except FleetInvalid as invalid:
        print("exitkit: the fleet settings are not valid:", file=sys.stderr)
        for error in invalid.errors:
            print(f"  {error}", file=sys.stderr)
        raise SystemExit(2)


def cmd_check(args) -> int:
    fleet, plans = _load(args.inventory)
    for relay in fleet.relays:
        s = relay.settings
        print(f"{relay.name}: {s.network} {s.nickname} {plans[relay.name].hostname or '(no name)'} ok")
    return 0


def cmd_settings_table(args) -> int:
    sys.stdout.write(settings.settings_table())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="exitkit", description="Look at an exit relay fleet without touching any host.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="validate every setting of every relay")
    p.add_argument("inventory")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("settings-table", help="print the README's settings table")
    p.set_defaults(func=cmd_settings_table)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
