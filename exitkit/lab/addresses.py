"""The lab's address plan: one internal network per fleet slot, a fixed address per relay.

Fixed addresses let the demo's files name its relays and let the control
machine's services (apt proxy, resolver) bind every lab network's gateway
before the network exists, so they are started once and never restarted
under a fleet that is using them.
"""

from __future__ import annotations

import os
import zlib

# The fleets the kit itself runs; any other fleet name gets one of the spare slots.
FLEET_SLOTS = {"demo": 0, "test": 1, "bench": 2, "rehearse": 3}
SPARE_SLOTS = 6  # 4..9: fleets named by tests
SLOTS = 30  # 10..29: fleets placed by EXITKIT_LAB_SLOTS, for developers running tests side by side
APT_PROXY_NAME = "apt-proxy"  # the name a relay's apt asks for; each container is given its gateway under it
APT_PROXY_PORT = 3142


def placed_slots() -> dict[str, int]:
    """Slots given in EXITKIT_LAB_SLOTS ("name=12,other=13"), so parallel checkouts never share a network."""
    placed = {}
    for item in os.environ.get("EXITKIT_LAB_SLOTS", "").split(","):
        name, _, number = item.strip().partition("=")
        if name and number.isdigit() and int(number) < SLOTS:
            placed[name] = int(number)
    return placed


def slot_of(fleet: str) -> int:
    """A placed or known fleet's slot; another name always gets the same spare slot (4..9)."""
    placed = placed_slots()
    if fleet in placed:
        return placed[fleet]
    return FLEET_SLOTS.get(fleet, len(FLEET_SLOTS) + zlib.crc32(fleet.encode()) % SPARE_SLOTS)


def subnet(slot: int) -> str:
    return f"10.89.{100 + slot}.0/24"


def gateway(slot: int) -> str:
    """The control machine's side of a slot's network: where its relays find the proxy and the resolver."""
    return f"10.89.{100 + slot}.1"


def relay_address(slot: int, index: int) -> str:
    """relay-1 is .11, relay-10 is .20."""
    return f"10.89.{100 + slot}.{10 + index}"


def every_gateway() -> list[str]:
    return [gateway(slot) for slot in range(SLOTS)]
