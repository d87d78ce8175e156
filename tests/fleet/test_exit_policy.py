"""One policy, enforced and served by every relay, and a change that reaches all of them."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import markupsafe
import yaml

from exitkit import notice, tor
from exitkit.configfile import by_path
from exitkit.plan import exit_policy_of
from exitkit.policy import NFTABLES_RULESET, enforcement, exit_addresses, policy_files, render_nym, summarise
from exitkit.settings import RelaySettings
from exitkit.tor import tor_files

PROBE = Path(__file__).with_name("policy_probe.py")


def settings_of(fleet, name: str) -> RelaySettings:

    return fleet.described().relay(name).settings


def exitkit(fleet, *args: str) -> subprocess.CompletedProcess:
    """The command as an operator types it, from the fleet's folder."""
    return subprocess.run([sys.executable, "-m", "exitkit", args[0], f"inventory/{fleet.lab.name}.py", *args[1:]],
                          cwd=fleet.folder, text=True, capture_output=True, timeout=120)


def test_every_relay_serves_and_enforces_its_policy(fleet, first_run, monkeypatch):
    monkeypatch.chdir(fleet.folder)
    for relay in fleet.relays:
        policy = exit_policy_of(settings_of(fleet, relay.name))
        served = fleet.http(relay.name, "/exit-policy.txt")
        assert served.status_code == 200
        assert served.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert served.text == render_nym(policy)
        ruleset = fleet.host(relay.name).run("nft list table inet exitkit")
        assert ruleset.rc == 0, ruleset.stderr
        assert "hook forward" in ruleset.stdout and 'oifname "eth0" jump exit_policy' in ruleset.stdout
        assert "hook output" not in ruleset.stdout  # no exit address: tor's connections are not judged
        # ... and the page says so, in the relay's language, with the rule for port-less traffic where it applies
        settings = settings_of(fleet, relay.name)
        texts = notice.load_texts(settings.language)["policy"]
        page = fleet.http(relay.name, "/").text
        claim = enforcement(settings)
        assert not claim.table_judges_own_connections
        assert str(markupsafe.escape(texts["enforcement"][claim.text_key.rsplit(".", 1)[1]].format(
            interface=settings.exit_interface, exit_addresses=""))) in page
        portless = texts["portless_open" if summarise(policy).portless_open else "portless_closed"]
        assert (str(markupsafe.escape(portless)) in page) is claim.carries_portless
    assert 'comment "ticket 4711"' in fleet.host("relay-2").run("nft list ruleset").stdout


def test_a_block_on_request_reaches_every_relay_and_leaves_again(settings_restored, first_run, monkeypatch):
    """`exitkit block` writes the operator's files; the next deploy rejects the destination everywhere."""
    fleet = settings_restored
    monkeypatch.chdir(fleet.folder)
    before = copy.deepcopy(fleet.group_data)
    fleet.write()  # the files as the fleet's settings say now
    block = exitkit(fleet, "block", "203.0.113.99:8080", "--note", "complaint ticket 9001", "--expires", "2099-01-31")
    assert block.returncode == 0, block.stderr
    # the tor exits set no list of their own: all.yml gets one; the Nym gateway's group file its entry first
    assert "+++ b/group_data/all.yml" in block.stdout and "+++ b/group_data/nym_gateways.yml" in block.stdout
    for relay in fleet.relays:
        says = exitkit(fleet, "policy", relay.name, "--exits-to", "203.0.113.99:8080")
        assert says.returncode == 1 and "complaint ticket 9001" in says.stdout, says.stdout
    # a deploy writes the fleet folder from the test's settings: take them from the files exitkit block wrote
    for group in fleet.group_data:
        fleet.group_data[group] = yaml.safe_load((fleet.folder / "group_data" / f"{group}.yml").read_text()) or {}
    run = fleet.deploy()
    assert run.returncode == 0, run.stderr[-3000:]
    for relay in fleet.relays:
        settings = settings_of(fleet, relay.name)
        policy = exit_policy_of(settings)
        assert not policy.allows("203.0.113.99", 8080) and policy.allows("203.0.113.98", 8080)
        assert "complaint ticket 9001" in fleet.http(relay.name, "/exit-policy.txt").text
        assert "complaint ticket 9001" in fleet.http(relay.name, "/").text
        host = fleet.host(relay.name)
        ruleset = host.run("nft list ruleset").stdout
        assert re.search(r'ip daddr 203\.0\.113\.99 .*th dport 8080 drop comment "complaint ticket 9001; blocked ',
                         ruleset), (relay.name, ruleset)
        if settings.network == "tor":
            for instance in tor.instances(settings):
                assert "ExitPolicy reject 203.0.113.99:8080" in host.file(instance.torrc).content_string.splitlines()
    fleet.group_data = before
    run = fleet.deploy()
    assert run.returncode == 0, run.stderr[-3000:]
    for relay in fleet.relays:
        assert "9001" not in fleet.http(relay.name, "/exit-policy.txt").text
        assert "9001" not in fleet.host(relay.name).run("nft list ruleset").stdout


# Addresses the packet test puts on a veth pair it makes INSIDE the relay's own network namespace: the exit
# address tor's exit connections would leave from, and two destinations with listeners. Nothing leaves the
# container: traffic between local addresses never reaches a wire (the lab kernel has no dummy interfaces).
EXIT_ADDRESS = "198.51.100.20"
EXIT_ADDRESS_IPV6 = "2001:db8::20"  # only in the torrc tor checks: the probes are IPv4
DESTINATIONS = ("203.0.113.5", "203.0.113.7")
PROBE_SETUP = (
    "ip link add xkexit type veth peer name xkdest"
    f" && ip addr add {EXIT_ADDRESS}/32 dev xkexit"
    + "".join(f" && ip addr add {address}/32 dev xkdest" for address in DESTINATIONS)
    + " && ip link set xkexit up && ip link set xkdest up"
)
PROBE_TEARDOWN = "ip link del xkexit; rm -f /root/probe-torrc; systemctl restart exitkit-exit-policy.service"


def test_the_table_stops_what_the_policy_rejects_from_the_exit_address(fleet, first_run, monkeypatch):
    """The ruleset the kit renders for a tor exit with an exit address, loaded on a relay, judges real packets.

    tor's user connects from the exit address to listeners on the relay itself (tor's own exit connections
    take exactly this path through the output hook); the same connection from the relay's main address is
    relay traffic and passes. Traffic without ports (ICMP echo) is decided by the first rule whose address
    matches, as the model says. With the relay's own table back, every probe arrives. Forwarded traffic is
    not probed here: the lab's containers get neither a second network namespace (no CAP_SYS_ADMIN) nor a
    way to inject a packet from outside (no CAP_NET_RAW, no /dev/net/tun); the unit tests read the forward
    chain.
    """
    monkeypatch.chdir(fleet.folder)
    base = settings_of(fleet, "relay-1")
    settings = dataclasses.replace(base, outbound_bind_address_exit=(EXIT_ADDRESS, EXIT_ADDRESS_IPV6),
                                   ipv6_exit=True,
                                   exit_policy_rules=({"rule": "reject 203.0.113.7:443", "note": "probe"},))
    policy = exit_policy_of(settings)
    ruleset = by_path(policy_files(policy, settings.exit_interface, exit_addresses(settings)))[NFTABLES_RULESET]
    assert "hook output" in ruleset.content
    # tor itself accepts the torrc that binds its exit connections to both addresses
    torrc = next(f for f in tor_files(settings, policy) if f.check)  # tor@default's
    assert f"OutboundBindAddressExit {EXIT_ADDRESS}\nOutboundBindAddressExit [{EXIT_ADDRESS_IPV6}]" in torrc.content
    fleet.exec("relay-1", "sh", "-c", f"cat > /root/probe-torrc <<'END'\n{torrc.content}END\n")
    verified = fleet.exec("relay-1", "sh", "-c", torrc.check.format(path="/root/probe-torrc"), check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    main_address = json.loads(fleet.exec("relay-1", "ip", "-j", "-4", "addr", "show", "dev", "eth0").stdout)[0][
        "addr_info"][0]["local"]
    probes = [("tcp", EXIT_ADDRESS, d, p) for d in DESTINATIONS for p in (443, 8080, 25)]  # lighttpd has 80
    probes += [("udp", EXIT_ADDRESS, DESTINATIONS[0], 53), ("udp", EXIT_ADDRESS, DESTINATIONS[0], 5353)]
    probes += [("icmp", EXIT_ADDRESS, d, 0) for d in DESTINATIONS]
    relay_traffic = [("tcp", main_address, DESTINATIONS[0], 25), ("icmp", main_address, DESTINATIONS[1], 0)]
    container = fleet.relay("relay-1").container
    subprocess.run(["podman", "cp", str(PROBE), f"{container}:/root/policy_probe.py"], check=True)
    fleet.exec("relay-1", "sh", "-c", f"cat > /root/probe.nft <<'END'\n{ruleset.content}END\n")
    request = json.dumps({"user": "debian-tor", "probes": probes + relay_traffic})
    try:
        setup = fleet.exec("relay-1", "sh", "-c", f"{PROBE_SETUP} && nft -c -f /root/probe.nft && "
                           "nft -f /root/probe.nft", check=False)
        assert setup.returncode == 0, setup.stderr
        arrived = json.loads(fleet.exec("relay-1", "python3", "/root/policy_probe.py", request).stdout)
        # The relay's own table again (no exit address: no output chain): now every probe arrives.
        fleet.exec("relay-1", "systemctl", "restart", "exitkit-exit-policy.service")
        unjudged = json.loads(fleet.exec("relay-1", "python3", "/root/policy_probe.py", request).stdout)
    finally:
        fleet.exec("relay-1", "sh", "-c", PROBE_TEARDOWN, check=False)
    expected = [policy.allows(d, p if proto != "icmp" else None) for proto, _, d, p in probes]
    assert arrived[:len(probes)] == expected, list(zip(probes, arrived, strict=False))
    # Both outcomes occur, on every protocol: accepted ones arrive, rejected ones never leave.
    assert expected[:6] == [True, True, False, False, True, False]  # tor-reduced; 203.0.113.7:443 on complaint
    assert expected[6:] == [True, False, True, False]  # udp 53 open, 5353 not; ICMP: first address match
    assert arrived[len(probes):] == [True, True], "relay traffic from the main address must pass untouched"
    assert all(unjudged), "without the exit address's chain every probe must arrive: the table made the difference"
    restored = fleet.host("relay-1").run("nft list table inet exitkit")
    assert "hook output" not in restored.stdout and "hook forward" in restored.stdout
