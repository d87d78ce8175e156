"""The fence: test relays can reach nothing but the control machine, and get Debian packages through it.

Proven from the network's settings and each relay's routing table, never by
sending traffic out. The only traffic here goes to the relays and to the control
machine's side of their network (the apt proxy, the lab's resolver).
"""

from __future__ import annotations

import json
import subprocess

import dns.message
import dns.query
import dns.rcode
import pytest

from exitkit.lab.addresses import APT_PROXY_NAME, APT_PROXY_PORT
from exitkit.lab.fence import proxy_log_mark, proxy_log_since


def test_the_fleet_network_is_internal_without_podman_dns(fleet):
    out = subprocess.run(["podman", "network", "inspect", fleet.lab.network], text=True, capture_output=True,
                         check=True).stdout
    network = json.loads(out)[0]
    assert network["internal"] is True
    # aardvark-dns would forward what it does not know to the host's resolvers, that is outside
    assert network["dns_enabled"] is False
    assert [s["subnet"] for s in network["subnets"]] == [fleet.lab.subnet]


@pytest.mark.parametrize("family", ["-4", "-6"])
def test_no_relay_has_a_route_out(fleet, family):
    for relay in fleet.relays:
        routes = fleet.exec(relay.name, "ip", family, "route", "show", "table", "all").stdout.splitlines()
        assert not [r for r in routes if r.startswith("default")], (relay.name, routes)
        if family == "-4":
            main = fleet.exec(relay.name, "ip", "-4", "route").stdout.splitlines()
            assert [r.split()[0] for r in main] == [fleet.lab.subnet], (relay.name, main)


def test_nothing_is_published_on_the_host(fleet):
    for relay in fleet.relays:
        ports = subprocess.run(["podman", "port", relay.container], text=True, capture_output=True, check=True)
        assert ports.stdout.strip() == "", (relay.name, ports.stdout)


def test_each_relay_runs_its_release(fleet):
    for relay in fleet.relays:
        os_release = fleet.exec(relay.name, "cat", "/etc/os-release").stdout
        assert f"VERSION_CODENAME={relay.release}" in os_release, relay.name
    assert {relay.release for relay in fleet.relays} == {"trixie", "bookworm"}


def test_apt_uses_the_control_machines_proxy_and_works_through_it(fleet):
    for relay in fleet.relays:
        proxy = fleet.exec(relay.name, "apt-config", "dump", "Acquire::http::Proxy").stdout
        assert proxy.strip() == f'Acquire::http::Proxy "http://{APT_PROXY_NAME}:{APT_PROXY_PORT}/";', proxy
        hosts = fleet.exec(relay.name, "getent", "hosts", APT_PROXY_NAME).stdout.split()
        assert hosts[:1] == [fleet.lab.gateway], hosts
        mark = proxy_log_mark()
        update = fleet.exec(relay.name, "apt-get", "update", check=False)
        assert update.returncode == 0, update.stdout + update.stderr
        assert "Failed to fetch" not in update.stdout + update.stderr, update.stderr
        # the proxy served this relay the release's index files
        served = [e[4] for e in proxy_log_since(mark) if e[1] == "O" and e[3] == relay.address]
        assert any(f"dists/{relay.release}/" in path for path in served), (relay.name, served)


def ask(server: str, name: str) -> dns.message.Message:
    return dns.query.udp(dns.message.make_query(name, "A"), server, timeout=3)


def test_the_relays_resolver_answers_only_the_lab(fleet):
    """The resolver the relays ask (their unbound forwards to it) knows the proxy's name and nothing outside."""
    assert fleet.group_data["all"]["dns_forwarders"] == [fleet.lab.gateway]
    proxy = ask(fleet.lab.gateway, f"{APT_PROXY_NAME}.")
    assert [item.address for rrset in proxy.answer for item in rrset] == [fleet.lab.gateway]
    outside = ask(fleet.lab.gateway, "deb.debian.org.")
    assert dns.rcode.to_text(outside.rcode()) == "NXDOMAIN" and not outside.answer
