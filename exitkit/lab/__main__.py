"""The lab's command line: ``python -m exitkit.lab demo|up|down|image|rehearse``."""

from __future__ import annotations

import argparse
import shutil
import sys

import exitkit.lab
from exitkit.lab.containers import LocalFleet
from exitkit.lab.demo import DEMO, demo, demo_down
from exitkit.lab.image import DEFAULT_RELEASE, RELEASES, ensure_image, prepare_host
from exitkit.lab.rehearse import rehearse


def parser() -> argparse.ArgumentParser:
    described = (exitkit.lab.__doc__ or "").split("\n")[0]
    commands = argparse.ArgumentParser(prog="python -m exitkit.lab", description=described)
    sub = commands.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="bring up (or reuse) 3 relays and their DNS server, and converge them")
    for name, told in (("up", "start a fleet's missing relays"),
                       ("down", "remove a fleet's relays and network (the demo's: also its DNS server)")):
        p = sub.add_parser(name, help=told)
        p.add_argument("--name", default=DEMO.name)
        p.add_argument("--size", type=int, default=DEMO.size)
        p.add_argument("--release", choices=RELEASES, default=DEFAULT_RELEASE, help="Debian release of its relays")
    p = sub.add_parser("image", help="build a release's relay image if its recipe changed")
    p.add_argument("--release", choices=RELEASES, default=DEFAULT_RELEASE)
    p = sub.add_parser("rehearse",
                       help="converge the fleet's shape on local relays twice; fail if the second run changes")
    p.add_argument("inventory", help="inventory/<fleet>.py, run from the fleet's folder")
    p.add_argument("--keep", action="store_true", help="leave the relays running afterwards")
    return commands


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if shutil.which("podman") is None:
        print("podman is not installed: run ./kit setup first", file=sys.stderr)
        return 2
    if args.command == "demo":
        return demo()
    if args.command == "rehearse":
        return rehearse(args.inventory, args.keep)
    if args.command == "image":
        prepare_host()
        print(ensure_image(args.release))
        return 0
    if args.command == "down" and args.name == DEMO.name:
        demo_down()
        return 0
    fleet = LocalFleet(args.name, args.size, args.release)
    if args.command == "up":
        fleet.up()
    else:
        fleet.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
