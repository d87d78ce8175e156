"""The exit's own resolver: unbound, validating, on localhost only; resolv.conf and DHCP kept pointing at it."""

from __future__ import annotations

from exitkit.configfile import ConfigFile, static
from exitkit.settings import RelaySettings
from exitkit.templating import render

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
