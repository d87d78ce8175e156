"""The exit's own DNS resolver: unbound, validating, on localhost only, and resolv.conf pointing at it."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import FactBase, deploy
from pyinfra.operations import files, server, systemd

from deploys.context import fact_once, relay_settings
from deploys.ops import write_config
from deploys.release import relay_release
from exitkit.configfile import by_path
from exitkit.resolver import (
    DHCLIENT_HOOK,
    RESOLV_CONF,
    UNBOUND_CONF,
    UNITS_COMMAND,
    ResolverUnits,
    parse_resolver_units,
    resolver_files,
)
from exitkit.units import UnitState


class ResolverUnitStates(FactBase):
    """unbound's unit state (absent, masked, present) and whether systemd-resolved runs."""

    def command(self) -> str:
        return UNITS_COMMAND

    @staticmethod
    def default() -> ResolverUnits:
        return parse_resolver_units([])

    def process(self, output):
        return parse_resolver_units(list(output))


@deploy("Local validating resolver")
def resolver():
    if relay_release() is None:
        return  # another release: refused by release.refuse_unsupported, nothing planned
    s = relay_settings()
    wanted = by_path(resolver_files(s))
    # installed (masked until now) by base.system, in the one apt transaction of every unit's packages
    units = fact_once(host, ResolverUnitStates)
    config = write_config(wanted[UNBOUND_CONF],
                          name="unbound configuration, checked by unbound-checkconf first")
    if units.unbound in (UnitState.ABSENT, UnitState.MASKED):
        server.shell(name="Let unbound start now that its configuration is checked",
                     commands=["systemctl unmask unbound.service"])
    systemd.service(name="unbound enabled and running", service="unbound.service", running=True, enabled=True)
    systemd.service(name="Restart unbound for its checked new configuration", service="unbound.service",
                    restarted=True, _if=config.did_change)

    # only now that unbound answers: every lookup of this machine goes to it
    if units.resolved_active:
        systemd.service(name="systemd-resolved off: unbound answers on port 53", service="systemd-resolved.service",
                        running=False, enabled=False)
    # written whether or not dhclient is installed yet, so a DHCP client added later keeps it too
    files.directory(name="dhclient hook folder", path=DHCLIENT_HOOK.rsplit("/", 1)[0])
    write_config(wanted[DHCLIENT_HOOK], name="dhclient leaves resolv.conf alone")
    # checked by asking unbound for its status: it must answer before the machine depends on it
    write_config(wanted[RESOLV_CONF], name="resolv.conf: this machine asks its own unbound")
