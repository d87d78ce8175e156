"""What a unit needs to know about the host it runs for: validated settings and its plan."""

from __future__ import annotations

from pyinfra import host

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
