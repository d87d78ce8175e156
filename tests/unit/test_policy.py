"""Tests of exitkit.policy: validation, preset facts, and that every rendered
form means exactly what ExitPolicy.allows means.

The readers below interpret our renderings the way tor, Nym's gateway and
nftables do, written from their documented semantics and independently of
exitkit.policy's own parsing, so a renderer bug shows up as a disagreement.
"""

from __future__ import annotations

import functools
import ipaddress
import random
import re
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exitkit.policy import (
    ALL_PORTS,
    ALWAYS_REJECTED,
    PRESETS,
    TOR_DEFAULT_REJECTED_PORTS,
    TOR_PRESETS_FROM,
    TOR_REDUCED_ACCEPTED_PORTS,
    ExitPolicy,
    PolicyError,
    Rule,
    build_policy,
    parse_rule,
    policy_id,
    render_nftables,
    render_nym,
    render_torrc,
    summarise,
)

# ==========================================================================
# Readers of our own renderings, for equivalence checks.
# A compiled rule is (accept: bool, version or None, network int, mask int, lo, hi).
# ==========================================================================

# tor's private_nets (src/core/or/policies.c), what ExitPolicyRejectPrivate adds.
TOR_PRIVATE_NETS = (
    "0.0.0.0/8", "169.254.0.0/16", "127.0.0.0/8", "192.168.0.0/16", "10.0.0.0/8", "172.16.0.0/12",
    "[::]/8", "[fc00::]/7", "[fe80::]/10", "[fec0::]/10", "[ff00::]/8", "[::]/127",
)  # fmt: skip
# tor's ReducedExitPolicy as tor 0.4.9.11 (Debian 12) and 0.4.9.15 (Debian 13) report it in
# GETINFO exit-policy/full: the accepted ports, in tor's order (tests/fleet/test_tor_presets.py asks them).
TOR_REDUCED_EXIT_PORTS = (
    "20-23,43,53,79-81,88,110,143,194,220,389,443,464,465,531,543-544,554,563,587,636,706,749,873,902-904,"
    "981,989-995,1194,1220,1293,1500,1533,1677,1723,1755,1863,2082-2083,2086-2087,2095-2096,2102-2104,3128,"
    "3389,3690,4321,4643,5050,5190,5222-5223,5228,5900,6660-6669,6679,6697,8000,8008,8074,8080,8082,"
    "8087-8088,8232-8233,8332-8333,8443,8888,9418,9999,10000,11371,18080-18081,18089,19294,19638,50002,64738"
)
# tor's DEFAULT_EXIT_POLICY, which tor appends after the configured ExitPolicy lines.
TOR_DEFAULT_EXIT_POLICY = (
    "reject *:25,reject *:119,reject *:135-139,reject *:445,reject *:563,reject *:1214,"
    "reject *:4661-4666,reject *:6346-6429,reject *:6699,reject *:6881-6999,accept *:*"
)


def _mask(version: int, prefix: int) -> int:
    bits = 32 if version == 4 else 128
    return ((1 << bits) - 1) ^ ((1 << (bits - prefix)) - 1)


@functools.cache  # the same lines recur in every rendering
def _compile_pattern(action: str, pattern: str) -> tuple:
    """tor/Nym 'ADDR:PORTS' (last colon splits), ADDR = * | *4 | *6 | a.b.c.d[/n] | [v6][/n]."""
    address, _, ports = pattern.rpartition(":")
    if ports == "*":
        lo, hi = 1, 65535
    else:
        first, _, last = ports.partition("-")
        lo, hi = int(first), int(last or first)
    assert 1 <= lo <= hi <= 65535, pattern
    accept = action.startswith("accept")
    only6 = action.endswith("6")
    if address in ("*", "*4", "*6"):
        version = {"*": 6 if only6 else None, "*4": 4, "*6": 6}[address]
        return (accept, version, 0, 0, lo, hi)
    host, slash, prefix = address.partition("/")
    if host.startswith("["):
        assert host.endswith("]"), pattern
        ip = ipaddress.IPv6Address(host[1:-1])
    else:
        ip = ipaddress.IPv4Address(host)
    bits = int(prefix) if slash else ip.max_prefixlen
    mask = _mask(ip.version, bits)
    return (accept, ip.version, int(ip) & mask, mask, lo, hi)


def _first_match(rules: list[tuple], address: str, port: int) -> bool | None:
    """First match; port 0 matches any port range, as in Nym's matcher (its IP packet router gives port 0
    to ICMP, ICMPv6 and other protocols without ports)."""
    ip = ipaddress.ip_address(address)
    value = int(ip)
    for accept, version, net, mask, lo, hi in rules:
        if version is not None and version != ip.version:
            continue
        if value & mask != net or not (port == 0 or lo <= port <= hi):
            continue
        return accept
    return None


def read_torrc(text: str) -> list[tuple]:
    """The exit policy tor builds from our torrc lines (policies_parse_exit_policy_internal)."""
    reject_private = ipv6_exit = False
    configured: list[tuple] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        if key == "ExitPolicyRejectPrivate":
            reject_private = value == "1"
        elif key == "ExitPolicyRejectLocalInterfaces":
            assert value == "1"  # rejects this host's interface addresses: only ever more rejects
        elif key == "IPv6Exit":
            ipv6_exit = value == "1"
        elif key == "ExitPolicy":
            for item in value.split(","):
                action, pattern = item.split()
                assert action in ("accept", "reject", "accept6", "reject6"), line
                configured.append(_compile_pattern(action, pattern))
        else:
            raise AssertionError(f"unexpected torrc line {line!r}")
    rules: list[tuple] = []
    if not ipv6_exit:
        rules.append(_compile_pattern("reject", "*6:*"))
    if reject_private:
        rules += [_compile_pattern("reject", f"{net}:*") for net in TOR_PRIVATE_NETS]
    rules += configured
    rules += [_compile_pattern(*item.split()) for item in TOR_DEFAULT_EXIT_POLICY.split(",")]
    return rules


def torrc_allows(text: str, address: str, port: int) -> bool:
    decision = _first_match(read_torrc(text), address, port)
    assert decision is not None  # tor's appended default policy always decides
    return decision


def read_nym(text: str) -> list[tuple]:
    """Nym's parse_exit_policy: '#' starts a comment, each rule 'ExitPolicy ACTION PATTERN'."""
    rules = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        assert line.startswith("ExitPolicy "), line
        action, pattern = line[len("ExitPolicy ") :].strip().split(" ", 1)
        assert action in ("accept", "reject", "accept6", "reject6"), line
        rules.append(_compile_pattern(action, pattern))
    return rules


def nym_allows(text: str, address: str, port: int) -> bool:
    decision = _first_match(read_nym(text), address, port)
    assert decision is not None, "Nym answers 'no rule matched' here"
    return decision


# IP protocol numbers (IANA): the ones whose packets carry ports, and a few without.
TCP, UDP, DCCP, SCTP, UDPLITE = 6, 17, 33, 132, 136
WITH_PORTS = frozenset({TCP, UDP, DCCP, SCTP, UDPLITE})
ICMP, GRE, ESP, ICMPV6 = 1, 47, 50, 58
PROTOCOLS = (TCP, UDP, DCCP, SCTP, UDPLITE, ICMP, GRE, ESP, ICMPV6)

_NFT_POLICY_RULE = re.compile(
    r"(?:meta nfproto (?P<nfproto>ipv4|ipv6) )?"
    r"(?:(?P<l3>ip|ip6) daddr (?P<daddr>\S+) )?"
    r"(?:meta l4proto (?P<negated>!= )?\{ (?P<l4>[0-9, ]+) \} (?:th dport (?P<ports>\{[^}]*\}|\S+) )?)?"
    r"(?P<verdict>accept|drop)"
    r'(?: comment "(?P<comment>[^"]*)")?'
)
_NFT_FORWARD = re.compile(r'oifname "(?P<iface>[^"]+)" jump exit_policy')
_NFT_OUTPUT_RESOLVER = re.compile(
    r"(?P<l3>ip|ip6) saddr (?P<saddr>\S+) (?P=l3) daddr (?P<daddr>\S+) meta l4proto \{ 6, 17 \} th dport 53 return"
)
_NFT_OUTPUT = re.compile(r"(?P<l3>ip|ip6) saddr (?P<saddr>\S+) jump exit_policy")


def _chains(text: str, table: str) -> dict[str, list[str]]:
    """Our nft script's frame checked; chain name -> its lines."""
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    assert lines[:3] == [f"table inet {table}", f"delete table inet {table}", f"table inet {table} {{"]
    assert lines[-1] == "}"
    chains: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines[3:-1]:
        if current is None:
            name = re.fullmatch(r"chain (\w+) \{", line)
            assert name, f"unexpected nft line {line!r}"
            current = chains.setdefault(name.group(1), [])
        elif line == "}":
            current = None
        else:
            current.append(line)
    assert current is None and set(chains) <= {"exit_policy", "forward", "output"} and "forward" in chains
    return chains


def read_nft(text: str, table: str = "exitkit") -> dict:
    """Our nft script as {"policy": rules, "forward": interfaces, "output": (resolver exemptions, sources)}."""
    chains = _chains(text, table)
    forward = chains["forward"]
    assert forward[0] == "type filter hook forward priority 0; policy accept;"
    interfaces = [_NFT_FORWARD.fullmatch(line).group("iface") for line in forward[1:]]  # type: ignore[union-attr]
    exempt, sources = [], []
    if "output" in chains:
        output = chains["output"]
        assert output[:2] == ["type filter hook output priority 0; policy accept;", "ct direction reply return"]
        for line in output[2:]:
            if match := _NFT_OUTPUT_RESOLVER.fullmatch(line):
                exempt.append((ipaddress.ip_address(match["saddr"]), ipaddress.ip_address(match["daddr"])))
            else:
                match = _NFT_OUTPUT.fullmatch(line)
                assert match, f"unexpected output rule {line!r}"
                sources.append(ipaddress.ip_address(match["saddr"]))
    return {"policy": [_nft_rule(line) for line in chains["exit_policy"]], "forward": interfaces,
            "output": (exempt, sources)}


@functools.cache
def _nft_rule(line: str) -> dict:
    match = _NFT_POLICY_RULE.fullmatch(line)
    assert match, f"unexpected nft line {line!r}"
    rule = match.groupdict()
    if rule["comment"] is not None:
        assert len(rule["comment"].encode()) <= 128
    if rule["daddr"]:
        net = ipaddress.ip_network(rule["daddr"])
        assert net.version == (4 if rule["l3"] == "ip" else 6)
        rule["net"] = (net.version, int(net.network_address), _mask(net.version, net.prefixlen))
    if rule["l4"]:
        assert {int(n) for n in rule["l4"].split(",")} == WITH_PORTS, "a rule with ports is for every such protocol"
    if rule["ports"]:
        ranges = []
        for item in rule["ports"].strip("{} ").split(","):
            first, _, last = item.strip().partition("-")
            ranges.append((int(first), int(last or first)))
        ordered = sorted(ranges)
        assert all(a[1] + 1 < b[0] for a, b in pairwise(ordered)), "nft refuses overlapping set elements"
        rule["ranges"] = ranges
    return rule


def _policy_chain(rules: list[dict], address: str, port: int, proto: int) -> bool:
    ip = ipaddress.ip_address(address)
    value, nfproto = int(ip), f"ipv{ip.version}"
    for rule in rules:
        if rule["nfproto"] and rule["nfproto"] != nfproto:
            continue
        if rule["daddr"]:
            version, net, mask = rule["net"]
            if version != ip.version or value & mask != net:
                continue
        if rule["l4"]:
            if rule["negated"]:
                if proto in WITH_PORTS:
                    continue
            elif proto not in WITH_PORTS or not any(lo <= port <= hi for lo, hi in rule["ranges"]):
                continue
        return rule["verdict"] == "accept"
    return True  # a regular chain that ends returns: the base chain's policy accept


def nft_decides(table: dict, interface: str, address: str, port: int, proto: str | int = TCP) -> bool:
    """Forward hook: whether a packet forwarded out of ``interface`` passes."""
    number = {"tcp": TCP, "udp": UDP}.get(proto, proto) if isinstance(proto, str) else proto
    if interface not in table["forward"]:
        return True
    return _policy_chain(table["policy"], address, port, int(number))


def nft_output_decides(table: dict, source: str, address: str, port: int, proto: int, reply: bool = False) -> bool:
    """Output hook: whether a packet the relay sends from ``source`` passes."""
    exempt, sources = table["output"]
    src, dst = ipaddress.ip_address(source), ipaddress.ip_address(address)
    if reply or src not in sources:
        return True
    if (src, dst) in exempt and proto in (TCP, UDP) and port == 53:
        return True
    return _policy_chain(table["policy"], address, port, proto)


def nft_allows(text: str, interface: str, address: str, port: int, proto: str) -> bool:
    return nft_decides(read_nft(text), interface, address, port, proto)


# ==========================================================================
# Validation: every case has its own message.
# ==========================================================================


def error_of(preset: str = "tor-reduced", rules=(), **kwargs) -> PolicyError:
    kwargs.setdefault("ipv6_exit", False)
    with pytest.raises(PolicyError) as info:
        build_policy(preset, list(rules), **kwargs)
    assert isinstance(info.value, ValueError)
    return info.value


def test_bad_cidr_message_matches_the_documented_form():
    error = error_of(rules=["accept *:80", "reject 198.51.100.7:443", "reject 10.0.0.0/33:443"])
    assert error.index == 2
    assert error.value == "reject 10.0.0.0/33:443"
    assert str(error) == (
        "entry 3 'reject 10.0.0.0/33:443': expected an address or CIDR such as 203.0.113.0/24 or 2001:db8::/32"
    )


@pytest.mark.parametrize("text", ["reject 198.51.100.x:443", "reject example.org:443", "reject [10.0.0.1]:443"])
def test_bad_address(text):
    error = error_of(rules=[text])
    assert error.index == 0 and error.value == text
    assert "expected an address or CIDR such as 203.0.113.0/24 or 2001:db8::/32" in str(error)


def test_host_bits_set_is_said():
    error = error_of(rules=["reject 10.0.0.1/8:*"])
    assert "10.0.0.1/8 has host bits set" in str(error)
    assert "did you mean 10.0.0.0/8?" in str(error)
    error = error_of(rules=["reject [2001:db8::1]/32:*"])
    assert "2001:db8::1/32 has host bits set" in str(error)


def test_unknown_action():
    error = error_of(rules=["allow *:80"])
    assert str(error).startswith("entry 1 'allow *:80': unknown action 'allow'")
    assert "expected 'accept' or 'reject'" in str(error)


@pytest.mark.parametrize(
    "text, problem",
    [
        ("accept *:0", "port 0 is out of range"),
        ("accept *:65536", "port 65536 is out of range"),
        ("accept *:http", "'http' is not a port number"),
        ("accept *:80-65536", "port 65536 is out of range"),
    ],
)
def test_bad_port(text, problem):
    error = error_of(rules=[text])
    assert problem in str(error)
    assert "expected a port from 1 to 65535, a range such as 8080-8090, or * for all ports" in str(error)


def test_reversed_port_range():
    error = error_of(rules=["accept *:90-80"])
    assert "port range 90-80 is reversed" in str(error)
    assert "expected the low port first, such as 80-90" in str(error)


@pytest.mark.parametrize("text",
                         ["reject 198.51.100.7", "reject 203.0.113.0/24", "reject [2001:db8::1]", "reject *",
                          "reject 2001:db8::/32"])
def test_missing_port(text):
    error = error_of(rules=[text])
    assert "no port after the address" in str(error)
    assert "such as 198.51.100.7:443" in str(error)


def test_unbracketed_ipv6_address_is_ambiguous():
    error = error_of(rules=["reject 2001:db8::1:443"])
    assert "[2001:db8::1]:443" in error.expected


def test_private_keyword_is_not_needed():
    assert "private and local ranges are always rejected" in str(error_of(rules=["reject private:*"]))


def test_missing_target_and_empty_entry():
    assert "nothing after the action" in str(error_of(rules=["reject"]))
    assert "the entry has no rule" in str(error_of(rules=["# only a note"]))
    assert "one ADDRESS:PORT per entry" in str(error_of(rules=["accept *:80,accept *:443"]))


def test_unknown_preset_suggests_the_near_name():
    error = error_of(preset="tor-reducd")
    assert error.index is None and error.value == "tor-reducd"
    assert str(error).startswith("preset 'tor-reducd': unknown preset (did you mean 'tor-reduced'?)")
    assert "tor-reduced, tor-default, web, reject-all, custom" in str(error)
    assert "did you mean" not in str(error_of(preset="zzzzzz"))


def test_accept_hidden_by_private_ranges():
    error = error_of(rules=["accept 10.1.2.3:80"])
    assert error.index == 0
    assert "accept 10.1.2.3:80 can never match: rule 'reject private ranges' before it rejects all of it" in str(error)


def test_accept_hidden_by_an_earlier_operator_reject():
    error = error_of(rules=["reject 198.51.100.0/24:*", "accept 198.51.100.7:443"])
    assert error.index == 1
    assert ("accept 198.51.100.7:443 can never match: entry 1 'reject 198.51.100.0/24:*' before it rejects all of it"
            in str(error))


def test_accept_hidden_by_several_rejects_together():
    error = error_of(rules=["reject 198.51.100.0/25:*", "reject 198.51.100.128/25:1-100",
                            "reject 198.51.100.128/25:101-65535", "accept 198.51.100.0/24:443"])
    assert error.index == 3
    assert (
        "entry 1 'reject 198.51.100.0/25:*' and entry 3 'reject 198.51.100.128/25:101-65535' before it reject all of it"
        in str(error)
    )  # entry 2 (ports 1-100) does not touch port 443, so it is not named


def test_accept_hidden_by_own_address():
    error = error_of(rules=["accept 203.0.113.5:443"], own_addresses=["203.0.113.5"])
    assert "rule 'reject own address 203.0.113.5' before it rejects all of it" in str(error)


def test_partly_reachable_accept_and_redundant_accept_are_fine():
    build_policy("web", ["reject 198.51.100.7:443", "accept 198.51.100.0/24:443"], ipv6_exit=False)
    build_policy("web", ["accept *:443", "accept 198.51.100.7:443"], ipv6_exit=False)
    build_policy("web", ["accept 0.0.0.0/0:8080"], ipv6_exit=False)  # overlaps private ranges, not all of it


def test_ipv6_accept_with_ipv6_exit_off():
    for text in ("accept [2001:db8::1]:443", "accept *6:443", "accept6 *:443"):
        error = error_of(preset="web", rules=[text], ipv6_exit=False)
        assert "can never match: ipv6_exit is off" in str(error)
        assert "turn ipv6_exit on" in str(error)
    build_policy("web", ["accept [2001:db8::1]:443"], ipv6_exit=True)


def test_exit_relay_needs_an_accept():
    error = error_of(preset="reject-all")
    assert error.index is None
    assert "an exit relay needs at least one accept" in str(error)
    assert "an exit relay needs at least one accept" in str(error_of(preset="custom", rules=["reject *:80"]))
    assert "an exit relay needs at least one accept" in str(error_of(preset="web", rules=["reject *:*"]))
    policy = build_policy("reject-all", [], ipv6_exit=False, exit_relay=False)
    assert not policy.allows("198.51.100.7", 443)


def test_non_exit_must_accept_nothing():
    assert "not an exit must accept nothing" in str(error_of(preset="tor-reduced", exit_relay=False))


def test_reject_all_takes_no_accept_entries():
    error = error_of(preset="reject-all", rules=["reject 198.51.100.7:*", "accept *:443"])
    assert error.index == 1
    assert "preset reject-all accepts nothing" in str(error)


@pytest.mark.parametrize("bad", [42, None, ["accept *:80"], {"rule": "accept *:80", "colour": "red"}, {"note": "x"}])
def test_entries_of_the_wrong_shape(bad):
    error = error_of(rules=[bad])
    assert error.index == 0
    assert "expected" in str(error)


def test_bad_own_address_and_interface():
    assert "own address '203.0.113.300'" in str(error_of(own_addresses=["203.0.113.300"]))
    policy = build_policy("web", [], ipv6_exit=False)
    for name in ("", "a" * 16, "eth 0", 'eth0"', "eth0;drop"):
        with pytest.raises(PolicyError, match="network interface name"):
            render_nftables(policy, name)
    with pytest.raises(PolicyError, match="table name"):
        render_nftables(policy, "eth0", table="bad table")


# ==========================================================================
# Parsing.
# ==========================================================================


def test_parse_rule_forms():
    net = ipaddress.ip_network
    assert parse_rule("reject 198.51.100.7:443") == Rule("reject", net("198.51.100.7/32"), (443, 443))
    assert parse_rule("accept *:8080-8090") == Rule("accept", None, (8080, 8090))
    assert parse_rule("reject 2001:db8::/32:*") == Rule("reject", net("2001:db8::/32"), ALL_PORTS)
    assert parse_rule("reject [2001:db8::]/32:*") == Rule("reject", net("2001:db8::/32"), ALL_PORTS)
    assert parse_rule("reject [2001:db8::1]:443") == Rule("reject", net("2001:db8::1/128"), (443, 443))
    assert parse_rule("accept *:*") == Rule("accept")
    assert parse_rule("accept *4:80") == Rule("accept", None, (80, 80), 4)
    assert parse_rule("accept6 *:80") == Rule("accept", None, (80, 80), 6)
    assert parse_rule("accept 0.0.0.0/0:80") == Rule("accept", None, (80, 80), 4)
    assert parse_rule("  ACCEPT   *:80 ") == Rule("accept", None, (80, 80))


def test_notes_inline_and_in_mappings():
    assert parse_rule("reject 198.51.100.7:443 # ticket 4711").note == "ticket 4711"
    entry = {"rule": "reject 198.51.100.7:443", "note": "ticket 4711, 2026-11-02"}
    assert parse_rule(entry) == Rule("reject", ipaddress.ip_network("198.51.100.7/32"), (443, 443),
                                     note="ticket 4711, 2026-11-02")
    assert parse_rule({"rule": "reject *:25 # spam", "note": "2026-11-02"}).note == "spam; 2026-11-02"
    assert parse_rule({"rule": "reject *:25", "note": "two\nlines\tand\x00more"}).note == "two lines and more"


def test_rule_text_round_trips():
    for text in ("reject 198.51.100.7:443", "accept *:8080-8090", "reject [2001:db8::]/32:*", "accept *6:53",
                 "reject 203.0.113.0/24:1-1024"):
        assert str(parse_rule(text)) == text


# ==========================================================================
# Preset facts and the fixed parts of the meaning.
# ==========================================================================


def test_tor_reduced():
    policy = build_policy("tor-reduced", [], ipv6_exit=True)
    for port in (443, 22, 80, 53, 6697, 64738, 20, 23):
        assert policy.allows("198.51.100.8", port), port
        assert policy.allows("2606:4700::1", port), port
    for port in (25, 24, 119, 445, 6881, 65535, 1):
        assert not policy.allows("198.51.100.8", port), port


def _port_text(ports: tuple[int, int]) -> str:
    return str(ports[0]) if ports[0] == ports[1] else f"{ports[0]}-{ports[1]}"


def test_tor_presets_are_the_lists_of_the_tor_debian_ships():
    assert ",".join(_port_text(p) for p in TOR_REDUCED_ACCEPTED_PORTS) == TOR_REDUCED_EXIT_PORTS
    default = ",".join(f"reject *:{_port_text(p)}" for p in TOR_DEFAULT_REJECTED_PORTS) + ",accept *:*"
    assert default == TOR_DEFAULT_EXIT_POLICY
    assert TOR_PRESETS_FROM == "0.4.9.5"  # the release that added Monero's ports to ReducedExitPolicy


def test_tor_reduced_opens_monero():
    policy = build_policy("tor-reduced", [], ipv6_exit=False)
    assert [p for p in range(18079, 18091) if policy.allows("198.51.100.8", p)] == [18080, 18081, 18089]


def test_tor_default():
    policy = build_policy("tor-default", [], ipv6_exit=False)
    for port in (25, 6881, 6999, 119, 135, 139, 445, 4661, 6346, 6429, 6699, 1214, 563):
        assert not policy.allows("198.51.100.8", port), port
    for port in (8080, 80, 443, 22, 24, 26, 6880, 7000, 1, 65535):
        assert policy.allows("198.51.100.8", port), port


def test_web_and_reject_all():
    web = build_policy("web", [], ipv6_exit=True)
    assert [p for p in (22, 79, 80, 81, 442, 443, 444, 8080) if web.allows("198.51.100.8", p)] == [80, 443]
    assert web.allows("2606:4700::1", 443)
    none = build_policy("reject-all", [], ipv6_exit=True, exit_relay=False)
    assert not any(none.allows(a, p) for a in ("198.51.100.8", "2606:4700::1") for p in (1, 80, 443, 65535))


def test_private_ranges_and_own_addresses_are_never_allowed():
    policy = ExitPolicy("custom", (parse_rule("accept *:*"),), True, ("203.0.113.5", "2001:db8::5"))
    for net in ALWAYS_REJECTED:
        for address in (net.network_address, net.broadcast_address):
            assert not policy.allows(address, 80), address
    assert not policy.allows("203.0.113.5", 443)
    assert not policy.allows("2001:db8::5", 443)
    assert not policy.allows("::ffff:8.8.8.8", 443)  # IPv4-mapped: in tor's ::/8
    assert not policy.allows("100.64.0.1", 443)  # carrier-grade NAT
    assert policy.allows("203.0.113.6", 443) and policy.allows("2001:db8::6", 443)


def test_ipv6_exit_off_rejects_all_ipv6():
    policy = build_policy("tor-default", [], ipv6_exit=False)
    assert policy.allows("198.51.100.8", 443)
    assert not policy.allows("2606:4700::1", 443)
    assert not policy.allows("2001:db8::1", 80)


def test_first_match():
    policy = build_policy("tor-reduced", ["reject 198.51.100.7:443"], ipv6_exit=False)
    assert not policy.allows("198.51.100.7", 443)
    assert policy.allows("198.51.100.8", 443)
    assert policy.allows("198.51.100.7", 80)
    assert str(policy.deciding_rule("198.51.100.7", 443)) == "reject 198.51.100.7:443"


def test_effective_order():
    policy = build_policy("web", ["reject 198.51.100.7:*"], ipv6_exit=False, own_addresses=["203.0.113.5"])
    kinds = [s.kind for s in policy.sections()]
    assert kinds == ["private", "own", "ipv6-off", "operator", "preset", "final"]
    assert policy.rules[-1] == Rule("reject")
    assert policy.rules[: len(ALWAYS_REJECTED)] == tuple(Rule("reject", n) for n in ALWAYS_REJECTED)


def test_allows_takes_strings_and_address_objects():
    policy = build_policy("web", [], ipv6_exit=True)
    assert policy.allows(ipaddress.IPv4Address("198.51.100.8"), 443)
    assert policy.allows(ipaddress.IPv6Address("2606:4700::1"), 443)
    with pytest.raises(ValueError):
        policy.allows("198.51.100.8", 0)


# ==========================================================================
# Renderings: examples.
# ==========================================================================

NOTE = 'ticket 4711, 2026-11-02 "urgent"'


def noted_policy() -> ExitPolicy:
    return build_policy(
        "tor-reduced",
        [{"rule": "reject 198.51.100.7:443", "note": NOTE}, "reject 203.0.113.0/24:* # abuse desk 12"],
        ipv6_exit=True,
        own_addresses=["192.0.2.10"],
    )


def test_notes_survive_into_every_form():
    policy = noted_policy()
    torrc = render_torrc(policy)
    assert f"# {NOTE}\nExitPolicy reject 198.51.100.7:443\n" in torrc
    assert "# abuse desk 12\nExitPolicy reject 203.0.113.0/24:*\n" in torrc
    nym = render_nym(policy)
    assert f"# {NOTE}\nExitPolicy reject 198.51.100.7:443\n" in nym
    nft = render_nftables(policy, "eth0")
    note = "comment \"ticket 4711, 2026-11-02 'urgent'\""
    assert f"ip daddr 198.51.100.7 meta l4proto {{ 6, 17, 136, 132, 33 }} th dport 443 drop {note}" in nft
    assert f"ip daddr 198.51.100.7 meta l4proto != {{ 6, 17, 136, 132, 33 }} drop {note}" in nft
    assert 'ip daddr 203.0.113.0/24 drop comment "abuse desk 12"' in nft
    summary = summarise(policy)
    assert summary.blocked == (("198.51.100.7:443", NOTE), ("203.0.113.0/24", "abuse desk 12"))


def test_torrc_shape():
    torrc = render_torrc(build_policy("web", [], ipv6_exit=False))
    lines = torrc.splitlines()
    assert lines[1:4] == ["ExitPolicyRejectPrivate 1", "ExitPolicyRejectLocalInterfaces 1", "IPv6Exit 0"]
    assert lines[-1] == "ExitPolicy reject *:*"
    assert "ExitPolicy reject *6:*" in lines
    assert "IPv6Exit 1" in render_torrc(build_policy("web", [], ipv6_exit=True))


def test_nym_shape():
    policy = build_policy("web", [], ipv6_exit=False)
    nym = render_nym(policy)
    assert policy_id(policy) in nym and "preset: web" in nym
    assert nym.splitlines()[-1] == "ExitPolicy reject *:*"
    assert all(ln.startswith("#") or ln.startswith("ExitPolicy ") for ln in nym.splitlines())


def test_nftables_shape():
    policy = build_policy("web", ["reject 198.51.100.7:443"], ipv6_exit=False)
    nft = render_nftables(policy, "eth0", table="exitkit")
    lines = [ln.strip() for ln in nft.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert lines[:4] == ["table inet exitkit", "delete table inet exitkit", "table inet exitkit {",
                         "chain exit_policy {"]
    assert "ip daddr 10.0.0.0/8 drop" in lines
    assert "meta nfproto ipv6 drop" in lines
    assert "meta l4proto { 6, 17, 136, 132, 33 } th dport { 80, 443 } accept" in lines
    assert "meta l4proto != { 6, 17, 136, 132, 33 } accept" in lines
    assert lines[-7:] == ["drop", "}", "chain forward {", "type filter hook forward priority 0; policy accept;",
                          'oifname "eth0" jump exit_policy', "}", "}"]
    assert "hook output" not in nft  # no exit address: the relay's own traffic is not judged
    assert "table inet other" in render_nftables(policy, "eth0", table="other")
    # Not our interface: untouched.
    assert nft_allows(nft, "wg0", "10.0.0.1", 25, "tcp")


def test_nftables_output_chain_judges_only_the_exit_address():
    policy = build_policy("web", ["reject 198.51.100.7:443"], ipv6_exit=True,
                          own_addresses=["192.0.2.10", "198.51.100.20", "2001:db8::20"])
    nft = render_nftables(policy, "eth0", exit_addresses=["198.51.100.20", "2001:db8::20"])
    lines = [ln.strip() for ln in nft.splitlines()]
    start = lines.index("chain output {")
    assert lines[start + 1:start + 8] == [
        "type filter hook output priority 0; policy accept;",
        "ct direction reply return",
        "ip saddr 198.51.100.20 ip daddr 127.0.0.1 meta l4proto { 6, 17 } th dport 53 return",
        "ip saddr 198.51.100.20 jump exit_policy",
        "ip6 saddr 2001:db8::20 ip6 daddr ::1 meta l4proto { 6, 17 } th dport 53 return",
        "ip6 saddr 2001:db8::20 jump exit_policy",
        "}",
    ]
    table = read_nft(nft)
    exit4 = "198.51.100.20"
    assert nft_output_decides(table, exit4, "203.0.113.5", 443, TCP)
    assert not nft_output_decides(table, exit4, "203.0.113.5", 22, TCP)
    assert not nft_output_decides(table, exit4, "198.51.100.7", 443, SCTP)
    assert not nft_output_decides(table, exit4, "198.51.100.7", 0, ICMP)  # the first rule for its address rejects
    assert nft_output_decides(table, exit4, "203.0.113.5", 0, ICMP)  # the first for it: accept *:80
    assert nft_output_decides(table, exit4, "127.0.0.1", 53, UDP)  # tor's own DNS, to unbound
    assert not nft_output_decides(table, exit4, "127.0.0.1", 80, TCP)
    assert nft_output_decides(table, "192.0.2.10", "203.0.113.5", 22, TCP)  # relay traffic from the main address
    assert nft_output_decides(table, exit4, "203.0.113.5", 22, TCP, reply=True)  # answers to visitors
    assert not nft_output_decides(table, "2001:db8::20", "2001:db8:1::5", 22, TCP)
    with pytest.raises(PolicyError, match="exit address"):
        render_nftables(policy, "eth0", exit_addresses=["not-an-address"])


def test_nft_comment_is_short_and_safe():
    long_note = 'ü"' * 200
    policy = build_policy("web", [{"rule": "reject 198.51.100.7:443", "note": long_note}], ipv6_exit=False)
    rules = read_nft(render_nftables(policy, "eth0"))["policy"]
    comments = [r["comment"] for r in rules if r["comment"]]
    assert comments and all(len(c.encode()) <= 128 and '"' not in c for c in comments)


def test_summary_of_presets():
    reduced = summarise(build_policy("tor-reduced", [], ipv6_exit=False))
    assert ("443", "https") in reduced.open_ports and ("22", "ssh") not in reduced.open_ports
    assert ("20-23", "ftp-data/ftp/ssh/telnet") in reduced.open_ports
    assert ("18080-18081", "monero/monero-rpc") in reduced.open_ports and ("18089", "monero-rpc") in reduced.open_ports
    spans = [tuple(map(int, (text + "-" + text).split("-")[:2])) for text, _ in reduced.open_ports]
    assert sum(hi - lo + 1 for lo, hi in spans) == 104  # as many as tor 0.4.9.5 and later opens
    assert not reduced.open_by_default and reduced.is_exit and reduced.open_ports_ipv6 == ()
    default = summarise(build_policy("tor-default", [], ipv6_exit=True))
    assert default.open_by_default
    assert [p for p, _ in default.closed_ports] == ["25", "119", "135-139", "445", "563", "1214", "4661-4666",
                                                    "6346-6429", "6699", "6881-6999"]
    assert ("25", "smtp") in default.closed_ports
    assert default.closed_ports_ipv6 == default.closed_ports
    web = summarise(build_policy("web", ["accept 198.51.100.0/24:8080 # partner"], ipv6_exit=False))
    assert web.open_ports == (("80", "http"), ("443", "https"))
    assert web.opened == (("198.51.100.0/24:8080", "partner"),)
    none = summarise(build_policy("reject-all", [], ipv6_exit=False, exit_relay=False))
    assert none.open_ports == () and none.closed_ports == (("1-65535", ""),) and not none.is_exit


def test_policy_id_examples():
    a = build_policy("web", ["reject 198.51.100.7:443"], ipv6_exit=False)
    b = build_policy("web", ["reject 198.51.100.7:443"], ipv6_exit=False)
    assert policy_id(a) == policy_id(b) and re.fullmatch(r"[0-9a-f]{12}", policy_id(a))
    assert policy_id(a) != policy_id(build_policy("web", ["reject 198.51.100.7:444"], ipv6_exit=False))
    assert policy_id(a) != policy_id(build_policy("web", ["reject 198.51.100.7:443"], ipv6_exit=True))
    assert policy_id(a) != policy_id(build_policy("tor-reduced", ["reject 198.51.100.7:443"], ipv6_exit=False))
    assert policy_id(a) != policy_id(build_policy("web", ["reject 198.51.100.7:443 # t1"], ipv6_exit=False))


# ==========================================================================
# Properties: every rendering means what allows means.
# ==========================================================================

SEEDS = {
    4: [ipaddress.ip_network(n) for n in ("198.51.100.0/24", "203.0.113.0/24", "8.8.8.0/24", "10.0.0.0/8",
                                          "100.64.0.0/10", "1.0.0.0/8")],
    6: [ipaddress.ip_network(n) for n in ("2001:db8::/32", "2606:4700::/32", "fc00::/7", "::/8", "64:ff9b::/96")],
}
INTERESTING_PORTS = (1, 2, 22, 24, 25, 26, 53, 79, 80, 81, 443, 6881, 6999, 8080, 65534, 65535)

# Strategies are built once here: building them inside composites is slow.


def _in_seed(pair: tuple) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    net, offset = pair
    value = int(net.network_address) + offset % net.num_addresses
    return ipaddress.IPv4Address(value) if net.version == 4 else ipaddress.IPv6Address(value)


ADDRESSES = st.one_of(
    st.tuples(st.sampled_from(SEEDS[4] + SEEDS[6]), st.integers(0, (1 << 128) - 1)).map(_in_seed),
    st.integers(0, (1 << 32) - 1).map(ipaddress.IPv4Address),
    st.integers(0, (1 << 128) - 1).map(ipaddress.IPv6Address),
)


def _network(args: tuple) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    address, shape, number = args
    bits = address.max_prefixlen
    prefix = {"host": bits, "quarter": bits // 4, "half": bits // 2, "near-host": bits - 8,
              "any": number % bits + 1}[shape]
    return ipaddress.ip_network((address, prefix), strict=False)


NETWORKS = st.tuples(
    ADDRESSES, st.sampled_from(("host", "host", "quarter", "half", "near-host", "any")), st.integers(0, 127)
).map(_network)
PORTS = st.one_of(st.sampled_from(INTERESTING_PORTS), st.integers(1, 65535))
PORT_RANGES = st.one_of(
    st.just(ALL_PORTS),
    PORTS.map(lambda p: (p, p)),
    st.tuples(PORTS, st.integers(0, 20)).map(lambda t: (t[0], min(65535, t[0] + t[1]))),
    st.tuples(PORTS, PORTS).map(lambda t: (min(t), max(t))),
)
NOTES = st.sampled_from(
    ("", "", "", "ticket 4711, 2026-11-02", 'said "stop"', "ends in a backslash \\", "# hash # inside",
     "two\nlines\tand tab", "ü€" * 70)
)  # a fixed set of awkward notes: drawing free text is slow and finds nothing more
DESTINATIONS = st.one_of(
    NETWORKS.map(lambda net: (net, None)),
    NETWORKS.map(lambda net: (net, None)),
    st.sampled_from(((None, None), (None, 4), (None, 6))),
)
RULES = st.tuples(st.sampled_from(("accept", "reject")), DESTINATIONS, PORT_RANGES, NOTES).map(
    lambda t: Rule(t[0], t[1][0], t[2], t[1][1], t[3])
)
POLICIES = st.builds(
    ExitPolicy,
    preset=st.sampled_from(tuple(PRESETS)),
    operator_rules=st.lists(RULES, max_size=6).map(tuple),
    ipv6_exit=st.booleans(),
    own_addresses=st.lists(ADDRESSES, max_size=2).map(tuple),
)


def _edges(policy: ExitPolicy) -> tuple[list, list]:
    """Addresses and ports at and around every rule's edges."""
    hosts, ports = [], set(INTERESTING_PORTS)
    for rule in policy.rules:
        if rule.destination is not None:
            net = rule.destination
            top = (1 << net.max_prefixlen) - 1
            for value in (int(net.network_address) - 1, int(net.network_address), int(net.broadcast_address),
                          int(net.broadcast_address) + 1):
                if 0 <= value <= top:
                    hosts.append(ipaddress.ip_address(value) if net.version == 4 else ipaddress.IPv6Address(value))
        ports.update(p for p in (rule.ports[0] - 1, rule.ports[0], rule.ports[1], rule.ports[1] + 1) if 1 <= p <= 65535)
    return hosts, sorted(ports)


def _random_address(rnd) -> str:
    """Anywhere, or inside one of the seed ranges."""
    if rnd.random() < 0.5:
        net = rnd.choice(SEEDS[4] + SEEDS[6])
        return str(net.network_address + rnd.randrange(net.num_addresses))
    if rnd.random() < 0.5:
        return str(ipaddress.IPv4Address(rnd.getrandbits(32)))
    return str(ipaddress.IPv6Address(rnd.getrandbits(128)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=POLICIES, seed=st.integers(0, 2**32 - 1))
def test_every_rendering_means_what_allows_means(policy, seed):
    """On every protocol: ports for the five with ports, and traffic without ports (port 0 in Nym's reading)
    decided by the first rule whose address matches; forwarded, and sent from an exit address."""
    rnd = random.Random(seed)  # plain Random: hypothesis' own randoms cost a draw per call
    torrc = read_torrc(render_torrc(policy))
    nym = read_nym(render_nym(policy))
    sources = [str(a) for a in policy.own_addresses]  # the kit's exit addresses are always own addresses too
    nft = read_nft(render_nftables(policy, "eth0", exit_addresses=sources))
    hosts, ports = _edges(policy)
    hosts = [str(h) for h in hosts] + sources
    for _ in range(24):
        # Mostly at and around rule edges, where a renderer would get it wrong.
        address = rnd.choice(hosts) if hosts and rnd.random() < 0.6 else _random_address(rnd)
        port = rnd.choice(ports) if rnd.random() < 0.7 else rnd.randint(1, 65535)
        expected = policy.allows(address, port)
        assert _first_match(torrc, address, port) is expected, ("torrc", address, port)
        assert _first_match(nym, address, port) is expected, ("nym", address, port)
        portless = policy.allows(address)
        assert _first_match(nym, address, 0) is portless, ("nym port 0", address)
        for proto in PROTOCOLS:
            want = expected if proto in WITH_PORTS else portless
            assert nft_decides(nft, "eth0", address, port, proto) is want, ("nft forward", proto, address, port)
            for source in sources:
                # Not an exit connection: a query from the exit address to the relay's own unbound on loopback.
                own_resolver = ipaddress.ip_address("127.0.0.1" if ipaddress.ip_address(source).version == 4 else "::1")
                to_own_resolver = ipaddress.ip_address(address) == own_resolver and port == 53 and proto in (TCP, UDP)
                assert nft_output_decides(nft, source, address, port, proto) is (want or to_own_resolver), (
                    "nft output", source, proto)
        assert nft_decides(nft, "eth1", address, port, TCP) is True
        assert nft_output_decides(nft, "192.0.2.254" if "192.0.2.254" not in sources else "192.0.2.253",
                                  address, port, TCP) is True


@settings(max_examples=200, deadline=None)
@given(policy=POLICIES, address=ADDRESSES)
def test_summary_says_what_allows_means_for_traffic_without_ports(policy, address):
    named = any(rule.destination is not None and address in rule.destination for rule in policy.rules)
    if named or (address.version == 6 and not policy.ipv6_exit):
        return
    summary = summarise(policy)
    said = summary.portless_open if address.version == 4 else summary.portless_open_ipv6
    assert said is policy.allows(address)


@settings(max_examples=300, deadline=None)
@given(policy=POLICIES, data=st.data())
def test_policy_id_is_deterministic_and_changes_with_a_rule(policy, data):
    again = ExitPolicy(policy.preset, policy.operator_rules, policy.ipv6_exit, policy.own_addresses)
    assert policy_id(again) == policy_id(policy)
    extra = data.draw(RULES)
    position = data.draw(st.integers(0, len(policy.operator_rules)))
    changed = list(policy.operator_rules)
    changed.insert(position, extra)
    other = ExitPolicy(policy.preset, tuple(changed), policy.ipv6_exit, policy.own_addresses)
    assert policy_id(other) != policy_id(policy)
    if policy.operator_rules:
        first = policy.operator_rules[0]
        flipped = Rule("reject" if first.action == "accept" else "accept", first.destination, first.ports,
                       first.family, first.note)
        other = ExitPolicy(policy.preset, (flipped,) + policy.operator_rules[1:], policy.ipv6_exit,
                           policy.own_addresses)
        assert policy_id(other) != policy_id(policy)


@settings(max_examples=100, deadline=None)
@given(rule=RULES)
def test_rule_text_parses_back_to_the_same_rule(rule):
    assert parse_rule({"rule": str(rule), "note": rule.note}) == rule


@settings(max_examples=100, deadline=None)
@given(text=st.one_of(st.text(max_size=40),
                      st.from_regex(r"(accept|reject|allow)6? [\[\]*0-9a-f.:/-]{0,30}", fullmatch=True)))
def test_any_text_parses_or_raises_policy_error(text):
    try:
        parse_rule(text)
    except PolicyError as error:
        assert str(error).startswith("rule ") and "expected " in str(error)


@settings(max_examples=100, deadline=None)
@given(entries=st.lists(RULES, max_size=5), preset=st.sampled_from(tuple(PRESETS)), ipv6_exit=st.booleans(),
       exit_relay=st.booleans())
def test_build_policy_either_refuses_with_policy_error_or_keeps_the_entries(entries, preset, ipv6_exit, exit_relay):
    texts = [{"rule": str(r), "note": r.note} for r in entries]
    try:
        policy = build_policy(preset, texts, ipv6_exit=ipv6_exit, exit_relay=exit_relay)
    except PolicyError as error:
        assert error.index is None or 0 <= error.index < len(entries)
        return
    assert policy.operator_rules == tuple(entries)
    assert summarise(policy).is_exit == exit_relay
