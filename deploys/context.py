"""What a unit needs to know about the host it runs for: validated settings and its plan."""

from __future__ import annotations

from collections.abc import Callable
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


def read_once(answers: dict[Any, AsyncResult], key: Any, read: Callable[[], Any]) -> Any:
    """``read()`` once per ``key`` in ``answers``: the first to ask reads, whoever asks meanwhile waits for that
    answer instead of asking too (a failed read fails every asker; none waits forever).

    Every member of a family reads every other member's relay, planned or run at once: asked each on its own,
    a family of more than ten relays opens a session per member on every member's SSH connection at the same
    moment, and sshd refuses those beyond MaxSessions (10 by default): "Channel closed".
    """
    if key not in answers:
        result = answers[key] = AsyncResult()
        try:
            result.set(read())
        except Exception as error:  # noqa: BLE001  (those waiting for it must not wait forever)
            result.set_exception(error)
    return answers[key].get()


# (relay name, fact) -> what the fact read this run. By name: pyinfra's ``host`` is a proxy of whichever relay
# is being prepared, so keying by that object would give every relay the first one's answer.
_READ_THIS_RUN: dict[tuple[str, type], AsyncResult] = {}


def fact_once(relay: Host, fact: type[FactBase]) -> Any:
    """A fact without arguments, read once per relay per run (``read_once``): pyinfra reads a fact anew each time
    it is asked, and every unit, or every member of a family, may ask for another relay's."""
    return read_once(_READ_THIS_RUN, (relay.name, fact), lambda: relay.get_fact(fact))
