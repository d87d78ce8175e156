"""The exit's own DNS resolver: unbound, validating, on localhost only, and resolv.conf pointing at it."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.facts.server import Command
from pyinfra.operations import apt, files, server, systemd

from deploys.context import TEMPLATES, relay_settings, render
from deploys.ops import checked_file

UNIT_STATE = "systemctl is-enabled unbound.service 2>/dev/null; systemctl is-active systemd-resolved.service 2>/dev/null; true"


@deploy("Local validating resolver")
def resolver():
    s = relay_settings()
    unit, resolved = (host.get_fact(Command, UNIT_STATE).splitlines() + ["", ""])[:2]
    if unit == "":
        # Debian's package starts unbound at once, resolving from the root: not before our config is checked
        server.shell(name="Keep unbound from starting before its configuration is checked",
                     commands=["systemctl mask unbound.service"])
    apt.packages(name="Install unbound and the DNSSEC root trust anchor", packages=["unbound", "dns-root-data"],
                 update=True, cache_time=3600, no_recommends=True)
    config = checked_file(
        name="unbound configuration, checked by unbound-checkconf first",
        content=render("resolver/unbound.conf.j2", forwarders=list(s.dns_forwarders), ipv6=bool(s.public_ipv6),
                       permissive=s.test_network_off),
        dest="/etc/unbound/unbound.conf.d/exitkit.conf", check="unbound-checkconf {path} >/dev/null")
    if unit in ("", "masked"):
        server.shell(name="Let unbound start now that its configuration is checked",
                     commands=["systemctl unmask unbound.service"])
    systemd.service(name="unbound enabled and running", service="unbound.service", running=True, enabled=True)
    systemd.service(name="Restart unbound for its checked new configuration", service="unbound.service",
                    restarted=True, _if=config.did_change)

    # only now that unbound answers: every lookup of this machine goes to it
    if resolved == "active":
        systemd.service(name="systemd-resolved off: unbound answers on port 53", service="systemd-resolved.service",
                        running=False, enabled=False)
    if host.get_fact(File, path="/sbin/dhclient") or host.get_fact(File, path="/etc/dhcp/dhclient.conf"):
        files.put(name="dhclient leaves resolv.conf alone", src=str(TEMPLATES / "resolver/dhclient-keep-resolv-conf.sh"),
                  dest="/etc/dhcp/dhclient-enter-hooks.d/exitkit-keep-resolv-conf", create_remote_dir=True)
    checked_file(name="resolv.conf: this machine asks its own unbound",
                 content=render("resolver/resolv.conf.j2"), dest="/etc/resolv.conf",
                 # unbound must answer before the machine depends on it
                 check="unbound-control -c /etc/unbound/unbound.conf status >/dev/null", in_place=True)
