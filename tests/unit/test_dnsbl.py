"""DNS blocklists: the names asked (IPv4 and IPv6 nibble form), and `exitkit dnsbl` against a real dnsmasq that
serves a test list: one relay listed (127.0.0.2 and a reason), one address refused the way Spamhaus refuses."""

from __future__ import annotations

import ipaddress
import json
import shutil

import dns.reversename
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from exitkit import dnsbl
from exitkit.cli import main
from exitkit.settings import DNSBL_ZONES
from tests.complaints.desk import FLEET
from tests.dnsserver import REVERSE_ZONES, dnsmasq

LIST, OTHER = "bl.example.net", "dnsbl.example.com"
RECORDS = [
    "--ptr-record=1.0.0.127.in-addr.arpa,localhost.example.net",  # the server's 'ready' answer
    # relay-1 of the desk fleet: listed by the test list, IPv4 and IPv6
    f"--host-record=31.2.0.192.{LIST},127.0.0.2",
    f'--txt-record=31.2.0.192.{LIST},"listed: spam trap hits, see https://bl.example.net/q/192.0.2.31"',
    f"--host-record={dnsbl.query_name('2001:db8::31', LIST)},127.0.0.4",
    # relay-3: the other list refuses the question, as Spamhaus answers a public resolver
    f"--host-record=33.2.0.192.{OTHER},127.255.255.254",
]


def test_ipv4_names_are_the_octets_reversed():
    assert dnsbl.query_name("192.0.2.21", "zen.spamhaus.org") == "21.2.0.192.zen.spamhaus.org"
    assert dnsbl.query_name("192.0.2.21", "Zen.Spamhaus.org.") == "21.2.0.192.zen.spamhaus.org"


def test_ipv6_names_are_the_32_nibbles_reversed():
    name = dnsbl.query_name("2001:db8::31", "bl.example.net")
    assert name == "1.3.0.0." + "0." * 20 + "8.b.d.0.1.0.0.2.bl.example.net"  # 2001:0db8:0:0:0:0:0:0031
    assert len(name.removesuffix(".bl.example.net").split(".")) == 32


@given(st.ip_addresses())
def test_names_match_the_reverse_tree_s(address):
    """The labels before the zone are those of in-addr.arpa / ip6.arpa (RFC 5782 uses the same order)."""
    assume(address.version == 4 or address.ipv4_mapped is None)  # dnspython puts ::ffff:a.b.c.d in in-addr.arpa
    reverse = dns.reversename.from_address(str(address)).to_text().removesuffix(".")
    tree = "in-addr.arpa" if address.version == 4 else "ip6.arpa"
    assert dnsbl.query_name(str(address), "list.example") == reverse.removesuffix(tree) + "list.example"


def test_the_default_lists_leave_out_those_that_list_every_exit():
    assert not set(DNSBL_ZONES) & set(dnsbl.EVERY_EXIT)


@pytest.fixture(scope="module")
def resolver():
    with dnsmasq(RECORDS, "127.0.0.1", zones=("example.net", "example.com", *REVERSE_ZONES)) as address:
        yield address


@pytest.fixture
def desk(tmp_path, monkeypatch, resolver):
    shutil.copytree(FLEET, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    with (tmp_path / "group_data" / "all.yml").open("a") as all_yml:
        all_yml.write(f"dns_check_resolver: '{resolver}'\ndnsbl_zones: [{LIST}, {OTHER}]\n")
    return tmp_path


def test_a_listed_relay_is_named_with_its_list_s_reason(desk, resolver, capsys):
    assert main(["dnsbl", "inventory/desk.py", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["resolver"] == resolver and report["listed"] == 2
    verdicts = {(x["address"], x["zone"]): x for x in report["listings"]}
    assert len(verdicts) == 8  # relay-1 with two addresses, relay-2 and relay-3 with one; two lists each
    listed = verdicts[("192.0.2.31", LIST)]
    assert listed["verdict"] == "listed" and listed["codes"] == ["127.0.0.2"] and "spam trap" in listed["reason"]
    assert verdicts[("2001:db8::31", LIST)]["codes"] == ["127.0.0.4"]
    assert verdicts[("192.0.2.33", OTHER)]["verdict"] == "refused"
    assert {x["verdict"] for k, x in verdicts.items() if k[0] == "192.0.2.32"} == {"not-listed"}


def test_the_table_says_what_to_do(desk, capsys):
    assert main(["dnsbl", "inventory/desk.py"]) == 1
    out = capsys.readouterr().out
    assert "relay-1  192.0.2.31    bl.example.net     listed" in out
    assert "2 listing(s): read each list's reason and ask for delisting there" in out


def test_a_list_of_every_exit_is_marked_and_not_counted(desk, capsys):
    all_yml = desk / "group_data" / "all.yml"
    all_yml.write_text(all_yml.read_text().replace(f"[{LIST}, {OTHER}]", "[torexit.dan.me.uk]"))
    assert main(["dnsbl", "inventory/desk.py"]) == 0  # the test server says NXDOMAIN for anything outside its zones
    out = capsys.readouterr().out
    assert "(lists every exit)" in out and "no address is listed" in out


def test_a_test_fleet_without_a_resolver_asks_nothing(tmp_path, monkeypatch, capsys):
    shutil.copytree(FLEET, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    with (tmp_path / "group_data" / "all.yml").open("a") as all_yml:
        all_yml.write("test_network_off: true\n")
    assert main(["dnsbl", "inventory/desk.py"]) == 0
    assert "Nothing asked: a test_network_off fleet asks only a dns_check_resolver" in capsys.readouterr().out


def test_refusal_codes_are_spamhaus_s():
    assert ipaddress.ip_address("127.255.255.254") in dnsbl.REFUSAL_CODES
    assert ipaddress.ip_address("127.0.0.2") not in dnsbl.REFUSAL_CODES
