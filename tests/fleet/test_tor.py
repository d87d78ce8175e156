"""The Tor exits of the test fleet: tor and unbound run, every torrc is tor's own idea of valid, the policy
in it means what the settings say, families are complete, and a bad value never reaches a running relay."""

from __future__ import annotations

import dataclasses
import ipaddress
import random
import re
import shutil
import subprocess
import time
from itertools import pairwise

from exitkit import tor
from exitkit.plan import exit_policy_of
from exitkit.policy import parse_rule

TOR_RELAYS = ("relay-1", "relay-3")


def settings_of(fleet, name):
    return fleet.described().relay(name).settings


def tor_instances(fleet, name):
    return tor.instances(settings_of(fleet, name))


def fingerprints(fleet) -> dict[tuple[str, str], str]:
    """(relay, instance) -> the fingerprint tor wrote on the relay."""
    out = {}
    for name in fleet.groups["tor_exits"]:
        for instance in tor_instances(fleet, name):
            text = fleet.host(name).file(f"{instance.data_dir}/fingerprint").content_string
            out[(name, instance.name)] = text.split()[1]
    return out


def declared_family(fleet, name, instance) -> set[str]:
    torrc = fleet.host(name).file(instance.torrc).content_string
    return {m.group(1) for m in re.finditer(r"^MyFamily \$([0-9A-F]{40})$", torrc, re.M)}


def assert_families_complete(fleet):
    prints = fingerprints(fleet)
    for name, instance_name in prints:
        instance = next(i for i in tor_instances(fleet, name) if i.name == instance_name)
        others = {fp for key, fp in prints.items() if key != (name, instance_name)}
        assert declared_family(fleet, name, instance) == others, (name, instance_name)


def test_tor_and_unbound_run(fleet, first_run):
    for name in TOR_RELAYS:
        host = fleet.host(name)
        for instance in tor_instances(fleet, name):
            assert host.service(instance.service).is_running, (name, instance.service)
            assert host.service(instance.service).is_enabled, (name, instance.service)
        assert host.service("unbound.service").is_running
    assert len(tor_instances(fleet, "relay-1")) == 2
    assert not fleet.host("relay-2").package("tor").is_installed  # a Nym gateway runs no tor


def test_every_torrc_passes_tor_verify_config(fleet, first_run):
    for name in TOR_RELAYS:
        host = fleet.host(name)
        for instance in tor_instances(fleet, name):
            check = host.run(instance.verify_command.format(path=instance.torrc))
            assert check.rc == 0, (name, instance.name, check.stdout, check.stderr)


def test_torrc_carries_the_settings_and_stays_off_the_network(fleet, first_run):
    for name in TOR_RELAYS:
        s = settings_of(fleet, name)
        for instance in tor_instances(fleet, name):
            torrc = fleet.host(name).file(instance.torrc).content_string
            for line in (f"Nickname {instance.nickname}", f"ORPort {instance.or_port} IPv4Only", "ExitRelay 1",
                         "SafeLogging 1", "Sandbox 1", "NoExec 1", "Log notice syslog", "SocksPort 0",
                         f"ContactInfo {tor.contact_info(s)}", "DisableNetwork 1", "PublishServerDescriptor 0"):
                assert line in torrc.splitlines(), (name, instance.name, line)
            assert not re.search(r"^DirPort", torrc, re.M)
            assert not re.search(r"^Log .*file", torrc, re.M)
    torrc_i2 = fleet.host("relay-1").file("/etc/tor/instances/i2/torrc").content_string
    assert "MetricsPort 127.0.0.1:9036" in torrc_i2 and "ORPort 9002 IPv4Only" in torrc_i2
    # (DisableNetwork keeps every listener but the control port closed, so the MetricsPort is not probed here)


def test_policy_in_torrc_means_what_the_settings_say(fleet, first_run):
    rng = random.Random(7)
    samples = [(f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                rng.randrange(1, 65536)) for _ in range(300)]
    samples += [("198.51.100.7", 443), ("192.0.2.21", 443), ("10.1.2.3", 80), ("8.8.8.8", 25), ("8.8.8.8", 443)]
    for name in TOR_RELAYS:
        policy = exit_policy_of(settings_of(fleet, name))
        torrc = fleet.host(name).file("/etc/tor/torrc").content_string
        rules = [parse_rule(line.split(" ", 1)[1]) for line in torrc.splitlines() if line.startswith("ExitPolicy ")]
        for address, port in samples:
            first = next((r for r in rules if r.matches(ipaddress.ip_address(address), port)), None)
            allowed = first is not None and first.action == "accept"
            assert allowed == policy.allows(address, port), (name, address, port)


def test_families_list_exactly_the_other_relays(fleet, first_run):
    assert_families_complete(fleet)
    family_ids = {fleet.host(n).run("grep ^FamilyId /etc/tor/torrc").stdout for n in TOR_RELAYS}
    assert len(family_ids) == 1 and family_ids.pop().startswith("FamilyId ")
    key = fleet.folder / "secrets" / "tor-family" / "fleet.secret_family_key"
    assert key.stat().st_mode & 0o777 == 0o600
    remote = fleet.host("relay-3").file("/var/lib/tor/keys/fleet.secret_family_key")
    assert remote.user == "debian-tor" and remote.mode == 0o600
    # tor itself accepted the key for the FamilyId it was given (it exits when they do not match)
    journal = fleet.host("relay-3").run("journalctl -u tor@default --no-pager").stdout
    assert "unexpected FamilyID" not in journal and "No key was found" not in journal


def test_new_relays_start_tor_at_once_and_take_their_family_on_reload(fleet, first_run):
    """On a first converge nothing serves yet: no relay waits for another (the rolling restart does nothing), and
    MyFamily, completed once every relay has made its keys, reaches each running tor by a reload: the tor process
    started before its torrc got the complete family, and runs that torrc."""
    changed = first_run.changed()
    assert not [op for op in changed if "Rolling restart" in op], changed
    assert any(op.endswith("start at once the tor of a relay that was not serving") for op in changed), changed
    first = fleet.first_tor_times  # read right after the first converge (conftest): later tests restart tor
    assert {relay for relay, _ in first} == set(TOR_RELAYS)
    for (name, service), (started, written) in first.items():
        assert started < written, (name, service, started, written)
    for name in TOR_RELAYS:
        for instance in tor_instances(fleet, name):
            assert applied_is_current(fleet.host(name), instance), (name, instance.service)
    assert_families_complete(fleet)


def test_resolver_validates_locally_and_resolv_conf_points_at_it(fleet, first_run):
    for relay in fleet.relays:
        host = fleet.host(relay.name)
        resolv = host.file("/etc/resolv.conf").content_string
        assert [line for line in resolv.splitlines() if line.startswith("nameserver")] == ["nameserver 127.0.0.1"]
        listening = host.socket("udp://127.0.0.1:53")
        assert listening.is_listening
        assert not host.socket("udp://0.0.0.0:53").is_listening
        conf = host.file("/etc/unbound/unbound.conf.d/exitkit.conf").content_string
        assert 'module-config: "validator iterator"' in conf and "log-queries: no" in conf
        assert host.run("unbound-checkconf").rc == 0
        anchor = host.run("unbound-control -c /etc/unbound/unbound.conf list_auth_zones; "
                          "unbound-control -c /etc/unbound/unbound.conf get_option auto-trust-anchor-file")
        assert "/var/lib/unbound/root.key" in anchor.stdout


def test_keys_backed_up_private_and_never_printed(settings_restored, first_run, tmp_path):
    fleet = settings_restored
    fleet.group_data["tor_exits"]["key_backup_dir"] = "key-backup"
    run = fleet.deploy()
    assert run.returncode == 0, run.stderr[-3000:]
    folder = fleet.folder / "key-backup" / "relay-3" / "default"
    remote = fleet.host("relay-3").file("/var/lib/tor/keys/secret_id_key")
    assert (folder / "secret_id_key").read_bytes() == remote.content
    for path in folder.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600
    assert folder.stat().st_mode & 0o777 == 0o700
    secret = (folder / "ed25519_master_id_secret_key").read_bytes()
    assert secret[-32:].hex() not in run.stdout + run.stderr
    again = fleet.deploy()
    assert again.returncode == 0 and again.changes == 0, again.changed()


def test_a_value_tor_refuses_fails_the_run_and_the_relay_keeps_running(fleet, first_run):
    host = fleet.host("relay-3")
    before = host.file("/etc/tor/torrc").content_string
    pid = host.run("systemctl show -p MainPID --value tor@default").stdout.strip()
    # --data bypasses the settings validation, so tor's own check is what stops it
    run = fleet.deploy("--limit", "relay-3", "--data", "bandwidth_rate=5 furlongs")
    assert run.returncode != 0
    assert "furlongs" in run.stdout + run.stderr
    assert host.file("/etc/tor/torrc").content_string == before
    assert not host.file("/etc/tor/torrc.exitkit-new").exists
    assert host.service("tor@default.service").is_running
    assert host.run("systemctl show -p MainPID --value tor@default").stdout.strip() == pid


def test_a_bad_setting_is_refused_before_any_host_is_contacted(settings_restored, first_run):
    fleet = settings_restored
    fleet.group_data["tor_exits"]["dns_forwarders"] = ["8.8.8.8"]
    run = fleet.deploy()
    assert run.returncode == 2
    assert "group_data/tor_exits.yml: group 'tor_exits', key 'dns_forwarders'" in run.stderr
    assert "Google" in run.stderr and "no host was contacted" in run.stderr
    assert fleet.host("relay-1").file("/etc/unbound/unbound.conf.d/exitkit.conf").content_string.count("8.8.8.8") == 0


def test_a_new_relay_joins_every_family_in_one_run(settings_restored, first_run):
    fleet = settings_restored
    lab = fleet.lab
    bigger = dataclasses.replace(lab, size=lab.size + 1)  # the same relays (and releases), one more
    bigger.up()
    fleet.lab = bigger
    try:
        fleet.groups["tor_exits"]["relay-4"] = {"nickname": "exitkittest4", "public_ipv4": "192.0.2.24"}
        serving = tor_processes(fleet)
        run = fleet.deploy()
        assert run.returncode == 0, run.stderr[-4000:]
        assert_families_complete(fleet)
        assert tor_processes(fleet) == serving  # the serving relays took the longer MyFamily on a reload
        assert len(fingerprints(fleet)) == 4
        again = fleet.deploy()
        assert again.returncode == 0 and again.changes == 0, again.changed()
        del fleet.groups["tor_exits"]["relay-4"]
        run = fleet.deploy()
        assert run.returncode == 0, run.stderr[-4000:]
        for instance in tor_instances(fleet, "relay-1"):
            assert len(declared_family(fleet, "relay-1", instance)) == 2
    finally:
        fleet.lab = lab
        subprocess.run(["podman", "rm", "-f", "-t", "0", "exitkit-test-4"], capture_output=True)


def restart_window(host, services) -> tuple[int, int]:
    """When a relay's tor instances went down and were up again (CLOCK_MONOTONIC: one kernel, comparable)."""
    starts, ends = [], []
    for service in services:
        values = dict(line.split("=", 1) for line in host.run(
            f"systemctl show -p InactiveExitTimestampMonotonic -p ActiveEnterTimestampMonotonic {service}"
        ).stdout.split())
        starts.append(int(values["InactiveExitTimestampMonotonic"]))
        ends.append(int(values["ActiveEnterTimestampMonotonic"]))
    return min(starts), max(ends)


def applied_is_current(host, instance) -> bool:
    """The running tor started with the torrc now on disk (the unit's start hook noted its sha1)."""
    marker = host.file(f"/run/exitkit/tor@{instance.name}.applied").content_string.strip()
    return marker == host.run(f"sha1sum < {instance.torrc}").stdout.split()[0]


def tor_processes(fleet) -> dict[tuple[str, str], str]:
    """(relay, service) -> its tor's main PID and start time: a reload keeps both, a restart changes them."""
    out = {}
    for name in TOR_RELAYS:
        for instance in tor_instances(fleet, name):
            out[(name, instance.service)] = fleet.host(name).run(
                f"systemctl show -p MainPID -p ExecMainStartTimestampMonotonic --value {instance.service}").stdout
    return out


def test_a_policy_change_reloads_tor_and_a_port_change_restarts_it_rolling(settings_restored, first_run):
    fleet = settings_restored
    fleet.group_data["all"]["restart_batch_size"] = 1
    fleet.group_data["tor_exits"]["exit_policy_rules"] = [{"rule": "reject 203.0.113.77:443", "note": "reload"}]
    before = tor_processes(fleet)
    run = fleet.deploy()
    assert run.returncode == 0, run.stderr[-3000:]
    assert tor_processes(fleet) == before  # same processes: reloaded, not restarted
    for name in TOR_RELAYS:  # tor reloaded under its Sandbox finds everything it re-reads (its GeoIP files too)
        journal = fleet.exec(name, "journalctl", "--no-pager", "-o", "cat", "-u", "tor@*").stdout
        assert "Reloading config" in journal and " Bug: " not in journal, journal[-3000:]
    for name in TOR_RELAYS:
        host = fleet.host(name)
        assert "reject 203.0.113.77:443" in host.file("/etc/tor/torrc").content_string
        assert all(applied_is_current(host, i) for i in tor_instances(fleet, name)), name

    fleet.group_data["tor_exits"]["or_port"] = 9011
    run = fleet.deploy()
    assert run.returncode == 0, run.stderr[-3000:]
    after = tor_processes(fleet)
    assert all(after[key] != before[key] for key in before), (before, after)
    windows = []
    for name in TOR_RELAYS:
        host = fleet.host(name)
        instances = tor_instances(fleet, name)
        assert all(applied_is_current(host, i) for i in instances), name
        assert "ORPort 9011 IPv4Only" in host.file("/etc/tor/torrc").content_string
        windows.append((*restart_window(host, [i.service for i in instances]), name))
    windows.sort()
    for (_, end, name), (next_start, _, next_name) in pairwise(windows):
        assert end < next_start, f"{name} and {next_name} restarted tor at the same time"


def test_a_tor_that_is_starting_when_the_run_begins_takes_the_new_torrc(settings_restored, first_run):
    """A relay just booted: its tor has read the old torrc but is not ready yet when the run reads the relay.
    The run must still bring it onto the new torrc, and the next run must have nothing left to do."""
    fleet = settings_restored
    slow = "/etc/systemd/system/tor@default.service.d/00-exitkit-test-slow-start.conf"

    def tor_now() -> tuple[str, str]:
        pid = fleet.exec("relay-3", "systemctl", "show", "-p", "MainPID", "--value", "tor@default").stdout.strip()
        return pid, fleet.exec("relay-3", "systemctl", "is-active", "tor@default", check=False).stdout.strip()

    before, _ = tor_now()
    # a restart that does not wait for tor's shutdown delay: its old process is killed on the way down
    fleet.exec("relay-3", "sh", "-c", f"mkdir -p {slow.rsplit('/', 1)[0]} && "
               f"printf '[Service]\\nExecStartPost=/bin/sleep 15\\n' > {slow} && systemctl daemon-reload && "
               "systemctl restart --no-block tor@default && sleep 0.5 && "
               "systemctl kill --kill-whom=main -s KILL tor@default")
    try:
        for _ in range(100):  # until the new tor runs (it read its torrc) while its unit is still starting
            pid, unit = tor_now()
            if pid not in ("", "0", before) and unit == "activating":
                break
            time.sleep(0.2)
        assert unit == "activating" and pid != before, (pid, unit)
        since = fleet.exec("relay-3", "date", "+@%s").stdout.strip()
        fleet.group_data["tor_exits"]["exit_policy_rules"] = [{"rule": "reject 203.0.113.78:443", "note": "booting"}]
        run = fleet.deploy()
        assert run.returncode == 0, run.stderr[-3000:]
    finally:
        fleet.exec("relay-3", "sh", "-c", f"rm -f {slow} && systemctl daemon-reload")
    host = fleet.host("relay-3")
    assert "reject 203.0.113.78:443" in host.file("/etc/tor/torrc").content_string
    journal = fleet.exec("relay-3", "journalctl", "--no-pager", "-o", "cat", "-u", "tor@default",
                         "--since", since).stdout
    now, _ = tor_now()
    assert now != pid or "Reloading config" in journal, journal[-3000:]  # restarted or re-read its torrc
    assert applied_is_current(host, tor_instances(fleet, "relay-3")[0])
    again = fleet.deploy()
    assert again.returncode == 0 and again.changes == 0, again.changed()


def test_a_relay_that_does_not_come_back_stops_the_rolling_restart(settings_restored, first_run):
    """pyinfra forms batches from a set of hosts, so which tor relay goes first is not fixed: both notice
    pages stop answering on the relays themselves, the first relay restarted never counts as back, and the
    other must then be left running its previous torrc."""
    fleet = settings_restored
    fleet.group_data["all"].update(restart_batch_size=1, restart_wait_seconds=5)
    fleet.group_data["tor_exits"]["or_port"] = 9021  # a port: tor must restart for it, a reload would not do
    pids = {name: fleet.host(name).run("systemctl show -p MainPID --value tor@default").stdout.strip()
            for name in TOR_RELAYS}
    block = "add table inet stuck; add chain inet stuck input { type filter hook input priority -10; }; " \
            "add rule inet stuck input tcp dport 80 drop"
    for name in TOR_RELAYS:
        assert fleet.host(name).run(f"nft '{block}'").rc == 0
    try:
        run = fleet.deploy()
        out = run.stdout + run.stderr
        assert run.returncode != 0
        stuck = [name for name in TOR_RELAYS if f"{name} did not come back" in out]
        assert len(stuck) == 1, out[-3000:]
        other = next(name for name in TOR_RELAYS if name != stuck[0])
        assert f"rolling restart stopped because {stuck[0]}" in out
        # the reason says what was wrong: tor came back, the page did not
        assert f"restarting {' '.join(i.service for i in tor.instances(settings_of(fleet, stuck[0])))}: " \
               "the notice page on 127.0.0.1:80 did not answer 200" in out, out[-3000:]
        # the other relay has the new torrc but still runs the previous one, untouched
        host = fleet.host(other)
        assert "ORPort 9021 IPv4Only" in host.file("/etc/tor/torrc").content_string
        assert not applied_is_current(host, tor.instances(settings_of(fleet, other))[0])
        assert host.run("systemctl show -p MainPID --value tor@default").stdout.strip() == pids[other]
    finally:
        for name in TOR_RELAYS:
            fleet.host(name).run("nft delete table inet stuck")
    run = fleet.deploy()
    assert run.returncode == 0, run.stderr[-3000:]
    for name in TOR_RELAYS:
        assert applied_is_current(fleet.host(name), tor.instances(settings_of(fleet, name))[0])


def family_key_digests(fleet) -> dict[str, str]:
    """relay -> what its family key files hold, by sha256 (the keys never leave the relays)."""
    return {name: fleet.exec(name, "sh", "-c", "sha256sum /var/lib/tor/keys/*.secret_family_key "
                             "/var/lib/tor-instances/*/keys/*.secret_family_key 2>/dev/null; true").stdout
            for name in TOR_RELAYS}


def test_a_checkout_without_the_family_key_replaces_no_key(settings_restored, first_run):
    """Issue 19: a second checkout without secrets/ must not make a new key and hand it to the relays."""
    fleet = settings_restored
    secrets, elsewhere = fleet.folder / "secrets", fleet.folder / "secrets.elsewhere"
    before = family_key_digests(fleet)
    secrets.rename(elsewhere)
    try:
        run = fleet.deploy()
        assert run.returncode != 0
        for name in TOR_RELAYS:
            row = "\n".join(run.summary_row(name))
            assert "Family key known to this control machine" in row, row
        assert "this control machine has none" in run.stderr and "set tor_family_rotate: true" in run.stderr
        assert not (secrets / "tor-family" / "fleet.secret_family_key").exists()
        assert family_key_digests(fleet) == before
    finally:
        if secrets.exists():
            shutil.rmtree(secrets)
        elsewhere.rename(secrets)


def test_the_family_key_is_rotated_only_when_asked(settings_restored, first_run):
    fleet = settings_restored
    secrets = fleet.folder / "secrets" / "tor-family"
    before = family_key_digests(fleet)
    old = {path.name: path.read_bytes() for path in secrets.iterdir()}
    for path in secrets.iterdir():
        path.unlink()  # as if the key were lost: rotation makes a new one and gives it to every member
    fleet.group_data["tor_exits"]["tor_family_rotate"] = True
    run = fleet.deploy()
    assert run.returncode == 0, run.stderr[-4000:]
    after = family_key_digests(fleet)
    assert all(after[name] != before[name] and after[name] for name in TOR_RELAYS)
    assert len({line.split()[0] for text in after.values() for line in text.splitlines()}) == 1
    again = fleet.deploy()
    assert again.returncode == 0 and again.changes == 0, again.changed()
    assert old.keys() == {path.name for path in secrets.iterdir()}
