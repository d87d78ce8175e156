"""Reload or restart: what a running tor needs for a new torrc, decided from the two torrcs alone."""

from __future__ import annotations

import subprocess

from hypothesis import given
from hypothesis import strategies as st

from exitkit import tor
from exitkit.plan import exit_policy_of
from exitkit.settings import RelaySettings
from exitkit.tor.reload import (
    NEED_RESTART,
    RunningTor,
    Step,
    TorrcChange,
    next_step,
    parse_running,
    planned_change,
    restart_options,
    running_command,
    torrc_change,
    torrc_digest,
    torrc_options,
)


def torrc(family: tor.Family | None = None, **kw) -> str:
    s = RelaySettings(**{"nickname": "exit1", "operator_name": "o", "abuse_email": "abuse@example.org", **kw})
    return tor.render_torrc_file(s, tor.instances(s)[0], exit_policy_of(s), family or tor.Family())


BASE = torrc(public_ipv4="192.0.2.5")


def test_the_same_torrc_needs_nothing():
    assert torrc_change(BASE, BASE) == TorrcChange.NOTHING


def test_what_tor_applies_on_reload_reloads():
    """Exit policy, families, contact, bandwidth, nickname: tor takes them on SIGHUP and keeps its process."""
    for changed in (torrc(public_ipv4="192.0.2.5", exit_policy_rules=[{"rule": "reject 203.0.113.7:443"}]),
                    torrc(public_ipv4="192.0.2.5", exit_policy="tor-default"),
                    torrc(tor.Family(("A" * 40, "B" * 40)), public_ipv4="192.0.2.5"),
                    torrc(public_ipv4="192.0.2.5", contact_info="someone else"),
                    torrc(public_ipv4="192.0.2.5", bandwidth_rate="10 MBytes"),
                    torrc(public_ipv4="192.0.2.5", nickname="other"),
                    torrc(public_ipv4="192.0.2.5", test_network_off=True)):
        assert changed != BASE
        assert torrc_change(BASE, changed) == TorrcChange.RELOAD, restart_options(BASE, changed)


def test_ports_addresses_and_keys_restart():
    for changed, option in ((torrc(public_ipv4="192.0.2.5", or_port=9100), "orport"),
                            (torrc(public_ipv4="192.0.2.6"), "address"),
                            (torrc(public_ipv4="192.0.2.5", metrics_port=9035), "metricsport"),
                            (torrc(public_ipv4="192.0.2.5", outbound_bind_address_exit="192.0.2.9"),
                             "outboundbindaddressexit"),
                            (torrc(tor.Family((), "newid"), public_ipv4="192.0.2.5"), "familyid")):
        assert torrc_change(BASE, changed) == TorrcChange.RESTART
        assert restart_options(BASE, changed) == [option]


def test_an_unknown_running_torrc_restarts():
    assert torrc_change(None, BASE) == TorrcChange.RESTART


def test_a_comment_alone_reloads_so_the_marker_follows_the_file():
    assert torrc_change(BASE, BASE + "# a note\n") == TorrcChange.RELOAD


def test_option_names_ignore_case_and_blank_lines_and_comments():
    assert torrc_options("# c\n\nORPort 1\norport 2\n  SocksPort\t0\nSandbox\n") == {
        "orport": ["1", "2"], "socksport": ["0"], "sandbox": [""]}
    assert torrc_change("ORPort 1\n", "orport 1\n") == TorrcChange.RELOAD  # the text differs, the value not


def test_every_option_in_the_restart_list_is_one_tor_knows():
    """A misspelt name would never match: each must be an option of the tor the relays run, if one is here."""
    try:
        known = subprocess.run(["tor", "--list-torrc-options"], capture_output=True, text=True, check=True).stdout
    except (FileNotFoundError, subprocess.CalledProcessError):
        known = ""
    names = {line.split()[0].lower() for line in known.splitlines() if line.strip()}
    if names:
        assert NEED_RESTART - names <= {"familyid", "familykeydirectory"}, NEED_RESTART - names
    assert all(name == name.lower() and " " not in name for name in NEED_RESTART)


@given(st.lists(st.sampled_from(sorted(NEED_RESTART | {"contactinfo", "exitpolicy", "myfamily", "nickname"})),
                min_size=1, unique=True), st.integers(1, 65535))
def test_a_change_is_a_restart_exactly_when_a_listed_option_changed(options, value):
    old = "".join(f"{o} {value}\n" for o in options)
    new = "".join(f"{o} {value + 1}\n" for o in options)
    expected = TorrcChange.RESTART if set(options) & NEED_RESTART else TorrcChange.RELOAD
    assert torrc_change(old, new) == expected


def test_the_plan_compares_with_the_torrc_tor_runs():
    old, new = "ORPort 9001\nExitPolicy reject *:*\n", "ORPort 9001\nExitPolicy accept *:80\n"
    read = []

    def on_disk(text):
        return lambda: read.append(text) or text

    assert planned_change(torrc_digest(new), new, on_disk(new), tor_installed=True) == TorrcChange.NOTHING
    assert read == []  # the file is read only when the marker does not match already
    assert planned_change(torrc_digest(old), new, on_disk(old), tor_installed=True) == TorrcChange.RELOAD
    # the file on disk is not the one tor noted (a run that stopped half-way): what tor runs is not known
    assert planned_change(torrc_digest(old), new, on_disk(new), tor_installed=True) == TorrcChange.RESTART
    assert planned_change(torrc_digest(old), new, on_disk(None), tor_installed=True) == TorrcChange.RESTART


def test_a_tor_without_a_marker_is_looked_at_unless_it_cannot_run():
    """No marker: either tor never ran (fresh, masked: it starts with the new torrc) or it may be starting
    right now with the old torrc (a relay just booted), which only the run-time step can tell."""
    new = "ORPort 9001\n"
    assert planned_change(None, new, lambda: None, tor_installed=False) == TorrcChange.NOTHING
    assert planned_change(None, new, lambda: None, tor_installed=True) == TorrcChange.RESTART
    assert next_step(TorrcChange.RESTART, running(applied="", active=False), was_serving=False) == Step.START_NOW
    assert next_step(TorrcChange.RESTART, running(applied="b"), was_serving=False) == Step.NONE


# ------------------------------------------------------------------ at run time
def running(applied="a", on_disk="b", active=True) -> RunningTor:
    return RunningTor("default", applied, on_disk, active)


def test_a_tor_that_runs_the_torrc_on_disk_needs_nothing():
    for planned in TorrcChange:
        assert next_step(planned, running(applied="b"), was_serving=True) == Step.NONE


def test_only_a_serving_tor_that_needs_a_restart_waits_for_the_roll():
    assert next_step(TorrcChange.RESTART, running(), was_serving=True) == Step.ROLL
    assert next_step(TorrcChange.RELOAD, running(), was_serving=True) == Step.RELOAD


def test_a_tor_that_served_nobody_before_the_run_starts_at_once():
    assert next_step(TorrcChange.RESTART, running(), was_serving=False) == Step.START_NOW
    assert next_step(TorrcChange.RELOAD, running(), was_serving=False) == Step.RELOAD  # started in this run
    assert next_step(TorrcChange.RELOAD, running(active=False), was_serving=True) == Step.START_NOW
    assert next_step(TorrcChange.NOTHING, running(applied="", active=False), was_serving=False) == Step.START_NOW


def test_the_running_state_is_one_command_and_its_lines():
    command = running_command([("default", "/etc/tor/torrc", "tor@default.service"),
                               ("i2", "/etc/tor/instances/i2/torrc", "tor@i2.service")])
    assert subprocess.run(["bash", "-n", "-c", command], check=False).returncode == 0
    assert "/run/exitkit/tor@i2.applied" in command and "systemctl is-active tor@i2.service" in command
    parsed = parse_running(["default - " + "b" * 40 + " inactive", "i2 " + "a" * 40 + " " + "a" * 40 + " active"])
    assert parsed["default"] == RunningTor("default", "", "b" * 40, False)
    assert parsed["i2"] == RunningTor("i2", "a" * 40, "a" * 40, True)


def test_the_relay_state_says_which_instances_were_active():
    state = tor.parse_tor_state(["active: tor@default.service tor@i2.service "])
    assert state.active == frozenset({"default", "i2"})
    assert tor.parse_tor_state(["active: "]).active == frozenset()
