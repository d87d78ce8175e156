"""Reverse DNS of a fleet, checked against a real dnsmasq on loopback that holds every case an operator meets.

dnsmasq is started by the tests with --no-resolv and authoritative --local
zones, so it answers only from its own records and never forwards a question.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import dns.name
import dns.rdatatype
import dns.zone
import pytest
import yaml
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from exitkit import naming, rdns
from exitkit.loader import load_fleet
from exitkit.model import FleetInvalid
from exitkit.plan import plan_fleet
from tests.dnsserver import dnsmasq as run_dnsmasq

# What the provider's and the operator's DNS say today (dnsmasq options).
RECORDS = [
    # clean FCrDNS, IPv4 and IPv6: one name, both ways
    "--host-record=tor-exit-1.example.net,192.0.2.21,2001:db8::21",
    # 192.0.2.22: no PTR, no forward record
    # 192.0.2.23: the planned name as PTR, but the zone has no A record for it
    "--ptr-record=23.2.0.192.in-addr.arpa,tor-exit-3.example.net",
    # 192.0.2.24: the planned name as PTR, but its A record points to another address
    "--ptr-record=24.2.0.192.in-addr.arpa,tor-exit-4.example.net",
    "--address=/tor-exit-4.example.net/198.51.100.9",
    # 192.0.2.25: the provider's default name, forward-confirmed
    "--host-record=static-25.provider.example,192.0.2.25",
    # 192.0.2.26: forward-confirmed, but not the planned name
    "--host-record=mail.example.net,192.0.2.26",
    # 192.0.2.27: a PTR into a zone this server refuses (as a broken upstream would)
    "--ptr-record=27.2.0.192.in-addr.arpa,exit.elsewhere.test",
    # 192.0.2.28 belongs to a relay without a domain: no plan, PTR set anyway
    "--host-record=something.example.com,192.0.2.28",
]

HOSTS = {  # host -> its settings; names come from the pattern {network}-exit-{index}.{domain}
    "clean": {"public_ipv4": "192.0.2.21", "public_ipv6": "2001:db8::21"},
    "noptr": {"public_ipv4": "192.0.2.22"},
    "noforward": {"public_ipv4": "192.0.2.23"},
    "elsewhere": {"public_ipv4": "192.0.2.24"},
    "generic": {"public_ipv4": "192.0.2.25"},
    "wrongname": {"public_ipv4": "192.0.2.26"},
    "refused": {"public_ipv4": "192.0.2.27"},
    "nodomain": {"public_ipv4": "192.0.2.28", "domain": ""},
    "noaddress": {},
}


@pytest.fixture(scope="module")
def dnsmasq():
    """A real DNS server on 127.0.0.1 with the zones above; its address as dns_check_resolver takes it."""
    with run_dnsmasq(RECORDS, "192.0.2.21") as address:
        yield address


def write_fleet(root: Path, hosts: dict, **all_settings) -> Path:
    """A fleet folder as an operator writes it: hosts of one group, settings for all in group_data/all.yml."""
    (root / "inventory").mkdir(parents=True, exist_ok=True)
    (root / "group_data").mkdir(exist_ok=True)
    inventory = {"exits": {name: {"nickname": f"relay{i}", **data} for i, (name, data) in enumerate(hosts.items())}}
    (root / "inventory" / "lab.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
    base = {"operator_name": "Op", "abuse_email": "abuse@example.net", "domain": "example.net", "reboot": "never"}
    (root / "group_data" / "all.yml").write_text(yaml.safe_dump({**base, **all_settings}))
    return root / "inventory" / "lab.py"


@pytest.fixture(scope="module")
def lab_fleet(tmp_path_factory, dnsmasq):
    root = tmp_path_factory.mktemp("lab")
    inventory = write_fleet(root, HOSTS, dns_check_resolver=dnsmasq)
    return root, inventory


@pytest.fixture(scope="module")
def report(lab_fleet) -> rdns.Report:
    root, inventory = lab_fleet
    fleet = load_fleet(inventory, cwd=root)
    return rdns.check_fleet(fleet, plan_fleet(fleet), timeout=1.0)


def by_address(report: rdns.Report) -> dict[str, rdns.AddressCheck]:
    return {a.address: a for a in report.addresses}


# --- every case, against the real server


EXPECTED = {  # address -> (relay, expected name, current name, forward-confirmed, verdict)
    "192.0.2.21": ("clean", "tor-exit-1.example.net", "tor-exit-1.example.net", True, "ok"),
    "2001:db8::21": ("clean", "tor-exit-1.example.net", "tor-exit-1.example.net", True, "ok"),
    "192.0.2.22": ("noptr", "tor-exit-2.example.net", "", False, "missing-ptr"),
    "192.0.2.23": ("noforward", "tor-exit-3.example.net", "tor-exit-3.example.net", False, "ptr-without-forward"),
    "192.0.2.24": ("elsewhere", "tor-exit-4.example.net", "tor-exit-4.example.net", False, "ptr-points-elsewhere"),
    "192.0.2.25": ("generic", "tor-exit-5.example.net", "static-25.provider.example", True, "generic-ptr"),
    "192.0.2.26": ("wrongname", "tor-exit-6.example.net", "mail.example.net", True, "wrong-name"),
    "192.0.2.27": ("refused", "tor-exit-7.example.net", "exit.elsewhere.test", False, "lookup-failed"),
    "192.0.2.28": ("nodomain", "", "something.example.com", True, "no-expected-name"),
}


@pytest.mark.parametrize("address", sorted(EXPECTED))
def test_each_case_gets_its_verdict(report, address):
    got = by_address(report)[address]
    assert (got.relay, got.expected, got.current, got.forward_confirmed, got.verdict) == EXPECTED[address]
    assert got.clean == (got.verdict == "ok")
    assert bool(got.actions) == (not got.clean)


def test_the_actions_say_exactly_what_to_ask_for_and_what_to_publish(report):
    got = {a.address: list(a.actions) for a in report.addresses}
    assert got["192.0.2.21"] == [] and got["2001:db8::21"] == []
    assert got["192.0.2.22"] == [
        "ask your provider to set the PTR of 192.0.2.22 to tor-exit-2.example.net (now: none)",
        "add to your zone: tor-exit-2.example.net. IN A 192.0.2.22"]
    assert got["192.0.2.23"] == ["add to your zone: tor-exit-3.example.net. IN A 192.0.2.23"]
    assert got["192.0.2.24"] == [
        "add to your zone: tor-exit-4.example.net. IN A 192.0.2.24 (now tor-exit-4.example.net points to 198.51.100.9)"]
    assert got["192.0.2.25"] == [
        "ask your provider to set the PTR of 192.0.2.25 to tor-exit-5.example.net (now: static-25.provider.example)",
        "add to your zone: tor-exit-5.example.net. IN A 192.0.2.25"]
    assert got["192.0.2.26"] == [
        "ask your provider to set the PTR of 192.0.2.26 to tor-exit-6.example.net (now: mail.example.net)",
        "add to your zone: tor-exit-6.example.net. IN A 192.0.2.26"]
    assert len(got["192.0.2.27"]) == 1 and "gave no answer (servfail) for the A records of exit.elsewhere.test" \
        in got["192.0.2.27"][0] and "dns_check_resolver" in got["192.0.2.27"][0]
    assert got["192.0.2.28"] == ["set domain (or hostname) so the kit can plan a name for 192.0.2.28 "
                                 "(now: something.example.com (forward-confirmed))"]
    assert report.without_address == ("noaddress",)
    assert not report.clean


def test_the_forward_records_seen_are_reported(report):
    got = by_address(report)
    assert got["192.0.2.24"].forward == ("198.51.100.9",)
    assert got["2001:db8::21"].forward == ("2001:db8::21",)
    assert got["192.0.2.22"].forward == ()


def test_hints_name_each_address_that_needs_action_once(report):
    lines = rdns.hints(report)
    assert len(lines) == sum(1 for a in report.addresses if not a.clean) == 7
    assert ("noptr 192.0.2.22: missing-ptr: ask your provider to set the PTR of 192.0.2.22 to tor-exit-2.example.net "
            "(now: none); add to your zone: tor-exit-2.example.net. IN A 192.0.2.22") in lines
    assert not any(line.startswith("clean ") for line in lines)


def test_one_relays_addresses_give_one_hint_per_address_that_needs_action(dnsmasq):
    """What the deploy prints at the end of a run, for addresses the relay itself reports."""
    addresses = rdns.public_addresses_from_ip_json(json.dumps([{"ifname": "eth0", "addr_info": [
        {"family": "inet", "local": "5.45.96.10", "scope": "global"}]}]))
    report = rdns.check_addresses("relay-1", ["192.0.2.21", "192.0.2.22", *addresses], "tor-exit-1.example.net",
                                  dnsmasq, timeout=1)
    assert [a.verdict for a in report.addresses] == ["ok", "missing-ptr", "missing-ptr"]
    assert rdns.hints(report)[0] == (
        "relay-1 192.0.2.22: missing-ptr: ask your provider to set the PTR of 192.0.2.22 to tor-exit-1.example.net "
        "(now: none); add to your zone: tor-exit-1.example.net. IN A 192.0.2.22 "
        "(now tor-exit-1.example.net points to 192.0.2.21)")
    assert len(rdns.hints(report)) == 2
    assert rdns.check_addresses("relay-1", [], "tor-exit-1.example.net", dnsmasq).without_address == ("relay-1",)


def test_a_resolver_that_never_answers_gives_verdicts_not_a_crash():
    """A UDP socket that reads nothing: every lookup times out, quickly, and says so."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        resolver = rdns.make_resolver(address, timeout=0.2)
        started = time.monotonic()
        got = rdns.check_address(resolver, "r1", "192.0.2.21", "tor-exit-1.example.net", address)
        assert time.monotonic() - started < 3
    assert got.verdict == "lookup-failed" and not got.forward_confirmed
    assert got.actions == (f"check again later or set dns_check_resolver: the resolver {address} gave no answer "
                           "(timeout) for the PTR of 192.0.2.21",)


def test_resolver_setting_forms():
    assert rdns.make_resolver("127.0.0.1:5353").nameservers == ["127.0.0.1"]
    assert rdns.make_resolver("127.0.0.1:5353").port == 5353
    v6 = rdns.make_resolver("[::1]:53")
    assert (v6.nameservers, v6.port) == (["::1"], 53)
    assert rdns.make_resolver("::1").nameservers == ["::1"]
    assert rdns.make_resolver("127.0.0.1").port == 53
    with pytest.raises(ValueError, match="expected a resolver address"):
        rdns.make_resolver("dns.example.net")


# --- output


def test_table_shows_every_address_and_the_to_do_list(report):
    text = rdns.table(report)
    header, *rows = text.splitlines()
    assert header.split() == ["relay", "address", "expected", "name", "current", "PTR", "FCrDNS", "verdict"]
    for address, (relay, _, _, _, verdict) in EXPECTED.items():
        assert any(row.split()[:2] == [relay, address] and row.split()[-1] == verdict for row in rows), address
    assert "  generic 192.0.2.25: ask your provider to set the PTR of 192.0.2.25 to tor-exit-5.example.net" in text
    assert "noaddress: no public_ipv4 or public_ipv6 in the settings" in text
    assert "7 address(es) need action" in text


def test_json_round_trips(report):
    data = json.loads(report.to_json())
    assert data["clean"] is False and data["relays_without_address"] == ["noaddress"]
    assert [a["verdict"] for a in data["addresses"]] == [a.verdict for a in report.addresses]
    assert data["addresses"][0] == {"relay": "clean", "address": "192.0.2.21", "expected": "tor-exit-1.example.net",
                                    "current": "tor-exit-1.example.net", "forward_confirmed": True,
                                    "forward": ["192.0.2.21"], "verdict": "ok", "actions": []}


def parse_zone(text: str) -> dict[tuple[str, str], set[str]]:
    """(name, type) -> values, as a DNS server would load the snippet."""
    zone = dns.zone.from_text(text, origin=dns.name.root, relativize=False, check_origin=False)
    return {(name.to_text(), dns.rdatatype.to_text(rdataset.rdtype)): {r.to_text() for r in rdataset}
            for name, node in zone.nodes.items() for rdataset in node.rdatasets}


def test_zone_snippet_loads_and_holds_every_planned_record(report):
    snippet = rdns.zone_snippet(report)
    records = parse_zone(snippet)
    assert records[("tor-exit-1.example.net.", "A")] == {"192.0.2.21"}
    assert records[("tor-exit-1.example.net.", "AAAA")] == {"2001:db8::21"}
    assert records[("tor-exit-5.example.net.", "A")] == {"192.0.2.25"}
    assert len(records) == 8  # every planned address, and nothing for the relay without a domain
    ptrs = parse_zone("\n".join(line[2:] for line in snippet.splitlines() if line.startswith("; ") and " PTR " in line))
    assert ptrs[("25.2.0.192.in-addr.arpa.", "PTR")] == {"tor-exit-5.example.net."}
    assert ("21.2.0.192.in-addr.arpa.", "PTR") not in ptrs  # already right: nothing to ask for
    assert "; No planned name (set domain or hostname) for: 192.0.2.28 (nodomain)" in snippet


# --- the CLI


def exitkit(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "exitkit", *args], cwd=root, text=True, capture_output=True)


def test_cli_exits_1_when_any_address_needs_action(lab_fleet):
    root, _ = lab_fleet
    table = exitkit(root, "rdns", "inventory/lab.py")
    assert table.returncode == 1, table.stderr
    assert "missing-ptr" in table.stdout and "generic-ptr" in table.stdout
    as_json = exitkit(root, "rdns", "inventory/lab.py", "--json")
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["clean"] is False
    zone = exitkit(root, "rdns", "inventory/lab.py", "--zone")
    assert ("tor-exit-2.example.net.", "A") in parse_zone(zone.stdout)


def test_cli_exits_0_for_a_clean_fleet(tmp_path, dnsmasq):
    write_fleet(tmp_path, {"clean": HOSTS["clean"]}, dns_check_resolver=dnsmasq)
    result = exitkit(tmp_path, "rdns", "inventory/lab.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every address is clean" in result.stdout


def test_cli_refuses_a_fleet_that_names_two_resolvers(tmp_path, dnsmasq):
    hosts = {"clean": HOSTS["clean"], "other": {**HOSTS["noptr"], "dns_check_resolver": "127.0.0.1:9"}}
    write_fleet(tmp_path, hosts, dns_check_resolver=dnsmasq)
    result = exitkit(tmp_path, "rdns", "inventory/lab.py")
    assert result.returncode == 2
    assert ("inventory/lab.yml: host 'other', key 'dns_check_resolver': got '127.0.0.1:9'; "
            f"expected one resolver for the whole fleet; host 'clean' has '{dnsmasq}'") in result.stderr


def test_cli_json_and_zone_exclude_each_other(lab_fleet):
    root, _ = lab_fleet
    result = exitkit(root, "rdns", "inventory/lab.py", "--json", "--zone")
    assert result.returncode == 2 and "not allowed with" in result.stderr


# --- pure logic, over every combination


def lookups(records: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.sampled_from(rdns.OUTCOMES).filter(lambda o: o != rdns.ANSWER).map(rdns.Lookup),
                     records.map(lambda r: rdns.Lookup(rdns.ANSWER, tuple(sorted(set(r))))))


NAMES = ["tor-exit-1.example.net", "static-21.provider.example", "mail.example.net"]
ADDRESSES = ["192.0.2.21", "198.51.100.9"]


@hsettings(max_examples=400, deadline=None)
@given(expected=st.sampled_from(["", *NAMES[:1]]), ptr=lookups(st.lists(st.sampled_from(NAMES), max_size=2)),
       forward=lookups(st.lists(st.sampled_from(ADDRESSES), max_size=2)),
       expected_forward=lookups(st.lists(st.sampled_from(ADDRESSES), max_size=2)))
def test_judge_is_total_and_actions_follow_the_verdict(expected, ptr, forward, expected_forward):
    verdict, actions = rdns.judge("192.0.2.21", expected, ptr, forward, expected_forward)
    assert verdict in rdns.VERDICTS
    assert (verdict == "ok") == (not actions)
    current = rdns._current(ptr, expected)
    if verdict not in ("lookup-failed", "no-expected-name"):
        asks_provider = any(a.startswith("ask your provider to set the PTR of 192.0.2.21 to ") for a in actions)
        assert asks_provider == (current != expected)
    if verdict == "ok":
        assert current == expected and "192.0.2.21" in forward.records
    if ptr.failed:
        assert verdict == "lookup-failed"


@hsettings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True),
                          st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str),
                          st.sampled_from(["", "static-1.provider.example"])), min_size=1, max_size=6))
def test_zone_snippet_lines_parse_back(entries):
    checks = tuple(rdns.AddressCheck("r", address, f"{label}.example.org", current, False, (), "missing-ptr", ())
                   for label, address, current in entries)
    snippet = rdns.zone_snippet(rdns.Report("", checks))
    records = parse_zone(snippet)
    for label, address, _ in entries:
        kind = "A" if ipaddress.ip_address(address).version == 4 else "AAAA"
        published = {ipaddress.ip_address(value) for value in records[(f"{label}.example.org.", kind)]}
        assert ipaddress.ip_address(address) in published
    ptr_lines = "\n".join(line[2:] for line in snippet.splitlines() if line.startswith("; ") and " PTR " in line)
    ptrs = parse_zone(ptr_lines)
    assert sum(len(v) for v in ptrs.values()) == len({(label, address) for label, address, _ in entries})


@pytest.mark.parametrize("name, address, generic", [
    ("static-21.provider.example", "192.0.2.21", True),
    ("192-0-2-21.rev.example", "192.0.2.21", True),
    ("21.2.0.192.customers.example", "192.0.2.21", True),
    ("ip4-21.example", "192.0.2.21", True),
    ("vps123.hoster.example", "192.0.2.21", True),
    ("dyn-pool.isp.example", "192.0.2.21", True),
    ("2001-db8--21.example", "2001:db8::21", True),
    ("tor-exit-1.example.net", "192.0.2.21", False),
    ("mail.example.net", "192.0.2.21", False),
    ("exit-2.other.example", "192.0.2.21", False),
])
def test_generic_names_are_recognised(name, address, generic):
    assert rdns.looks_generic(name, address) is generic


# --- addresses a relay has: ip -j addr


IP_JSON = json.dumps([
    {"ifindex": 1, "ifname": "lo", "addr_info": [
        {"family": "inet", "local": "127.0.0.1", "prefixlen": 8, "scope": "host"},
        {"family": "inet6", "local": "::1", "prefixlen": 128, "scope": "host"}]},
    {"ifindex": 2, "ifname": "eth0", "addr_info": [
        {"family": "inet", "local": "5.45.96.10", "prefixlen": 24, "scope": "global", "label": "eth0"},
        {"family": "inet", "local": "10.0.0.5", "prefixlen": 8, "scope": "global"},
        {"family": "inet6", "local": "2a0b:f4c0:0:1::10", "prefixlen": 64, "scope": "global"},
        {"family": "inet6", "local": "2a0b:f4c0:0:1:a1b2:c3d4:e5f6:1", "prefixlen": 64, "scope": "global",
         "temporary": True, "dynamic": True},
        {"family": "inet6", "local": "fd00::5", "prefixlen": 64, "scope": "global"},
        {"family": "inet6", "local": "fe80::1", "prefixlen": 64, "scope": "link"}]},
    {"ifindex": 3, "ifname": "eth1", "addr_info": [
        {"family": "inet", "local": "5.45.96.10", "prefixlen": 32, "scope": "global"},
        {"family": "inet", "local": "192.0.2.7", "prefixlen": 24, "scope": "global"},
        {"family": "inet", "local": "100.64.1.1", "prefixlen": 10, "scope": "global"}]},
    {"ifindex": 4, "ifname": "dummy0"},
])


def test_public_addresses_from_ip_json_keeps_global_unicast_only():
    assert rdns.public_addresses_from_ip_json(IP_JSON) == ["5.45.96.10", "2a0b:f4c0:0:1::10"]
    assert rdns.public_addresses_from_ip_json("[]") == []
    assert rdns.public_addresses_from_ip_json("") == []


# --- the naming rule the operator may turn off


def test_check_name_honours_name_must_say_exit():
    with pytest.raises(ValueError, match="says what this is.*name_must_say_exit: false"):
        naming.check_name("www.example.org", "example.org")
    naming.check_name("www.example.org", "example.org", must_say_exit=False)
    with pytest.raises(ValueError, match="inside the operator's domain"):
        naming.check_name("www.example.com", "example.org", must_say_exit=False)  # the domain rule stays


def test_plan_refuses_a_name_without_exit_unless_turned_off(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_fleet(tmp_path, {"r1": {"hostname": "www.example.net"}})
    with pytest.raises(FleetInvalid) as refused:
        plan_fleet(load_fleet(tmp_path / "inventory" / "lab.py"))
    assert "inventory/lab.yml: host 'r1', key 'hostname': got 'www.example.net'; expected a first label" \
        in str(refused.value)
    write_fleet(tmp_path, {"r1": {"hostname": "www.example.net"}}, name_must_say_exit=False)
    assert plan_fleet(load_fleet(tmp_path / "inventory" / "lab.py"))["r1"].hostname == "www.example.net"


# --- what a deploy run asks and notes


def test_a_deploy_asks_the_named_resolver_the_system_s_or_none_on_a_test_fleet():
    from exitkit.settings import RelaySettings

    base = {"nickname": "r1", "operator_name": "Op", "abuse_email": "abuse@example.net"}
    assert rdns.deploy_resolver(RelaySettings(**base)) == ""  # a real fleet: the system's resolver
    assert rdns.deploy_resolver(RelaySettings(**base, dns_check_resolver="127.0.0.1:53")) == "127.0.0.1:53"
    # a test fleet's made-up addresses never go to real DNS
    assert rdns.deploy_resolver(RelaySettings(**base, test_network_off=True)) is None
    assert rdns.deploy_resolver(RelaySettings(**base, test_network_off=True, dns_check_resolver="127.0.0.1:53")) == \
        "127.0.0.1:53"


def test_deploy_notes_are_the_actions_each_once_and_fit_the_summary(report):
    from exitkit.summary import INDENT, WIDTH

    lines = rdns.notes(report)
    assert lines == list(dict.fromkeys(a for c in report.addresses if not c.clean for a in c.actions)) + [
        "noaddress: no public address in the settings or on the relay; reverse DNS not checked"]
    assert "ask your provider to set the PTR of 192.0.2.22 to tor-exit-2.example.net (now: none)" in lines
    assert not any("192.0.2.21" in line for line in lines)  # a clean address is not mentioned
    shown = [f"{INDENT}note: {line}" for line in lines if "ask your provider" in line and "(now: none)" in line]
    assert shown and all(len(line) <= WIDTH for line in shown)  # IPv4 and a usual name: read whole at 3 a.m.
