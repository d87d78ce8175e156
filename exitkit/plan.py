"""Fleet-wide results computed once from the validated settings, before any host is contacted.

Names, policies and the reboot schedule need the whole fleet (uniqueness, the
at-once limit), so they are planned here and each host receives its part as
host data (``exitkit_<key>``) for the deploy units to read.
"""

from __future__ import annotations

from dataclasses import dataclass

from exitkit import naming, policy, schedule
from exitkit.fleet import Fleet, FleetInvalid, Relay, SettingsError
from exitkit.settings import RelaySettings


@dataclass(frozen=True)
class RelayPlan:
    index: int  # place among the fleet's relays of the same network, from 1
    hostname: str
    reboot: schedule.RebootTime | None  # None: this relay never reboots on a schedule

    def host_data(self) -> dict:
        return {"exitkit_index": self.index, "exitkit_hostname": self.hostname,
                "exitkit_reboot_time": f"{self.reboot.local_time:%H:%M}" if self.reboot else "",
                "exitkit_reboot_on_calendar": self.reboot.on_calendar if self.reboot else ""}


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
                naming.check_name(hostname, s.domain, s.name_must_say_exit)
        except ValueError as error:
            errors.append(_error(relay, key, getattr(s, key), str(error)))
            continue
        if hostname and names.setdefault(hostname, relay.name) != relay.name:
            errors.append(_error(relay, key, hostname, f"expected a name unique in the fleet; host '{names[hostname]}' has it too"))
        plans[relay.name] = hostname, index
        try:
            exit_policy_of(s)
        except policy.PolicyError as error:
            key = "exit_policy_rules" if error.index is not None else "exit_policy"
            value = s.exit_policy_rules[error.index] if error.index is not None else s.exit_policy
            errors.append(_error(relay, key, value, str(error) if str(error).startswith("expected") else
                                 f"expected a policy entry that can take effect: {error}"))
        try:
            schedule.check_purge_dirs(list(s.purge_dirs))
        except ValueError as error:
            errors.append(_error(relay, "purge_dirs", list(s.purge_dirs), str(error)))
    errors.extend(_one_resolver(fleet))
    if errors:
        raise FleetInvalid(errors)
    times = reboot_times(fleet)
    return {name: RelayPlan(index, hostname, times.get(name)) for name, (hostname, index) in plans.items()}


def _one_resolver(fleet: Fleet) -> list[SettingsError]:
    """The reverse-DNS check looks at the whole fleet from one place, so it asks one resolver."""
    first = fleet.relays[0] if fleet.relays else None
    return [_error(relay, "dns_check_resolver", relay.settings.dns_check_resolver,
                   f"expected one resolver for the whole fleet; host '{first.name}' has "
                   f"{first.settings.dns_check_resolver!r} (set it in group_data/all.yml)")
            for relay in fleet.relays[1:] if relay.settings.dns_check_resolver != first.settings.dns_check_resolver]


def schedule_inputs(fleet: Fleet) -> list[schedule.RelayToSchedule]:
    return [schedule.RelayToSchedule(
        name=relay.name, group=relay.groups[-1], family="", window=schedule.RebootWindow.parse(relay.settings.reboot_window),
        timezone=relay.settings.timezone, max_at_once=relay.settings.reboot_max_at_once,
        slot_minutes=relay.settings.reboot_slot_minutes)
        for relay in fleet.relays if relay.settings.reboot != "never"]


def reboot_times(fleet: Fleet) -> dict[str, schedule.RebootTime]:
    """The fleet's reboot schedule; a fleet that cannot fit its windows is refused."""
    try:
        return schedule.reboot_schedule(schedule_inputs(fleet))
    except schedule.ScheduleError as error:
        relay = next(r for r in fleet.relays if r.settings.reboot != "never")
        raise FleetInvalid([_error(relay, "reboot_window", relay.settings.reboot_window, f"expected a window that holds the fleet: {error}")]) from None


def exit_policy_of(settings: RelaySettings) -> policy.ExitPolicy:
    """The one policy a relay enforces, serves and states, from its settings."""
    own = [a for a in (settings.public_ipv4, settings.public_ipv6) if a]
    return policy.build_policy(settings.exit_policy, list(settings.exit_policy_rules),
                               ipv6_exit=settings.ipv6_exit, own_addresses=own,
                               exit_relay=settings.exit_policy != "reject-all")
