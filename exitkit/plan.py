"""Fleet-wide results computed once from the validated settings, before any host is contacted.

Names, policies and the reboot schedule need the whole fleet (uniqueness, the
at-once limit), so they are planned here and each host receives its part as
host data (``exitkit_<key>``) for the deploy units to read.
"""

from __future__ import annotations

from dataclasses import dataclass

from exitkit import naming
from exitkit.fleet import Fleet, FleetInvalid, Relay, SettingsError


@dataclass(frozen=True)
class RelayPlan:
    index: int  # place among the fleet's relays of the same network, from 1
    hostname: str

    def host_data(self) -> dict:
        return {"exitkit_index": self.index, "exitkit_hostname": self.hostname}


def _error(relay: Relay, key: str, value, expected: str) -> SettingsError:
    file, where = relay.sources.get(key, ("(default)", f"host '{relay.name}'"))
    return SettingsError(file, f"{where} (for host '{relay.name}')" if where != f"host '{relay.name}'" else where,
                         key, value, expected)


def plan_fleet(fleet: Fleet) -> dict[str, RelayPlan]:
    errors: list[SettingsError] = []
    names: dict[str, str] = {}
    plans = {}
    per_network: dict[str, int] = {}
    for relay in fleet.relays:
        s = relay.settings
        # {index} counts within the relay's network, so adding a nym relay never renames a tor exit
        index = per_network[s.network] = per_network.get(s.network, 0) + 1
        key = "hostname" if s.hostname else "name_pattern"
        try:
            hostname = naming.planned_hostname(s.network, s.nickname, s.domain, index, s.name_pattern, s.hostname)
            if hostname:
                naming.check_name(hostname, s.domain)
        except ValueError as error:
            errors.append(_error(relay, key, getattr(s, key), str(error)))
            continue
        if hostname and names.setdefault(hostname, relay.name) != relay.name:
            errors.append(_error(relay, key, hostname, f"expected a name unique in the fleet; host '{names[hostname]}' has it too"))
        plans[relay.name] = RelayPlan(index, hostname)
    if errors:
        raise FleetInvalid(errors)
    return plans
