"""What a unit needs to know about the host it runs for: validated settings and its plan."""

from __future__ import annotations

from typing import Any

from gevent.event import AsyncResult
from pyinfra import host
from pyinfra.api import FactBase
from pyinfra.api.host import Host

from exitkit.plan import PLAN_KEY, RelayPlan
from exitkit.settings import RelaySettings


def relay_settings() -> RelaySettings:
    """The host's settings, exactly as the inventory loader validated and merged them."""
    return RelaySettings.from_data(host.data.dict())


def relay_plan() -> RelayPlan:
    """The host's part of the fleet plan, as the inventory loader computed it (exitkit.fleet.pyinfra_inventory)."""
    plan = host.data.get(PLAN_KEY)
    if not isinstance(plan, RelayPlan):
        raise RuntimeError(f"{host.name} has no exitkit plan: run pyinfra with an inventory that calls "
                           "exitkit.fleet.pyinfra_inventory (inventory/<fleet>.py)")
    return plan


# (relay name, fact) -> what the fact read this run. By name: pyinfra's ``host`` is a proxy of whichever relay
# is being prepared, so keying by that object would give every relay the first one's answer.
_READ_THIS_RUN: dict[tuple[str, type], AsyncResult] = {}


def fact_once(relay: Host, fact: type[FactBase]) -> Any:
    """A fact without arguments, read once per relay per run: pyinfra reads a fact anew each time it is
    asked, and every unit, or every member of a family, may ask for another relay's.

    The first to ask reads it; whoever asks meanwhile waits for that answer instead of asking too. Otherwise a
    family of more than ten relays, planned at once, opens a session per member on every member's SSH
    connection at the same moment, and sshd refuses those beyond MaxSessions (10 by default): "Channel closed".
    """
    key = (relay.name, fact)
    if key not in _READ_THIS_RUN:
        result = _READ_THIS_RUN[key] = AsyncResult()
        try:
            result.set(relay.get_fact(fact))
        except Exception as error:  # noqa: BLE001  (those waiting for it must not wait forever)
            result.set_exception(error)
    return _READ_THIS_RUN[key].get()
