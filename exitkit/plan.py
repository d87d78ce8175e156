"""Fleet-wide results computed once from the validated settings, before any host is contacted.

Names, families, the restart batch and the reboot schedule need the whole fleet
(uniqueness, the at-once limit), so they are planned here; each host receives
its part whole, a RelayPlan in host data under ``PLAN_KEY``, for the deploy
units and ``exitkit.configs`` to read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from exitkit import control, history, naming, policy, tor
from exitkit.maintenance import purge, schedule
from exitkit.model import Fleet, FleetInvalid, SettingsError, relay_error
from exitkit.settings import RelaySettings

PLAN_KEY = "exitkit_plan"  # the host data key that carries a relay's RelayPlan


@dataclass(frozen=True)
class RelayPlan:
    """One relay's part of the fleet plan: what its settings alone cannot tell."""

    fleet: str  # the inventory's name
    index: int  # place among the fleet's relays of the same network, from 1
    hostname: str
    reboot: schedule.RebootTime | None  # None: this relay never reboots on a schedule
    tor_family_hosts: tuple[str, ...] = ()  # hosts whose tor instances declare each other (this one included)
    restart_batch: int = 1  # relays restarting their daemons at the same moment, fleet-wide
    fleet_dir: Path | None = None  # the operator's fleet folder (family key, caches); None: not known
    in_service_since: str = ""  # UTC date of the first run the fleet history shows converging it; "" before

    @property
    def reboot_time(self) -> str:
        """The local reboot time as HH:MM, or "" without a scheduled reboot."""
        return f"{self.reboot.local_time:%H:%M}" if self.reboot else ""

    @property
    def reboot_on_calendar(self) -> str:
        """systemd's OnCalendar= for the reboot timer, or "" without a scheduled reboot."""
        return self.reboot.on_calendar if self.reboot else ""


def plan_fleet(fleet: Fleet, fleet_dir: Path | None = None) -> dict[str, RelayPlan]:
    """Every relay's plan; a fleet whose names, policies, ports or schedule cannot work is refused whole."""
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
            errors.append(relay_error(relay, key, getattr(s, key), str(error)))
            continue
        if hostname and names.setdefault(hostname, relay.name) != relay.name:
            errors.append(relay_error(relay, key, hostname,
                                      f"expected a name unique in the fleet; host '{names[hostname]}' has it too"))
        plans[relay.name] = hostname, index
        try:
            exit_policy_of(s)
        except policy.PolicyError as error:
            key = "exit_policy_rules" if error.index is not None else "exit_policy"
            value = s.exit_policy_rules[error.index] if error.index is not None else s.exit_policy
            errors.append(relay_error(relay, key, value, str(error) if str(error).startswith("expected") else
                                 f"expected a policy entry that can take effect: {error}"))
        try:
            purge.log_dirs(list(s.purge_dirs))
        except ValueError as error:
            errors.append(relay_error(relay, "purge_dirs", list(s.purge_dirs), str(error)))
    errors.extend(tor.fleet_checks(fleet))
    errors.extend(_one_resolver(fleet))
    if errors:
        raise FleetInvalid(errors)
    times = reboot_times(fleet)
    families = tor_families(fleet)
    batch = restart_batch(fleet)
    records = control.read_history(fleet_dir, fleet.name) if fleet_dir else []
    since = {name: first.time[:10] for name in plans if (first := history.first_in_service(records, name))}
    return {name: RelayPlan(fleet.name, index, hostname, times.get(name), families.get(name, ()), batch, fleet_dir,
                            since.get(name, ""))
            for name, (hostname, index) in plans.items()}


def tor_families(fleet: Fleet) -> dict[str, tuple[str, ...]]:
    """Host -> the tor relays of its family (itself included), in inventory order."""
    members: dict[str, list[str]] = {}
    for relay in fleet.relays:
        if relay.settings.network == "tor" and relay.settings.tor_family:
            members.setdefault(relay.settings.tor_family, []).append(relay.name)
    return {name: tuple(hosts) for hosts in members.values() for name in hosts}


def restart_batch(fleet: Fleet) -> int:
    """The operator's batch size (the smallest, if relays differ), else a quarter of the fleet, at least one."""
    chosen = [r.settings.restart_batch_size for r in fleet.relays if r.settings.restart_batch_size]
    return min(chosen) if chosen else max(1, len(fleet.relays) // 4)


def _one_resolver(fleet: Fleet) -> list[SettingsError]:
    """The reverse-DNS check looks at the whole fleet from one place, so it asks one resolver."""
    if not fleet.relays:
        return []
    first = fleet.relays[0]
    return [relay_error(relay, "dns_check_resolver", relay.settings.dns_check_resolver,
                   f"expected one resolver for the whole fleet; host '{first.name}' has "
                   f"{first.settings.dns_check_resolver!r} (set it in group_data/all.yml)")
            for relay in fleet.relays[1:] if relay.settings.dns_check_resolver != first.settings.dns_check_resolver]


def schedule_inputs(fleet: Fleet) -> list[schedule.RelayToSchedule]:
    return [schedule.RelayToSchedule(
        name=relay.name, group=relay.groups[-1], family="",
        window=schedule.RebootWindow.parse(relay.settings.reboot_window),
        timezone=relay.settings.timezone, max_at_once=relay.settings.reboot_max_at_once,
        slot_minutes=relay.settings.reboot_slot_minutes)
        for relay in fleet.relays if relay.settings.reboot != "never"]


def reboot_times(fleet: Fleet) -> dict[str, schedule.RebootTime]:
    """The fleet's reboot schedule; a fleet that cannot fit its windows is refused."""
    try:
        return schedule.reboot_schedule(schedule_inputs(fleet))
    except schedule.ScheduleError as error:
        relay = next(r for r in fleet.relays if r.settings.reboot != "never")
        raise FleetInvalid([relay_error(relay, "reboot_window", relay.settings.reboot_window,
                                        f"expected a window that holds the fleet: {error}")]) from None


def exit_policy_of(settings: RelaySettings) -> policy.ExitPolicy:
    """The one policy a relay enforces, serves and states, from its settings."""
    own = [a for a in (settings.public_ipv4, settings.public_ipv6, *policy.exit_addresses(settings)) if a]
    return policy.build_policy(settings.exit_policy, list(settings.exit_policy_rules),
                               ipv6_exit=settings.ipv6_exit, own_addresses=own,
                               exit_relay=policy.is_exit_preset(settings.exit_policy))
