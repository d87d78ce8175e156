"""tor from the Tor Project's repository, proven offline: a signed apt repository on the control machine.

Two relays of their own (relay-1 Debian 13, relay-2 Debian 12) and one HTTP server
on their network's gateway serving three repositories built by the test
(tests/fleet/aptrepo.py): ``good`` (signed by key A, A's key served under A's
fingerprint), ``other-signer`` (A's key served, Release signed by key B) and
``other-key`` (B's key served under A's fingerprint). Key A is pinned throughout.
The relays' apt goes DIRECT to the gateway's server, past the lab's apt proxy,
whose ForceManaged keeps it to Debian's archives.
"""

from __future__ import annotations

import pytest

from exitkit.lab.containers import LocalFleet
from exitkit.tor import TORPROJECT_KEYRING, TORPROJECT_SOURCES
from tests.fleet import aptrepo
from tests.fleet.harness import TestFleet, lab_fleet

CODENAMES = {"relay-1": "trixie", "relay-2": "bookworm"}
DIRECT = "/etc/apt/apt.conf.d/02exitkit-test-repository"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Two fresh relays, Debian 13 and 12; the fleet under test gets its settings once the repositories exist."""
    with lab_fleet(LocalFleet("torrepo", 2, releases={"relay-2": "bookworm"}),
                   tmp_path_factory.mktemp("torrepo")) as fleet:
        yield fleet.lab


@pytest.fixture(scope="module")
def repositories(lab, tmp_path_factory):
    """The three repositories, served on the gateway; (server URL, pinned fingerprint, version per relay)."""
    work = tmp_path_factory.mktemp("aptrepo")
    debs, versions = {}, {}
    for relay in lab.relays:
        deb = aptrepo.fetch_deb(relay.container, "tor", work / "debian" / relay.release)
        debs[relay.release], versions[relay.name] = aptrepo.raise_version(deb, work / "raised")
    keys = aptrepo.Keys(work / "gnupg")
    key_a, key_b = keys.make("exitkit test archive A"), keys.make("exitkit test archive B")
    served = work / "served"
    aptrepo.publish(served / "good", debs, keys, signed_by=key_a, key_served=key_a, key_named=key_a)
    aptrepo.publish(served / "other-signer", debs, keys, signed_by=key_b, key_served=key_a, key_named=key_a)
    aptrepo.publish(served / "other-key", debs, keys, signed_by=key_a, key_served=key_b, key_named=key_a)
    server = aptrepo.Server(served, lab.gateway)
    for relay in lab.relays:
        # the lab's apt proxy fetches only from Debian's archives: apt asks the test's server itself
        direct = f'Acquire::http::Proxy::{lab.gateway} "DIRECT";\n'
        aptrepo.sh("podman", "exec", relay.container, "sh", "-c", f"printf '%s' '{direct}' > {DIRECT}")
    try:
        yield server.url, key_a, versions
    finally:
        server.stop()


@pytest.fixture(scope="module")
def fleet(lab, repositories, tmp_path_factory):
    url, fingerprint, _ = repositories
    under_test = TestFleet(lab, tmp_path_factory.mktemp("fleet"))  # lab_fleet (above) checks and removes it
    under_test.groups = {"tor_exits": {
        "relay-1": {"nickname": "exitkitrepo1", "public_ipv4": "192.0.2.41"},
        "relay-2": {"nickname": "exitkitrepo2", "public_ipv4": "192.0.2.42"},
    }}
    under_test.group_data = {
        "all": {"operator_name": "Test Exit Collective", "abuse_email": "abuse@example.net",
                "domain": "example.net", "test_network_off": True, "dns_forwarders": [lab.resolver]},
        "tor_exits": {"network": "tor", "tor_package_source": "torproject",
                      "torproject_key_fingerprint": fingerprint},
    }
    return under_test


def use(fleet, repositories, name):
    fleet.group_data["tor_exits"]["torproject_repository"] = f"{repositories[0]}/{name}"


def installed_tor(fleet, relay) -> str:
    """tor's installed version, '' when it is not installed."""
    out = fleet.exec(relay, "dpkg-query", "-W", "-f", "${db:Status-Abbrev}${Version}", "tor", check=False).stdout
    return out[3:] if out.startswith("ii ") else ""


def failed_step(run, relay) -> str:
    return "\n".join(run.summary_row(relay))


def test_a_key_that_is_not_the_pinned_one_is_refused(fleet, repositories):
    use(fleet, repositories, "other-key")
    run = fleet.deploy()
    assert run.returncode != 0
    for relay in CODENAMES:
        row = failed_step(run, relay)
        assert "Tor Project signing key: exitkit: signing key refused, not the pinned" in row, row
        assert installed_tor(fleet, relay) == ""
        assert fleet.exec(relay, "test", "-e", TORPROJECT_KEYRING, check=False).returncode == 1
        assert fleet.exec(relay, "test", "-e", TORPROJECT_SOURCES, check=False).returncode == 1
    assert f"not the pinned {repositories[1]}: {repositories[0]}/other-key/{repositories[1]}.asc serves" in run.stderr


def test_a_repository_signed_by_another_key_is_refused(fleet, repositories):
    use(fleet, repositories, "other-signer")
    run = fleet.deploy()
    assert run.returncode != 0
    for relay in CODENAMES:
        row = failed_step(run, relay)
        assert "apt reads the Tor Project's repository: exitkit: apt refused the repository, nothing" in row, row
        assert installed_tor(fleet, relay) == ""  # a fresh relay: no tor from anywhere
        policy = fleet.exec(relay, "apt-cache", "policy").stdout
        assert "other-signer" not in policy
    assert f"nothing is installed from it: E: The repository '{repositories[0]}/other-signer" in run.stderr


def test_tor_comes_from_the_repository_signed_by_the_pinned_key(fleet, repositories):
    use(fleet, repositories, "good")
    run = fleet.deploy()
    assert run.returncode == 0, run.stderr[-4000:]
    versions = repositories[2]
    for relay in CODENAMES:
        assert installed_tor(fleet, relay) == versions[relay]
        assert versions[relay].endswith(aptrepo.SUFFIX)
        policy = fleet.exec(relay, "apt-cache", "policy", "tor").stdout
        assert f"*** {versions[relay]} 500" in policy, policy
        assert f"{repositories[0]}/good {CODENAMES[relay]}/main amd64 Packages" in policy, policy
        # the kit's own torrc, accepted by the tor that came from the repository, and that tor running
        torrc = fleet.exec(relay, "cat", "/etc/tor/torrc").stdout
        assert "Nickname exitkitrepo" in torrc and "DisableNetwork 1" in torrc
        fleet.exec(relay, "tor", "--verify-config", "-f", "/etc/tor/torrc",
                   "--defaults-torrc", "/usr/share/tor/tor-service-defaults-torrc")
        assert fleet.exec(relay, "systemctl", "is-active", "tor@default").stdout.strip() == "active"


def test_the_source_names_the_relays_own_codename(fleet, repositories):
    for relay, codename in CODENAMES.items():
        line = fleet.exec(relay, "cat", TORPROJECT_SOURCES).stdout
        assert line == f"deb [signed-by={TORPROJECT_KEYRING}] {repositories[0]}/good {codename} main\n"


def test_a_second_run_changes_nothing(fleet):
    run = fleet.deploy()
    assert run.returncode == 0, run.stderr[-4000:]
    assert run.changed() == {}


def test_a_relay_keeps_its_tor_when_the_repository_turns_bad(fleet, repositories):
    """The source is switched to a repository not signed by the pinned key: refused, tor as it was and running."""
    use(fleet, repositories, "other-signer")
    run = fleet.deploy()
    assert run.returncode != 0
    for relay in CODENAMES:
        assert "apt refused the repository" in failed_step(run, relay)
        assert installed_tor(fleet, relay) == repositories[2][relay]
        assert fleet.exec(relay, "systemctl", "is-active", "tor@default").stdout.strip() == "active"
