"""The demo fleet's files (inventory/demo.yml, group_data/demo.yml) say what the lab does for the demo.

Its addresses and key are written out by hand for the newcomer who reads them;
these tests keep them equal to the lab's formulas (exitkit/lab/addresses.py).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from exitkit.fleet import load_fleet
from exitkit.lab import LAB
from exitkit.lab.demo import DEMO, DNS, INVENTORY
from exitkit.lab.dns import fleet_host_records, fleet_zones
from exitkit.plan import plan_fleet

PROJECT = Path(__file__).resolve().parents[2]
HOSTS = {name: data for group in yaml.safe_load((PROJECT / "inventory" / "demo.yml").read_text()).values()
         for name, data in group.items()}
OWN_GROUP = yaml.safe_load((PROJECT / "group_data" / "demo.yml").read_text())


def test_every_demo_host_is_a_lab_relay_at_its_address():
    assert sorted(HOSTS) == [relay.name for relay in DEMO.relays]
    for relay in DEMO.relays:
        host = HOSTS[relay.name]
        assert (host["ssh_hostname"], host.get("ssh_port", 22)) == (relay.address, relay.ssh_port), relay.name
        assert host["notice_url"] == relay.notice_url == f"http://{relay.address}/", relay.name
        assert relay.address.startswith("10.89.100."), "the demo's own subnet"


def test_the_demo_runs_debian_13():
    assert {relay.release for relay in DEMO.relays} == {"trixie"}


def test_the_demo_group_connects_as_the_lab_does():
    connection = DEMO.connection(DEMO.relay(1))
    for key in ("ssh_user", "ssh_known_hosts_file", "ssh_strict_host_key_checking"):
        assert OWN_GROUP[key] == connection[key], key
    # a relative key path: pyinfra runs the demo from the repository's root
    assert PROJECT / OWN_GROUP["ssh_key"] == PROJECT / ".lab" / DEMO.name / DEMO.key.name
    if LAB == PROJECT / ".lab":
        assert PROJECT / OWN_GROUP["ssh_key"] == DEMO.key


def test_the_demo_asks_only_the_lab_for_dns():
    assert OWN_GROUP["test_network_off"] is True
    assert OWN_GROUP["dns_forwarders"] == [DEMO.resolver] == [DEMO.gateway]  # the lab's dnsmasq, forwarding nothing
    assert OWN_GROUP["dns_check_resolver"] == DEMO.dns_check_resolver == DNS.address


def test_the_demo_dns_server_answers_for_every_demo_address():
    fleet = load_fleet(INVENTORY, PROJECT)
    records = fleet_host_records(fleet, plan_fleet(fleet))
    assert sorted(address for record in records for address in record.addresses) == \
        sorted(relay.settings.public_ipv4 for relay in fleet.relays)
    assert records[0].option == "--host-record=tor-exit-1.example.org,192.0.2.11"
    assert fleet_zones(fleet) == ("example.org", "in-addr.arpa", "ip6.arpa")
