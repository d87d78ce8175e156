"""The pure side of the Tor exit: instances, ContactInfo, families, the state a relay reports, family keys."""

from __future__ import annotations

import base64
import hashlib

from hypothesis import given
from hypothesis import strategies as st

from exitkit import control, tor
from exitkit.settings import RelaySettings
from exitkit.units import UnitState


def settings(**kw) -> RelaySettings:
    return RelaySettings(**{"nickname": "exit1", "operator_name": "o", "abuse_email": "abuse@example.org", **kw})


def test_instances_get_their_own_ports_names_and_places():
    first, second = tor.instances(settings(tor_instances=2, metrics_port=9035))
    assert (first.service, first.torrc, first.data_dir, first.user) == (
        "tor@default.service", "/etc/tor/torrc", "/var/lib/tor", "debian-tor")
    assert (second.service, second.torrc, second.data_dir, second.user) == (
        "tor@i2.service", "/etc/tor/instances/i2/torrc", "/var/lib/tor-instances/i2", "_tor-i2")
    assert (first.or_port, second.or_port, first.metrics_port, second.metrics_port) == (9001, 9002, 9035, 9036)
    assert "tor-service-defaults-torrc-instances" in second.verify_command and "{path}" in second.verify_command


@given(st.from_regex(r"[A-Za-z0-9]{1,19}", fullmatch=True), st.integers(1, 8))
def test_instance_nicknames_stay_valid(nickname, number):
    name = tor.instance_nickname(nickname, number)
    assert 1 <= len(name) <= 19 and name.isalnum()
    assert name == nickname if number == 1 else name.endswith(str(number))


def test_contact_info_follows_the_sharing_spec_unless_written_freely():
    built = tor.contact_info(settings(operator_url="https://example.org/", contact_proof="uri-rsa"))
    assert built == ("email:abuse[]example.org url:https://example.org/ proof:uri-rsa "
                     "abuse:abuse[]example.org ciissversion:2")
    free_text = "Example e.V. <abuse@example.org>"
    assert tor.contact_info(settings(contact_info=free_text)) == free_text


def torrc_of(**kw) -> str:
    from exitkit.plan import exit_policy_of

    relay = settings(**kw)
    return tor.render_torrc_file(relay, tor.instances(relay)[0], exit_policy_of(relay), tor.Family())


def test_the_torrc_says_what_the_library_decided():
    """ExitRelay and the IPv6 ORPort are decided in exitkit (policy.is_exit_preset, or_ipv6), not in torrc.j2."""
    assert "\nExitRelay 1\n" in torrc_of() and "\nExitRelay 0\n" in torrc_of(exit_policy="reject-all")
    listening = torrc_of(public_ipv4="192.0.2.5", public_ipv6="2001:db8::5", or_ipv6=True)
    assert "Address 192.0.2.5\nORPort 9001 IPv4Only\nAddress 2001:db8::5\nORPort [2001:db8::5]:9001\n" in listening
    assert "2001:db8::5]:9001" not in torrc_of(public_ipv4="192.0.2.5", public_ipv6="2001:db8::5", or_ipv6=False)
    assert "DisableNetwork 1" in torrc_of(test_network_off=True) and "DisableNetwork" not in torrc_of()


def test_each_instance_declares_every_other_member_in_inventory_order():
    own = tor.instances(settings(tor_instances=2))
    prints = {("relay-3", "/var/lib/tor"): "C" * 40, ("relay-1", "/var/lib/tor"): "A" * 40,
              ("relay-1", "/var/lib/tor-instances/i2"): "B" * 40}
    families = tor.families("relay-1", own, prints, ["relay-1", "relay-3"], "id")
    assert families["default"] == tor.Family(("B" * 40, "C" * 40), "id")
    assert families["i2"] == tor.Family(("A" * 40, "C" * 40), "id")


def test_relay_state_is_read_from_its_lines():
    state = tor.parse_tor_state([
        "/var/lib/tor/fingerprint: exit1 " + "A" * 40,
        "/var/lib/tor-instances/i2/fingerprint: exit12 " + "B" * 40,
        "/run/exitkit/tor@default.applied: " + "f" * 40,
        "tor@default: masked",
    ])
    assert state.fingerprints == {"/var/lib/tor": "A" * 40, "/var/lib/tor-instances/i2": "B" * 40}
    assert state.applied == {"default": "f" * 40}
    assert state.default_unit == UnitState.MASKED
    assert tor.parse_tor_state(["tor@default: not-found"]).default_unit == UnitState.ABSENT
    assert tor.parse_tor_state(["tor@default: loaded"]).default_unit == UnitState.PRESENT


def test_family_key_is_tor_s_format_and_made_once(tmp_path):
    key, family_id = control.family_key(bytes(32))
    assert key.startswith(control.FAMILY_KEY_HEADER) and len(key) == len(control.FAMILY_KEY_HEADER) + 64
    assert len(base64.b64decode(family_id + "=")) == 32
    path, made = control.ensure_family_key(tmp_path / "fam", "fleet")
    assert path.stat().st_mode & 0o777 == 0o600 and (tmp_path / "fam").stat().st_mode & 0o777 == 0o700
    first = path.read_bytes()
    assert control.ensure_family_key(tmp_path / "fam", "fleet") == (path, made)
    assert path.read_bytes() == first  # never made again, never overwritten


def test_fingerprints_are_remembered_per_relay_and_read_back_for_current_instances(tmp_path):
    assert control.known_fingerprints(tmp_path) == {} and control.known_family_id(tmp_path, "fleet") == ""
    control.remember_fingerprints(tmp_path, {("r1", "/var/lib/tor"): "A" * 40,
                                             ("r1", "/var/lib/tor-instances/i2"): "B" * 40})
    control.remember_fingerprints(tmp_path, {("r2", "/var/lib/tor"): "C" * 40})  # adds, forgets nothing
    assert control.known_fingerprints(tmp_path) == {
        "r1": {"/var/lib/tor": "A" * 40, "/var/lib/tor-instances/i2": "B" * 40},
        "r2": {"/var/lib/tor": "C" * 40},
    }
    assert control.remembered(tmp_path, "r1", settings()) == {("r1", "/var/lib/tor"): "A" * 40}
    assert len(control.remembered(tmp_path, "r1", settings(tor_instances=2))) == 2
    assert control.remembered(tmp_path, "r9", settings()) == {}


def test_the_family_id_is_read_without_making_a_key(tmp_path):
    assert control.known_family_id(tmp_path, "fleet") == ""
    assert not (tmp_path / control.FAMILY_KEYS).exists()
    _, made = control.ensure_family_key(tmp_path / control.FAMILY_KEYS, "fleet")
    assert control.known_family_id(tmp_path, "fleet") == made and control.known_family_id(tmp_path, "") == ""


# ------------------------------------------------------------------ the Tor Project's repository
def torproject_source(release=None, **kw) -> str:
    from exitkit.plan import exit_policy_of

    s = settings(tor_package_source="torproject", **kw)
    extra = {} if release is None else {"release": release}
    files = {f.path: f for f in tor.tor_files(s, exit_policy_of(s), **extra)}
    return str(files[tor.TORPROJECT_SOURCES].content)


def test_the_tor_project_source_names_the_relays_own_release():
    from exitkit.releases import DEBIAN_12, DEBIAN_13

    keyring = "[signed-by=/usr/share/keyrings/deb.torproject.org-keyring.gpg]"
    assert torproject_source(DEBIAN_13) == f"deb {keyring} https://deb.torproject.org/torproject.org trixie main\n"
    assert torproject_source(DEBIAN_12) == f"deb {keyring} https://deb.torproject.org/torproject.org bookworm main\n"


def test_without_a_host_the_tor_project_source_is_the_default_releases():
    assert " trixie main" in torproject_source()


def test_the_tor_project_repository_is_a_setting():
    line = torproject_source(torproject_repository="http://10.0.2.2:8080/torproject/")
    assert line.split()[2:] == ["http://10.0.2.2:8080/torproject", "trixie", "main"]
    assert tor.torproject_repository(settings(torproject_repository="https://x.example/tor/")) == \
        "https://x.example/tor"


def test_relays_from_debian_get_no_tor_project_source():
    from exitkit.plan import exit_policy_of

    s = settings()
    assert tor.TORPROJECT_SOURCES not in {f.path for f in tor.tor_files(s, exit_policy_of(s))}


KEY = b"family key bytes"
DIGEST = hashlib.sha256(KEY).hexdigest()
KEY_FILE = "secrets/tor-family/fleet.secret_family_key"


def carried(*digests: str) -> dict[str, str]:
    return {f"/var/lib/tor-instances/i{n}/keys/fleet.secret_family_key": d for n, d in enumerate(digests, 2)}


def test_a_family_key_is_made_only_where_no_relay_carries_one():
    assert tor.family_key_problem("fleet", "r1", None, {"r1": {}, "r2": {}}, KEY_FILE) == ""
    problem = tor.family_key_problem("fleet", "r1", None, {"r1": {}, "r2": carried("ab" * 32)}, KEY_FILE)
    assert "r2 carries the key of tor family 'fleet'" in problem and KEY_FILE in problem
    assert "tor_family_rotate: true" in problem


def test_a_relay_carrying_another_key_is_refused_and_the_others_are_not():
    members = {"r1": carried(DIGEST), "r2": carried("cd" * 32), "r3": {}}
    assert tor.family_key_problem("fleet", "r1", KEY, members, KEY_FILE) == ""
    assert tor.family_key_problem("fleet", "r3", KEY, members, KEY_FILE) == ""
    assert "r2 carries another key of tor family 'fleet'" in tor.family_key_problem("fleet", "r2", KEY, members,
                                                                                      KEY_FILE)
    # a key of another family is none of this family's business
    other = {"r1": {"/var/lib/tor/keys/other.secret_family_key": "ef" * 32}}
    assert tor.family_key_problem("fleet", "r1", KEY, other, KEY_FILE) == ""


def test_the_state_reads_family_key_digests_and_nothing_else_of_them():
    state = tor.parse_tor_state([f"/var/lib/tor/keys/fleet.secret_family_key: {DIGEST}",
                                 "/var/lib/tor/keys/broken.secret_family_key: not a digest"])
    assert state.family_keys == {"/var/lib/tor/keys/fleet.secret_family_key": DIGEST}
