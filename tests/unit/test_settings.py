"""Settings of a fleet: every bad input an operator may write is refused with a message
that names the file, the host or group, the key, the bad value and what is expected.

Fleets are built in tmp_path (inventory/<fleet>.yml + group_data/<group>.yml) and
loaded with exitkit.fleet.load_fleet; the naming plan (exitkit.plan.plan_fleet)
is checked the same way.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from exitkit import checks
from exitkit import settings as S
from exitkit.loader import check_values, load_fleet
from exitkit.model import NOT_SET, FleetInvalid, SettingsError
from exitkit.plan import plan_fleet

REPO = Path(__file__).resolve().parents[2]
FLEET = "testfleet"
INV = f"inventory/{FLEET}.yml"
ALL = "group_data/all.yml"

BASE_ALL = {"operator_name": "Test Exit Collective", "abuse_email": "abuse@example.org", "domain": "example.org"}
ONE_LINER = "from exitkit.fleet import pyinfra_inventory; globals().update(pyinfra_inventory(__file__))  # noqa: E702\n"


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def _dump(data: Any) -> str:
    return data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)


def write_fleet(root: Path, inventory: Any, groups: dict[str, Any] | None = None, fleet: str = FLEET) -> Path:
    """Write inventory/<fleet>.yml (a dict or raw YAML text) and group_data/<group>.yml files."""
    (root / "inventory").mkdir(exist_ok=True)
    (root / "group_data").mkdir(exist_ok=True)
    (root / "inventory" / f"{fleet}.yml").write_text(_dump(inventory), encoding="utf-8")
    (root / "inventory" / f"{fleet}.py").write_text(ONE_LINER, encoding="utf-8")
    for name, data in ({"all": BASE_ALL} if groups is None else groups).items():
        if data is not None:
            (root / "group_data" / f"{name}.yml").write_text(_dump(data), encoding="utf-8")
    return root / "inventory" / f"{fleet}.py"


@pytest.fixture
def fleet_dir(tmp_path, monkeypatch):
    """A fleet folder that is the current directory (as when pyinfra runs), so files show as inventory/..."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def load(root: Path, inventory: Any, groups: dict[str, Any] | None = None, fleet: str = FLEET):
    return load_fleet(write_fleet(root, inventory, groups, fleet), cwd=root)


def errors_of(root: Path, inventory: Any, groups: dict[str, Any] | None = None, plan: bool = False) -> list[str]:
    with pytest.raises(FleetInvalid) as caught:
        fleet = load(root, inventory, groups)
        if plan:
            plan_fleet(fleet)
    assert caught.value.errors, "FleetInvalid without errors"
    assert all(isinstance(e, SettingsError) for e in caught.value.errors)
    assert str(caught.value) == "\n".join(str(e) for e in caught.value.errors)
    return [str(e) for e in caught.value.errors]


def host(nickname: str = "exit1", **more: Any) -> dict:
    return {"nickname": nickname, "ssh_hostname": "127.0.0.1", "ssh_port": 2222, **more}


def one_host(**more: Any) -> dict:
    return {"exits": {"r1": host(**more)}}


def find(errors: list[str], file: str, where: str, key: str | None, value: Any, *expected: str) -> str:
    """The one message with exactly this place and value, which contains every expected text."""
    place = f"{file}: {where}" + (f", key '{key}'" if key is not None else "")
    got = "not set; " if value is NOT_SET else f"got {value!r}; "
    matching = [e for e in errors if e.startswith(place + ": " + got)]
    assert matching, f"no message starting with {place + ': ' + got!r} in:\n" + "\n".join(errors)
    for message in matching:
        if all(text in message for text in expected):
            return message
    raise AssertionError(f"{matching!r} lacks one of {expected!r}")


# --------------------------------------------------------------------------
# one bad value: where it was written, and what was expected
# --------------------------------------------------------------------------

# (id, where the bad value goes: "host" or a group name, key, value, expected texts)
BAD_VALUES = [
    ("typo-abuse_email", "host", "abuse_emial", "x@example.org",
     ["expected a known setting", "did you mean 'abuse_email'?"]),
    ("typo-abuse_email-in-group", "all", "abuse_mail", "x@example.org",
     ["expected a known setting", "did you mean 'abuse_email'?"]),
    ("typo-connection-key-ssh_prot", "host", "ssh_prot", 22, ["expected a known setting", "did you mean 'ssh_port'?"]),
    ("unknown-key-no-close-match", "all", "flux_capacitor", 88,
     ["expected a known setting", "see the settings table in README.md"]),
    ("string-for-int", "host", "log_lifetime_hours", "24", ["expected a number of hours from 1 to 720"]),
    ("float-for-int", "host", "reboot_max_at_once", 1.5, ["expected a whole number from 1 to 1000"]),
    ("list-for-string", "all", "operator_name", ["Alice", "Bob"], ["expected text (a string)"]),
    ("multi-line-string", "all", "operator_name", "Alice\nBob", ["expected one line of text"]),
    ("blank-string", "all", "operator_name", "   ", ["expected a non-empty text"]),
    ("int-for-bool", "host", "access_log", 1, ["expected true or false"]),
    ("string-for-bool", "host", "ipv6_exit", "yes", ["expected true or false"]),
    ("bad-email", "all", "abuse_email", "abuse(at)example.org",
     ["expected an e-mail address such as abuse@example.org"]),
    ("email-without-domain-dot", "host", "abuse_email", "abuse@localhost", ["expected an e-mail address"]),
    ("bad-ipv4", "host", "public_ipv4", "300.1.1.1", ["expected an IPv4 address such as 203.0.113.10"]),
    ("ipv6-as-ipv4", "host", "public_ipv4", "2001:db8::10", ["expected an IPv4 address such as 203.0.113.10"]),
    ("bad-ipv6", "host", "public_ipv6", "2001:db8::zz", ["expected an IPv6 address such as 2001:db8::10"]),
    ("ipv4-as-ipv6", "host", "public_ipv6", "203.0.113.10", ["expected an IPv6 address such as 2001:db8::10"]),
    ("hostname-underscore", "host", "hostname", "under_score.example.org",
     ["expected a DNS name such as exit-1.example.org"]),
    ("hostname-single-label", "host", "hostname", "exit1", ["expected a DNS name such as exit-1.example.org"]),
    ("hostname-label-dash-end", "host", "hostname", "exit-.example.org", ["expected a DNS name"]),
    ("domain-single-label", "all", "domain", "example", ["expected a DNS name such as exit-1.example.org"]),
    ("domain-with-space", "all", "domain", "exa mple.org", ["expected a DNS name"]),
    ("ssh_port-70000", "host", "ssh_port", 70000, ["expected a port number from 1 to 65535"]),
    ("http_port-0", "host", "http_port", 0, ["expected a port number from 1 to 65535"]),
    ("window-25:00", "all", "reboot_window", "25:00-04:00", ["expected a window as HH:MM-HH:MM, such as 02:00-04:00"]),
    ("window-empty-02:00-02:00", "host", "reboot_window", "02:00-02:00", ["expected a window as HH:MM-HH:MM"]),
    ("window-2am", "host", "reboot_window", "2am", ["expected a window as HH:MM-HH:MM"]),
    ("timezone-Mars", "all", "timezone", "Mars/Olympus",
     ["expected an IANA time zone such as UTC, Europe/Berlin or Asia/Tokyo"]),
    ("language-fr", "host", "language", "fr", ["expected one of: en, de, ja"]),
    ("jurisdiction-uk", "all", "jurisdictions", ["uk"], ["entry 1 ('uk')", "expected one of: us, de, jp, eu"]),
    ("jurisdictions-not-a-list", "host", "jurisdictions", "de", ["expected a list of jurisdictions"]),
    ("network-i2p", "exits", "network", "i2p", ["expected one of: tor, nym, anyone, mix"]),
    ("nickname-too-long", "host", "nickname", "a" * 20, ["expected a relay nickname of 1 to 19 letters and digits"]),
    ("nickname-with-dash", "host", "nickname", "exit-kit", ["expected a relay nickname of 1 to 19 letters and digits"]),
    ("pgp-too-short", "all", "pgp_fingerprint", "ABCD 1234",
     ["expected an OpenPGP fingerprint of 40 hexadecimal digits"]),
    ("pgp-not-hex", "all", "pgp_fingerprint", "Z" * 40, ["expected an OpenPGP fingerprint of 40 hexadecimal digits"]),
    ("phone-without-plus", "all", "phone", "030 1234567", ["expected an international phone number starting with +"]),
    ("url-without-scheme", "all", "operator_url", "example.org", ["expected a web address starting with https:// or http://"]),
    ("url-ftp", "all", "operator_url", "ftp://example.org/", ["expected a web address starting with https://"]),
    ("torproject_repository-ftp", "all", "torproject_repository", "ftp://mirror.example.org/torproject",
     ["expected a web address starting with https:// or http://"]),
    ("torproject_repository-no-scheme", "all", "torproject_repository", "deb.torproject.org/torproject.org",
     ["expected a web address starting with https:// or http://"]),
    ("log_lifetime_hours-0", "host", "log_lifetime_hours", 0, ["expected a number of hours from 1 to 720"]),
    ("log_lifetime_hours-1000", "all", "log_lifetime_hours", 1000, ["expected a number of hours from 1 to 720"]),
    ("reboot-typo", "all", "reboot", "nighlty", ["expected one of: nightly, when-required, never"]),
    ("reboot_slot_minutes-2", "all", "reboot_slot_minutes", 2, ["expected a number of minutes from 5 to 120"]),
    ("exit_policy-typo", "exits", "exit_policy", "tor-reducd",
     ["expected one of: tor-reduced, tor-default, web, reject-all, custom"]),
    ("purge_dirs-relative", "all", "purge_dirs", ["var/log/lighttpd"],
     ["entry 1 ('var/log/lighttpd')", "expected an absolute path"]),
    ("purge_dirs-dotdot", "all", "purge_dirs", ["/var/../etc"], ["expected an absolute path"]),
    ("exit_interface-shell", "host", "exit_interface", "eth0;reboot",
     ["expected a network interface name such as eth0"]),
    ("ssh_strict-typo", FLEET, "ssh_strict_host_key_checking", "maybe", ["expected one of: yes, no, off, accept-new"]),
]


@pytest.mark.parametrize(("where", "key", "value", "expected"), [c[1:] for c in BAD_VALUES],
                         ids=[c[0] for c in BAD_VALUES])
def test_bad_value_is_named(fleet_dir, where, key, value, expected):
    groups = {"all": dict(BASE_ALL), "exits": {"network": "tor"}, FLEET: {"ssh_user": "root"}}
    if where == "host":
        inventory = one_host(**{key: value})
        file, place = INV, "host 'r1'"
    else:
        inventory = one_host()
        groups[where] = {**groups[where], key: value}
        file, place = f"group_data/{where}.yml", f"group '{where}'"
    errors = errors_of(fleet_dir, inventory, groups)
    find(errors, file, place, key, value, *expected)


def test_at_least_24_distinct_bad_values():
    assert len({c[0] for c in BAD_VALUES}) == len(BAD_VALUES) >= 24


# --------------------------------------------------------------------------
# missing required settings
# --------------------------------------------------------------------------


def test_missing_abuse_email_says_where_it_could_be_set(fleet_dir):
    groups = {"all": {"operator_name": "Op"}}
    errors = errors_of(fleet_dir, one_host(), groups)
    message = find(errors, INV, "host 'r1'", "abuse_email", NOT_SET, "expected a value such as 'abuse@example.org'",
                   "set it on the host, or in group_data/<group>.yml of one of its groups (exits, testfleet, all)")
    assert "Address for complaints" in message
    assert len(errors) == 1, errors


def test_missing_operator_name(fleet_dir):
    groups = {"all": {"abuse_email": "abuse@example.org"}}
    errors = errors_of(fleet_dir, {"exits": {"r1": host(), "r2": host("exit2")}}, groups)
    for name in ("r1", "r2"):
        find(errors, INV, f"host '{name}'", "operator_name", NOT_SET, "expected a value such as 'Example Privacy e.V.'",
             "group_data/<group>.yml", "(exits, testfleet, all)")
    assert len(errors) == 2, errors


def test_missing_nickname(fleet_dir):
    inventory = {"exits": {"r1": {"ssh_port": 2222}}}
    errors = errors_of(fleet_dir, inventory)
    find(errors, INV, "host 'r1'", "nickname", NOT_SET, "expected a value such as 'exitkit1'", "set it on the host")


def test_host_without_settings_is_missing_nickname(fleet_dir):
    errors = errors_of(fleet_dir, "exits:\n  r1:\n")
    find(errors, INV, "host 'r1'", "nickname", NOT_SET, "expected a value such as")


# --------------------------------------------------------------------------
# checks across hosts and groups
# --------------------------------------------------------------------------


def test_duplicate_nickname_case_insensitive(fleet_dir):
    inventory = {"exits": {"r1": host("ExitOne"), "r2": host("exitone")}}
    errors = errors_of(fleet_dir, inventory)
    find(errors, INV, "host 'r2'", "nickname", "exitone",
         "expected a nickname unique in the fleet; host 'r1' has it too")
    assert len(errors) == 1, errors


def test_duplicate_public_ipv4(fleet_dir):
    inventory = {"exits": {"r1": host("a1", public_ipv4="192.0.2.1"), "r2": host("a2", public_ipv4="192.0.2.1")}}
    errors = errors_of(fleet_dir, inventory)
    find(errors, INV, "host 'r2'", "public_ipv4", "192.0.2.1", "expected a public_ipv4 unique in the fleet; host 'r1'")


def test_duplicate_explicit_hostname(fleet_dir):
    inventory = {"exits": {"r1": host("a1", hostname="exit.example.org"),
                           "r2": host("a2", hostname="Exit.Example.org.")}}
    errors = errors_of(fleet_dir, inventory)
    find(errors, INV, "host 'r2'", "hostname", "exit.example.org",
         "expected a hostname unique in the fleet; host 'r1' has it too")


def test_two_groups_of_a_host_conflict(fleet_dir):
    inventory = {"exits": {"r1": host()}, "german": {"r1": None}}
    groups = {"all": BASE_ALL, "exits": {"language": "en"}, "german": {"language": "de"}}
    errors = errors_of(fleet_dir, inventory, groups)
    find(errors, "group_data/german.yml", "group 'german'", "language", "de",
         "expected no conflict: host 'r1' is also in group 'exits' (group_data/exits.yml) which sets 'en'",
         "set it on the host instead")


def test_two_groups_agreeing_or_overridden_by_all_is_no_conflict(fleet_dir):
    inventory = {"exits": {"r1": host()}, "german": {"r1": None}}
    groups = {"all": {**BASE_ALL, "language": "ja"}, "exits": {"language": "de"}, "german": {"language": "de"}}
    fleet = load(fleet_dir, inventory, groups)
    assert fleet.relay("r1").settings.language == "de"


def test_host_settings_under_two_groups(fleet_dir):
    inventory = {"exits": {"r1": host()}, "german": {"r1": {"language": "de"}}}
    errors = errors_of(fleet_dir, inventory)
    find(errors, INV, "host 'r1'", None, "german", "expected the host's settings under one group only")


# --------------------------------------------------------------------------
# files that are not what they should be
# --------------------------------------------------------------------------


def test_yaml_syntax_error_names_file_and_line(fleet_dir):
    text = "exits:\n  r1:\n    nickname: exit1\n    operator_name: [Alice\n    ssh_port: 22\n"
    errors = errors_of(fleet_dir, text)
    message = next(e for e in errors if e.startswith(f"{INV}: line "))
    assert message.endswith("; expected valid YAML")
    line = int(message.split("line ")[1].split(":")[0])
    assert 4 <= line <= 6, message


def test_yaml_syntax_error_in_group_file(fleet_dir):
    errors = errors_of(fleet_dir, one_host(), {"all": BASE_ALL, "exits": "network: tor\n  language: de\n"})
    message = find(errors, "group_data/exits.yml", "line 2", None, "mapping values are not allowed here",
                   "expected valid YAML")
    assert message


def test_group_file_that_is_a_list(fleet_dir):
    errors = errors_of(fleet_dir, one_host(), {"all": BASE_ALL, "exits": ["network: tor"]})
    find(errors, "group_data/exits.yml", "group 'exits'", None, ["network: tor"],
         "expected a mapping of setting: value")


def test_fleet_file_that_is_a_list(fleet_dir):
    errors = errors_of(fleet_dir, ["r1", "r2"])
    find(errors, INV, "the fleet", None, ["r1", "r2"], "expected a mapping of group name -> hosts")


def test_group_in_fleet_file_that_is_a_list(fleet_dir):
    errors = errors_of(fleet_dir, {"exits": ["r1"]})
    find(errors, INV, "group 'exits'", None, ["r1"], "expected a mapping of host name -> its settings")


def test_missing_fleet_file(fleet_dir):
    (fleet_dir / "inventory").mkdir()
    (fleet_dir / "inventory" / "nofleet.py").write_text(ONE_LINER)
    with pytest.raises(FleetInvalid) as caught:
        load_fleet(fleet_dir / "inventory" / "nofleet.py", cwd=fleet_dir)
    find([str(e) for e in caught.value.errors], "inventory/nofleet.yml", "the fleet", None, NOT_SET,
         "expected this file listing groups and their hosts")


# --------------------------------------------------------------------------
# the naming plan (plan_fleet)
# --------------------------------------------------------------------------


def test_name_pattern_with_unknown_placeholder(fleet_dir):
    groups = {"all": {**BASE_ALL, "name_pattern": "{network}-exit-{number}.{domain}"}}
    errors = errors_of(fleet_dir, one_host(), groups, plan=True)
    find(errors, ALL, "group 'all' (for host 'r1')", "name_pattern", "{network}-exit-{number}.{domain}",
         "using only {network}, {index}, {nickname}, {domain}; {number} is not one of them")


def test_planned_name_without_exit_label(fleet_dir):
    groups = {"all": {**BASE_ALL, "name_pattern": "{nickname}.{domain}"}}
    errors = errors_of(fleet_dir, one_host(nickname="web1"), groups, plan=True)
    find(errors, ALL, "group 'all' (for host 'r1')", "name_pattern", "{nickname}.{domain}",
         "expected a first label that says what this is, containing one of: exit, tor-exit")


def test_explicit_hostname_without_exit_label(fleet_dir):
    errors = errors_of(fleet_dir, one_host(hostname="www.example.org"), plan=True)
    find(errors, INV, "host 'r1'", "hostname", "www.example.org", "expected a first label that says what this is")


def test_hostname_outside_domain(fleet_dir):
    errors = errors_of(fleet_dir, one_host(hostname="exit1.example.net"), plan=True)
    find(errors, INV, "host 'r1'", "hostname", "exit1.example.net",
         "expected a name inside the operator's domain example.org")


def test_planned_names_collide(fleet_dir):
    groups = {"all": {**BASE_ALL, "name_pattern": "{network}-exit.{domain}"}}
    errors = errors_of(fleet_dir, {"exits": {"r1": host("a1"), "r2": host("a2")}}, groups, plan=True)
    find(errors, ALL, "group 'all' (for host 'r2')", "name_pattern", "tor-exit.example.org",
         "expected a name unique in the fleet; host 'r1' has it too")


def test_explicit_hostname_colliding_with_planned_one(fleet_dir):
    inventory = {"exits": {"r1": host("a1"), "r2": host("a2", hostname="tor-exit-1.example.org")}}
    errors = errors_of(fleet_dir, inventory, plan=True)
    find(errors, INV, "host 'r2'", "hostname", "tor-exit-1.example.org",
         "expected a name unique in the fleet; host 'r1'")


def test_plan_indexes_per_network(fleet_dir):
    inventory = {"exits": {"r1": host("a1"), "r2": host("a2")}, "gateways": {"g1": host("g1")}}
    groups = {"all": BASE_ALL, "gateways": {"network": "nym"}}
    plans = plan_fleet(load(fleet_dir, inventory, groups))
    assert {n: (p.index, p.hostname) for n, p in plans.items()} == {
        "r1": (1, "tor-exit-1.example.org"), "r2": (2, "tor-exit-2.example.org"), "g1": (1, "nym-exit-1.example.org")}


def test_no_domain_no_planned_name(fleet_dir):
    plans = plan_fleet(load(fleet_dir, one_host(), {"all": {"operator_name": "Op", "abuse_email": "a@example.org"}}))
    assert plans["r1"].hostname == ""


# --------------------------------------------------------------------------
# all errors at once
# --------------------------------------------------------------------------


def test_several_errors_reported_at_once(fleet_dir):
    inventory = {"exits": {"r1": host(language="fr"), "r2": host("exit2", ssh_port=0, abuse_emial="x@example.org")}}
    groups = {"all": {**BASE_ALL, "reboot_window": "2am"}, "exits": ["not", "a", "mapping"]}
    errors = errors_of(fleet_dir, inventory, groups)
    find(errors, INV, "host 'r1'", "language", "fr", "expected one of: en, de, ja")
    find(errors, INV, "host 'r2'", "ssh_port", 0, "expected a port number")
    find(errors, INV, "host 'r2'", "abuse_emial", "x@example.org", "did you mean 'abuse_email'?")
    find(errors, ALL, "group 'all'", "reboot_window", "2am", "expected a window")
    find(errors, "group_data/exits.yml", "group 'exits'", None, ["not", "a", "mapping"], "expected a mapping")
    assert len(errors) == 5, errors


# --------------------------------------------------------------------------
# valid fleets
# --------------------------------------------------------------------------


def test_demo_fleet_loads(monkeypatch):
    monkeypatch.chdir(REPO)
    fleet = load_fleet(REPO / "inventory" / "demo.py", cwd=REPO)
    assert fleet.name == "demo"
    assert sorted(r.name for r in fleet.relays) == ["relay-1", "relay-2", "relay-3"]
    r1, r2, r3 = (fleet.relay(n) for n in ("relay-1", "relay-2", "relay-3"))
    # all < fleet group (demo) < group < host
    assert r1.groups == ("all", "demo", "tor_exits")
    assert r2.groups == ("all", "demo", "nym_gateways")
    for relay in (r1, r2, r3):
        assert relay.settings.abuse_email == "abuse@example.org"       # all
        assert relay.settings.timezone == "Europe/Berlin"              # all
        assert relay.settings.test_network_off is True                 # demo (fleet group)
        assert relay.connection["ssh_user"] == "root"                  # demo (fleet group)
        assert relay.connection["ssh_hostname"].startswith("10.89.100.")  # host
    assert r2.settings.network == "nym" and r1.settings.network == "tor"  # group
    assert r1.settings.language == "en" and r2.settings.language == "de"  # group
    assert r3.settings.language == "ja"                                    # host over group
    assert r1.settings.jurisdictions == ("eu", "de") and r3.settings.jurisdictions == ("jp",)  # host over all
    assert {r.settings.nickname for r in fleet.relays} == {"exitkitdemo1", "exitkitdemo2", "exitkitdemo3"}
    assert r3.sources["language"] == ("inventory/demo.yml", "host 'relay-3'")
    assert r1.sources["language"] == ("group_data/tor_exits.yml", "group 'tor_exits'")
    assert "nickname" not in r1.connection and "ssh_port" not in vars(r1.settings)
    plans = plan_fleet(fleet)
    assert len(plans) == 3 and all(p.hostname.endswith(".example.org") for p in plans.values())


def test_merge_order_all_fleet_group_host(fleet_dir):
    inventory = {
        "exits": {"by-host": host("a1", log_lifetime_hours=40), "by-group": host("a2")},
        "plain": {"by-fleet": host("a3")},
    }
    groups = {
        "all": {**BASE_ALL, "log_lifetime_hours": 10, "reboot_slot_minutes": 30, "language": "de"},
        FLEET: {"log_lifetime_hours": 20, "language": "ja"},
        "exits": {"log_lifetime_hours": 30},
    }
    fleet = load(fleet_dir, inventory, groups)
    hours = {r.name: r.settings.log_lifetime_hours for r in fleet.relays}
    assert hours == {"by-host": 40, "by-group": 30, "by-fleet": 20}
    assert {r.settings.reboot_slot_minutes for r in fleet.relays} == {30}   # only in all
    assert {r.settings.language for r in fleet.relays} == {"ja"}            # fleet group over all
    assert {r.settings.reboot_window for r in fleet.relays} == {"02:00-04:00"}  # default
    src = {r.name: r.sources["log_lifetime_hours"] for r in fleet.relays}
    assert src == {"by-host": (INV, "host 'by-host'"), "by-group": ("group_data/exits.yml", "group 'exits'"),
                   "by-fleet": (f"group_data/{FLEET}.yml", f"group '{FLEET}'")}


def test_values_are_normalised(fleet_dir):
    inventory = one_host(
        hostname="Tor-Exit-9.Example.ORG.", public_ipv6="2001:DB8:0:0::10", reboot_window=" 03:00 - 05:30 ",
        pgp_fingerprint="abcd" * 10, jurisdictions=["de"], operator_name="  Alice  ")
    relay = load(fleet_dir, inventory).relay("r1")
    s = relay.settings
    assert s.hostname == "tor-exit-9.example.org"
    assert s.public_ipv6 == "2001:db8::10"
    assert s.reboot_window == "03:00-05:30"
    assert s.pgp_fingerprint == " ".join(["ABCD"] * 10)
    assert s.jurisdictions == ("de",)
    assert s.operator_name == "Alice"
    assert relay.connection == {"ssh_hostname": "127.0.0.1", "ssh_port": 2222}


def test_empty_optional_values_mean_not_set(fleet_dir):
    s = load(fleet_dir, one_host(phone="", operator_url="", public_ipv4="", hostname="")).relay("r1").settings
    assert (s.phone, s.operator_url, s.public_ipv4, s.hostname) == ("", "", "", "")


# --------------------------------------------------------------------------
# --------------------------------------------------------------------------
# bugs found by these tests, fixed; kept as regressions
# --------------------------------------------------------------------------


def test_invalid_required_value_is_not_also_reported_as_not_set(fleet_dir):
    errors = errors_of(fleet_dir, one_host(abuse_email="not-an-email"), {"all": {"operator_name": "Op"}})
    find(errors, INV, "host 'r1'", "abuse_email", "not-an-email", "expected an e-mail address")
    assert not any("not set" in e for e in errors), errors


def test_numeric_host_name_with_settings_under_two_groups(fleet_dir):
    text = "exits:\n  1:\n    nickname: a1\ngerman:\n  1:\n    language: de\n"
    errors = errors_of(fleet_dir, text)
    find(errors, INV, "host '1'", None, "german", "expected the host's settings under one group only")


def test_email_with_trailing_newline_is_refused(fleet_dir):
    errors = errors_of(fleet_dir, "exits:\n  r1:\n    nickname: a1\n    abuse_email: |\n      abuse@example.org\n")
    find(errors, INV, "host 'r1'", "abuse_email", "abuse@example.org\n", "expected an e-mail address")


def test_hostname_with_trailing_newline_is_refused():
    with pytest.raises(ValueError, match="^expected a DNS name"):
        checks.hostname("exit.example.org\n")


@pytest.mark.parametrize("value", [3232235777, True], ids=["int", "bool"])
def test_ipv4_given_as_a_number_is_refused(fleet_dir, value):
    errors = errors_of(fleet_dir, one_host(public_ipv4=value))
    find(errors, INV, "host 'r1'", "public_ipv4", value, "expected an IPv4 address")


@pytest.mark.parametrize("pattern", ["exit-{index.{domain}", "{network:d}-exit.{domain}", "exit-{index}}.{domain}"])
def test_malformed_name_pattern_message_says_what_is_expected(fleet_dir, pattern):
    groups = {"all": {**BASE_ALL, "name_pattern": pattern}}
    errors = errors_of(fleet_dir, one_host(), groups, plan=True)
    find(errors, ALL, "group 'all' (for host 'r1')", "name_pattern", pattern, "expected a pattern")


# --------------------------------------------------------------------------
# the README's settings table
# --------------------------------------------------------------------------


def test_readme_settings_table_is_generated():
    readme = REPO / "README.md"
    assert readme.exists(), "README.md is missing; it must carry the settings table"
    lines = readme.read_text(encoding="utf-8").splitlines()
    start, end = "<!-- settings-table:start -->", "<!-- settings-table:end -->"
    assert start in lines and end in lines, f"README.md lacks the lines {start} and {end}"
    block = "\n".join(lines[lines.index(start) + 1 : lines.index(end)]).strip("\n") + "\n"
    assert block == S.settings_table(), \
        "README settings table is stale: regenerate it with python -m exitkit settings-table"


def test_settings_table_lists_every_setting():
    table = S.settings_table()
    for name, f in S.SETTINGS.items():
        assert f"| `{name}` |" in table
        assert f.metadata["meaning"] and f.metadata["meaning"].endswith(".")
        if f.metadata["required"]:
            assert f.metadata["example"], name
            f.metadata["check"](f.metadata["example"])  # the example passes its own check
        else:
            assert f.metadata["check"](f.default if not isinstance(f.default, tuple) else list(f.default)) == f.default


# --------------------------------------------------------------------------
# properties
# --------------------------------------------------------------------------

_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
_time = st.tuples(st.integers(0, 23), st.integers(0, 59)).map(lambda t: f"{t[0]:02d}:{t[1]:02d}")
_spaces = st.sampled_from(["", " ", "  "])


@st.composite
def valid_hostnames(draw):
    labels = draw(st.lists(_label, min_size=2, max_size=5))
    name = ".".join(labels)
    name = "".join(c.upper() if draw(st.booleans()) else c for c in name)
    return name + draw(st.sampled_from(["", "."]))


@st.composite
def valid_windows(draw):
    a, b = draw(_time), draw(_time)
    if a == b:
        b = "23:59" if a != "23:59" else "00:00"
    return f"{draw(_spaces)}{a}{draw(_spaces)}-{draw(_spaces)}{b}{draw(_spaces)}"


@st.composite
def valid_fingerprints(draw):
    digits = draw(st.text(alphabet="0123456789abcdefABCDEF", min_size=40, max_size=40))
    return "".join(d + (" " if draw(st.booleans()) else "") for d in digits)


VALID = {
    "nickname": st.from_regex(r"[A-Za-z0-9]{1,19}", fullmatch=True),
    "hostname": valid_hostnames(),
    "domain": valid_hostnames(),
    "reboot_window": valid_windows(),
    "pgp_fingerprint": valid_fingerprints(),
    "public_ipv4": st.ip_addresses(v=4).map(str),
    "public_ipv6": st.ip_addresses(v=6).map(lambda a: a.exploded),
    "abuse_email": st.from_regex(r"[a-z0-9._+-]{1,20}@([a-z0-9-]{1,10}\.){1,3}[a-z]{2,6}", fullmatch=True),
    "log_lifetime_hours": st.integers(1, 720),
    "http_port": st.integers(1, 65535),
    "operator_name": st.text(alphabet=string.ascii_letters + " .-", min_size=1, max_size=30).filter(str.strip),
    "language": st.sampled_from(S.LANGUAGES),
    "jurisdictions": st.lists(st.sampled_from(S.JURISDICTIONS), max_size=4),
}


@hsettings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(VALID)).flatmap(lambda k: st.tuples(st.just(k), VALID[k])))
def test_valid_values_are_accepted_and_normalised_idempotently(key_value):
    key, value = key_value
    errors: list[SettingsError] = []
    out = check_values({key: value}, "f.yml", "host 'h'", errors)
    assert not errors, [str(e) for e in errors]
    normalised = out[key]
    as_written = list(normalised) if isinstance(normalised, tuple) else normalised
    again = check_values({key: as_written}, "f.yml", "host 'h'", errors)
    assert not errors, [str(e) for e in errors]
    assert again[key] == normalised


@hsettings(max_examples=40, deadline=None)
@given(host_values=st.fixed_dictionaries({}, optional={
    k: VALID[k] for k in ("reboot_window", "public_ipv6", "log_lifetime_hours", "language", "hostname")}))
def test_valid_host_settings_load(tmp_path_factory, host_values):
    root = tmp_path_factory.mktemp("fleet")
    fleet = load_fleet(write_fleet(root, {"exits": {"r1": {"nickname": "a1", **host_values}}}), cwd=root)
    s = fleet.relay("r1").settings
    for key, value in host_values.items():
        check = S.SETTINGS[key].metadata["check"]
        assert getattr(s, key) == check(value) == check(getattr(s, key))


_any_value = st.one_of(st.text(), st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                       st.lists(st.text(max_size=3), max_size=3),
                       st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@pytest.mark.parametrize("name",
                         ["email", "hostname", "time_window", "timezone", "nickname", "phone", "url",
                          "pgp_fingerprint"])
@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=_any_value)
@example(value="")
@example(value="-")
@example(value="a-b-c")
@example(value="02:00-04:00-06:00")
@example(value="Europe")
@example(value="../../etc/passwd")
@example(value="\x00")
def test_check_returns_or_says_what_was_expected(name, value):
    check = getattr(checks, name)
    try:
        out = check(value)
    except ValueError as error:
        assert str(error).startswith("expected"), str(error)
    else:
        assert isinstance(out, str)
        assert check(out) == out  # idempotent on what it accepted


@pytest.mark.parametrize("name", sorted(S.SETTINGS))
@hsettings(max_examples=25, deadline=None)
@given(value=_any_value)
def test_every_setting_check_raises_only_value_error(name, value):
    errors: list[SettingsError] = []
    check_values({name: value}, "f.yml", "host 'h'", errors)
    for error in errors:
        assert str(error).startswith(f"f.yml: host 'h', key '{name}': got {value!r}; ")
