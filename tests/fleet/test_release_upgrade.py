"""A Debian 12 tor exit moved to Debian 13 with deploys/upgrade.py: same keys, family, page and policy after,
and a relay that is not healthy, or whose mirror cannot be reached, is refused and left as it was.

Its own fleet of two tor exits in one family: relay-1 on Debian 12 (the one that moves), relay-2 already on
Debian 13 (skipped with a note). The cheap failures run first, on the relay still on Debian 12.
"""

from __future__ import annotations

import hashlib

import pytest

from exitkit import tor
from exitkit.lab import PROJECT
from exitkit.lab.containers import LocalFleet
from exitkit.lab.runs import pyinfra
from exitkit.loader import load_fleet
from tests.fleet.harness import Run, TestFleet, lab_fleet, pid1_started, restart_count

UPGRADE = PROJECT / "deploys" / "upgrade.py"
GROUPS = {"tor_exits": {"relay-1": {"nickname": "exitkitupgrade1", "public_ipv4": "192.0.2.41"},
                        "relay-2": {"nickname": "exitkitupgrade2", "public_ipv4": "192.0.2.42"}}}
GROUP_DATA = {
    "all": {"operator_name": "Test Exit Collective", "abuse_email": "abuse@example.net", "domain": "example.net",
            "test_network_off": True},
    "tor_exits": {"network": "tor", "exit_policy": "tor-reduced", "restart_batch_size": 1},
}
BROKEN_PROXY = "/etc/apt/apt.conf.d/99-test-unreachable-mirror"


def run_upgrade(fleet: TestFleet) -> Run:
    """`pyinfra -y inventory/upgrade.py deploys/upgrade.py --json`, as an operator types it, from the fleet folder."""
    fleet.write()
    result = pyinfra(fleet.folder / "inventory" / f"{fleet.lab.name}.py", "--json", cwd=fleet.folder, deploy=UPGRADE)
    return Run(result.returncode, result.stdout, result.stderr)


def sha(fleet: TestFleet, relay: str, path: str) -> str:
    return hashlib.sha256(fleet.host(relay).file(path).content).hexdigest()


def relay_state(fleet: TestFleet, relay: str) -> dict:
    """What must be the same after the move: identity keys, fingerprint, torrc, page, policy."""
    keys = fleet.exec(relay, "sh", "-c", "sha256sum /var/lib/tor/keys/secret_id_key "
                      "/var/lib/tor/keys/ed25519_master_id_secret_key").stdout  # digests only, never the keys
    return {"fingerprint": fleet.host(relay).file("/var/lib/tor/fingerprint").content_string.split()[1],
            "keys": keys, "torrc": sha(fleet, relay, "/etc/tor/torrc"),
            "page": fleet.http(relay, "/").text, "policy": fleet.http(relay, "/exit-policy.txt").text}


def os_version(fleet: TestFleet, relay: str) -> str:
    return fleet.exec(relay, "sh", "-c", ". /etc/os-release && echo $VERSION_ID").stdout.strip()


def sources(fleet: TestFleet, relay: str) -> str:
    return fleet.exec(relay, "sh", "-c", "cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null; true").stdout


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    with lab_fleet(LocalFleet("upgrade", 2, releases={"relay-1": "bookworm"}), tmp_path_factory.mktemp("upgrade"),
                   GROUPS, GROUP_DATA) as under_test:
        first = under_test.deploy()
        assert first.returncode == 0, first.stderr[-4000:]
        assert os_version(under_test, "relay-1") == "12" and os_version(under_test, "relay-2") == "13"
        yield under_test


@pytest.fixture(scope="module")
def before(fleet) -> dict:
    """Each relay's state once converged, and relay-1's apt sources, before any upgrade ran."""
    return {"relay-1": relay_state(fleet, "relay-1"), "relay-2": relay_state(fleet, "relay-2"),
            "sources": sources(fleet, "relay-1")}


def test_an_unhealthy_relay_is_refused_and_nothing_changes(fleet, before):
    fleet.exec("relay-1", "systemctl", "stop", "lighttpd.service")
    try:
        run = run_upgrade(fleet)
    finally:
        fleet.exec("relay-1", "systemctl", "start", "lighttpd.service")
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert "relay-1: health check failed: lighttpd.service is inactive" in out, out[-3000:]
    assert sources(fleet, "relay-1") == before["sources"] and "bookworm-security" in before["sources"]
    assert os_version(fleet, "relay-1") == "12"


def test_a_relay_another_run_holds_is_left_alone(fleet, before):
    """A lock naming a live connection (PID 1's, which never ends) stands for a run deploying relay-1 now."""
    pid1 = fleet.exec("relay-1", "sh", "-c", "sed 's/.*) //' /proc/1/stat | cut -d' ' -f20").stdout.strip()
    holder = (f"control=elsewhere\nuser=night-shift\nfleet=/srv/fleet\nstarted=2026-11-30T01:00:00Z\npid=4242\n"
              f"connection=1:{pid1}\n")
    fleet.exec("relay-1", "sh", "-c", f"mkdir -p /run/exitkit && printf '{holder}' > /run/exitkit/deploy.lock")
    try:
        run = run_upgrade(fleet)
    finally:
        fleet.exec("relay-1", "rm", "-f", "/run/exitkit/deploy.lock")
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert "held by night-shift@elsewhere (pid 4242)" in out, out[-3000:]
    assert sources(fleet, "relay-1") == before["sources"]
    assert os_version(fleet, "relay-1") == "12"


def test_an_unreachable_mirror_stops_at_the_sources_and_puts_them_back(fleet, before):
    fleet.exec("relay-1", "sh", "-c", f"echo 'Acquire::http::Proxy \"http://127.0.0.1:9/\";' > {BROKEN_PROXY}")
    try:
        run = run_upgrade(fleet)
    finally:
        fleet.exec("relay-1", "rm", "-f", BROKEN_PROXY)
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert "relay-1: sources failed: E: Failed to fetch http://" in out, out[-3000:]
    assert "127.0.0.1:9" in out and "sources are back on bookworm" in out
    assert sources(fleet, "relay-1") == before["sources"]
    assert os_version(fleet, "relay-1") == "12"


def test_the_relay_moves_to_debian_13_with_its_identity(fleet, before):
    container = fleet.relay("relay-1").container
    boot, restarts = pid1_started(container), restart_count(container)
    run = run_upgrade(fleet)
    assert run.returncode == 0, run.stderr[-4000:]
    assert os_version(fleet, "relay-1") == "13"
    assert pid1_started(container) != boot or restart_count(container) > restarts, "relay-1 was not rebooted"
    now = sources(fleet, "relay-1")
    assert "bookworm" not in now and "trixie-security" in now
    assert relay_state(fleet, "relay-1") == before["relay-1"]
    settings = load_fleet(fleet.folder / "inventory" / "upgrade.py", cwd=fleet.folder).relay("relay-1").settings
    for instance in tor.instances(settings):
        check = fleet.host("relay-1").run(instance.verify_command.format(path=instance.torrc))
        assert check.rc == 0, (instance.name, check.stdout, check.stderr)
    assert "already on Debian 13 trixie" in "\n".join(run.summary_row("relay-2")), run.summary


def test_the_normal_deploy_converges_it_and_a_second_run_changes_nothing(fleet, before):
    first = fleet.deploy()
    assert first.returncode == 0, first.stderr[-4000:]
    second = fleet.deploy()
    assert second.returncode == 0, second.stderr[-4000:]
    assert second.changed() == {}, second.changed()
    for name in ("relay-1", "relay-2"):
        assert relay_state(fleet, name) == before[name], name
