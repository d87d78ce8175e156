"""Where the exit policy is enforced: the exit address setting, its checks, and the one claim every output makes."""

from __future__ import annotations

import markupsafe
import pytest
import yaml

from exitkit import notice
from exitkit.loader import load_fleet
from exitkit.model import FleetInvalid
from exitkit.plan import exit_policy_of, plan_fleet
from exitkit.policy import build_policy, enforcement, exit_addresses, policy_files, summarise
from exitkit.settings import RelaySettings
from exitkit.summary import ENFORCEMENT_HEADER, WIDTH, RelayOutcome, format_summary
from exitkit.tor import render_torrc_file
from exitkit.tor.relay import Family, instances

EN = notice.load_texts("en")


def settings(**kw) -> RelaySettings:
    base = dict(nickname="exitkit1", operator_name="Op", abuse_email="abuse@example.org", public_ipv4="192.0.2.10")
    return RelaySettings(**{**base, **kw})


def fleet_of(tmp_path, monkeypatch, **host):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inventory").mkdir()
    (tmp_path / "group_data").mkdir()
    relay = {"nickname": "relay1", "public_ipv4": "192.0.2.10", **host}
    (tmp_path / "inventory" / "prod.yml").write_text(yaml.safe_dump({"exits": {"r1": relay}}))
    base = {"operator_name": "Op", "abuse_email": "abuse@example.org", "domain": "example.org"}
    (tmp_path / "group_data" / "all.yml").write_text(yaml.safe_dump(base))
    return load_fleet(tmp_path / "inventory" / "prod.py")


def refusal(tmp_path, monkeypatch, **host) -> str:
    with pytest.raises(FleetInvalid) as refused:
        plan_fleet(fleet_of(tmp_path, monkeypatch, **host))
    return str(refused.value)


# --------------------------------------------------------------------------
# The setting and its checks.
# --------------------------------------------------------------------------


def test_one_address_or_one_of_each_family(tmp_path, monkeypatch):
    fleet = fleet_of(tmp_path, monkeypatch, outbound_bind_address_exit="198.51.100.20")
    assert exit_addresses(fleet.relay("r1").settings) == ("198.51.100.20",)
    both = settings(outbound_bind_address_exit=("2001:db8::20", "198.51.100.20"), ipv6_exit=True)
    assert exit_addresses(both) == ("2001:db8::20", "198.51.100.20")


@pytest.mark.parametrize(("value", "expected"), [
    ("10.0.0.5", "expected a public address for exit connections, not 10.0.0.5"),
    ("127.0.0.2", "expected a public address for exit connections, not 127.0.0.2"),
    (["198.51.100.20", "198.51.100.21"], "expected at most one IPv4 exit address"),
    ("exit.example.org", "expected an IP address"),
])
def test_an_exit_address_that_cannot_be_one_is_refused_with_file_host_key(tmp_path, monkeypatch, value, expected):
    with pytest.raises(FleetInvalid) as refused:
        fleet_of(tmp_path, monkeypatch, outbound_bind_address_exit=value)
    message = str(refused.value)
    assert "inventory/prod.yml: host 'r1', key 'outbound_bind_address_exit'" in message and expected in message


def test_the_exit_address_must_not_be_the_orport_address(tmp_path, monkeypatch):
    message = refusal(tmp_path, monkeypatch, outbound_bind_address_exit="192.0.2.10")
    assert "key 'outbound_bind_address_exit': got '192.0.2.10'" in message
    assert "apart from the relay's ORPort address (public_ipv4)" in message


def test_an_ipv6_exit_address_needs_ipv6_exit(tmp_path, monkeypatch):
    message = refusal(tmp_path, monkeypatch, outbound_bind_address_exit="2001:db8::20")
    assert "expected ipv6_exit: true for an IPv6 exit address" in message


@pytest.mark.parametrize("network", ["nym", "anyone", "mix"])
def test_only_a_tor_exit_takes_an_exit_address(tmp_path, monkeypatch, network):
    message = refusal(tmp_path, monkeypatch, network=network, outbound_bind_address_exit="198.51.100.20")
    assert f"expected no exit address for network {network}" in message


def test_a_non_exit_takes_no_exit_address(tmp_path, monkeypatch):
    message = refusal(tmp_path, monkeypatch, exit_policy="reject-all", outbound_bind_address_exit="198.51.100.20")
    assert "expected no exit address on a relay that is not an exit" in message


# --------------------------------------------------------------------------
# What the relay gets: torrc, the table, the policy's own addresses.
# --------------------------------------------------------------------------


def test_torrc_binds_exit_connections_and_the_table_judges_them():
    s = settings(outbound_bind_address_exit=("198.51.100.20", "2001:db8::20"), ipv6_exit=True)
    policy = exit_policy_of(s)
    torrc = render_torrc_file(s, instances(s)[0], policy, Family((), ""))
    assert "OutboundBindAddressExit 198.51.100.20\nOutboundBindAddressExit [2001:db8::20]\n" in torrc
    ruleset = policy_files(policy, s.exit_interface, exit_addresses(s))[0].content
    assert "ip saddr 198.51.100.20 jump exit_policy" in ruleset and "ip6 saddr 2001:db8::20 jump exit_policy" in ruleset
    assert not policy.allows("198.51.100.20", 443)  # an own address, as tor's ExitPolicyRejectLocalInterfaces says
    plain = settings()
    assert "OutboundBindAddressExit" not in render_torrc_file(plain, instances(plain)[0], exit_policy_of(plain),
                                                              Family((), ""))
    assert "hook output" not in policy_files(exit_policy_of(plain), "eth0", exit_addresses(plain))[0].content


# --------------------------------------------------------------------------
# The claim: one function, the summary and the page say it.
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("network", "extra", "key", "own", "portless"), [
    ("tor", {"outbound_bind_address_exit": ("198.51.100.20",)}, "tor_exit_address", True, False),
    ("tor", {}, "tor", False, False),
    ("nym", {}, "nym", False, True),
    ("anyone", {}, "anyone", False, False),
    ("mix", {}, "mix", False, True),
])
def test_enforcement_claim_follows_the_settings(network, extra, key, own, portless):
    claim = enforcement(settings(network=network, exit_interface="ens3", **extra))
    assert claim.text_key == f"policy.enforcement.{key}"
    assert claim.table_judges_own_connections is own and claim.carries_portless is portless
    assert "forwarded out of ens3" in claim.summary
    if not own:
        assert "nftables judges only traffic forwarded out of ens3" in claim.summary


def page_policy(s: RelaySettings, preset="tor-reduced", rules=()) -> str:
    summary = summarise(build_policy(preset, list(rules), ipv6_exit=False, own_addresses=[s.public_ipv4]))
    html = notice.render_notice(s, policy_summary=summary, address=s.public_ipv4, hostname="", reboot_time=None,
                                lang="en")
    start = html.index('id="policy"')
    return html[start:html.index("</section>", start)]


def esc(text: str) -> str:
    return str(markupsafe.escape(text))


def test_the_page_says_where_the_policy_holds():
    bound = page_policy(settings(outbound_bind_address_exit=("198.51.100.20",)))
    assert esc(EN["policy"]["enforcement"]["tor_exit_address"].format(exit_addresses="198.51.100.20")) in bound
    unbound = page_policy(settings(exit_interface="ens3"))
    assert esc(EN["policy"]["enforcement"]["tor"].format(interface="ens3")) in unbound
    assert "198.51.100.20" not in unbound
    nym = page_policy(settings(network="nym"))
    assert esc(EN["policy"]["enforcement"]["nym"].format(interface="eth0")) in nym


def test_the_page_states_the_rule_for_traffic_without_ports_where_the_network_carries_it():
    nym_open = page_policy(settings(network="nym"), "tor-reduced")
    assert esc(EN["policy"]["portless_open"]) in nym_open
    nym_closed = page_policy(settings(network="nym"), "tor-default")  # its first rule: reject *:25
    assert esc(EN["policy"]["portless_closed"]) in nym_closed
    tor = page_policy(settings(), "tor-reduced")  # tor carries TCP only: no word about ping
    assert esc(EN["policy"]["portless_open"]) not in tor and esc(EN["policy"]["portless_closed"]) not in tor


def test_summary_groups_relays_by_claim_and_keeps_to_the_width():
    plain, bound = enforcement(settings()), enforcement(settings(outbound_bind_address_exit="198.51.100.20"))
    outcomes = [RelayOutcome("relay-1", "tor", "a", "192.0.2.1", "0" * 12, enforcement=plain.summary),
                RelayOutcome("relay-2", "tor", "b", "192.0.2.2", "0" * 12, enforcement=bound.summary),
                RelayOutcome("relay-3", "tor", "c", "192.0.2.3", "0" * 12, enforcement=plain.summary)]
    lines = format_summary(outcomes).splitlines()
    at = lines.index(ENFORCEMENT_HEADER)
    assert lines[at + 1].startswith("  relay-1, relay-3: tor's own exit policy is the only check")
    assert any(line.startswith("  relay-2: nftables judges tor's exit connections from 198.51.100.20")
               for line in lines[at:])
    assert all(len(line) <= WIDTH for line in lines)
    assert lines[-1] == "3 relays: 0 changed, 3 unchanged. Converged."
