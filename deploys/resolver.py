"""The exit's own DNS resolver: unbound, validating, on localhost only, and resolv.conf pointing at it."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import FactBase, deploy

from deploys.context import fact_once, relay_settings
from deploys.ops import units, write_config, write_configs
from deploys.release import relay_release
from exitkit.configfile import by_path
from exitkit.remote import Folder, WantedUnit
from exitkit.resolver import (
    DHCLIENT_HOOK,
    RESOLV_CONF,
    UNBOUND_CONF,
    UNITS_COMMAND,
    ResolverUnits,
    parse_resolver_units,
    resolver_files,
)


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
    resolver_units = fact_once(host, ResolverUnitStates)
    config = write_config(wanted[UNBOUND_CONF],
                          name="unbound configuration, checked by unbound-checkconf first")
    # unmasked (it was masked until its configuration was checked), started once with it, restarted when it changes
    units(name="unbound enabled and running its checked configuration", wanted=[WantedUnit("unbound.service")],
          restart=config.did_change)

    # only now that unbound answers: every lookup of this machine goes to it
    if resolver_units.resolved_active:
        units(name="systemd-resolved off: unbound answers on port 53",
              wanted=[WantedUnit("systemd-resolved.service", running=False, enabled=False)])
    # written whether or not dhclient is installed yet, so a DHCP client added later keeps it too
    # resolv.conf is checked by asking unbound for its status: it must answer before the machine depends on it
    write_configs([wanted[DHCLIENT_HOOK], wanted[RESOLV_CONF]], folders=[Folder(DHCLIENT_HOOK.rsplit("/", 1)[0])],
                  name="dhclient leaves resolv.conf alone; resolv.conf: this machine asks its own unbound")
