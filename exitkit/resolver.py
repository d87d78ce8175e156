"""The exit's own resolver: unbound, validating, on localhost only; resolv.conf and DHCP kept pointing at it."""

from __future__ import annotations

from dataclasses import dataclass

from exitkit.configfile import ConfigFile, static
from exitkit.settings import RelaySettings
from exitkit.templating import render
from exitkit.units import UnitState, load_state_command, unit_state

UNBOUND_CONF = "/etc/unbound/unbound.conf.d/exitkit.conf"
RESOLV_CONF = "/etc/resolv.conf"
DHCLIENT_HOOK = "/etc/dhcp/dhclient-enter-hooks.d/exitkit-keep-resolv-conf"


def resolver_files(settings: RelaySettings) -> list[ConfigFile]:
    """unbound on localhost (checked by unbound-checkconf), resolv.conf pointing at it once it answers,
    and the dhclient hook that keeps a DHCP lease from pointing it elsewhere again."""
    return [
        static(DHCLIENT_HOOK, "resolver/dhclient-keep-resolv-conf.sh"),
        ConfigFile(UNBOUND_CONF,
                   render("resolver/unbound.conf.j2", forwarders=list(settings.dns_forwarders),
                          ipv6=bool(settings.public_ipv6), permissive=settings.test_network_off),
                   check="unbound-checkconf {path} >/dev/null"),
        ConfigFile(RESOLV_CONF, render("resolver/resolv.conf.j2"), in_place=True,
                   check="unbound-control -c /etc/unbound/unbound.conf status >/dev/null"),
    ]


# What the deploy reads before installing unbound, one labelled line each: whether unbound's unit exists
# (masked before the package's install, which would start it with Debian's config) and whether
# systemd-resolved runs (it holds port 53 until unbound takes over).
UNITS_COMMAND = (f'echo "unbound: $({load_state_command("unbound.service")})"; '
                 'echo "systemd-resolved: $(systemctl is-active systemd-resolved.service 2>/dev/null)"; true')


@dataclass(frozen=True)
class ResolverUnits:
    unbound: UnitState
    resolved_active: bool


def parse_resolver_units(lines: list[str]) -> ResolverUnits:
    """``UNITS_COMMAND``'s lines; a line missing reads as no unbound and no systemd-resolved."""
    answers = {}
    for line in lines:
        unit, _, answer = line.partition(":")
        answers[unit.strip()] = answer.strip()
    return ResolverUnits(unbound=unit_state(answers.get("unbound", "")),
                         resolved_active=answers.get("systemd-resolved") == "active")
