"""One fleet of three container relays for the whole session, removed at the end, pass or fail.

Mixed releases: relay-3, a tor exit, runs Debian 12, the others Debian 13, so
tor is checked on both. At the end, before the relays go, every tor journal must
show that no tor bootstrapped or met a relay (the fence is the second line:
test_network_off must hold even where nothing could be reached).
"""

from __future__ import annotations

import copy
import os

import pytest

from exitkit import tor
from exitkit.lab.containers import LocalFleet
from tests.fleet.harness import lab_fleet

# Three relays with different networks, languages, jurisdictions and Debian releases.
RELEASES = {"relay-3": "bookworm"}  # the others run the lab's default, trixie
GROUPS = {
    "tor_exits": {
        "relay-1": {"nickname": "exitkittest1", "public_ipv4": "192.0.2.21", "language": "en",
                    "jurisdictions": ["us", "eu"], "tor_instances": 2, "metrics_port": 9035},
        "relay-3": {"nickname": "exitkittest3", "public_ipv4": "192.0.2.23", "language": "ja",
                    "jurisdictions": ["jp"]},
    },
    "nym_gateways": {
        "relay-2": {"nickname": "exitkittest2", "public_ipv4": "192.0.2.22"},
    },
}
GROUP_DATA = {
    "all": {
        "operator_name": "Test Exit Collective",
        "abuse_email": "abuse@example.net",
        "domain": "example.net",
        "timezone": "Europe/Berlin",
        "log_lifetime_hours": 12,
        "test_network_off": True,
    },
    "tor_exits": {"network": "tor", "exit_policy": "tor-reduced"},
    "nym_gateways": {"network": "nym", "language": "de", "jurisdictions": ["de", "eu"],
                     "exit_policy_rules": [{"rule": "reject 198.51.100.7:443", "note": "ticket 4711"}]},
}


@pytest.fixture(scope="session")
def fleet(tmp_path_factory):
    name = os.environ.get("EXITKIT_TEST_FLEET", "test")  # another name: a second checkout's tests beside these
    with lab_fleet(LocalFleet(name, 3, releases=RELEASES), tmp_path_factory.mktemp("fleet"),
                   GROUPS, GROUP_DATA) as under_test:
        yield under_test


@pytest.fixture(scope="session")
def first_run(fleet):
    """The first converge of the fresh fleet (with pyinfra's --debug log: which files it uploaded)."""
    run = fleet.deploy("--debug")
    assert run.returncode == 0, run.stderr[-4000:]
    fleet.first_tor_times = tor_started_and_written(fleet)
    fleet.first_pages = served_pages(fleet)
    return run


def served_pages(fleet) -> dict[tuple[str, str], str]:
    """(relay, path) -> each page and fact sheet a tor relay served right after the first converge (later tests
    converge again, so only then does this show what the first converge wrote)."""
    from exitkit.notice import available_languages

    paths = ("/", *(f"/{kind}.{lang}.html" for lang in available_languages() for kind in ("index", "facts")))
    return {(relay.name, path): fleet.http(relay.name, path).text for relay in fleet.described().relays
            if relay.settings.network == "tor" for path in paths}


def tor_started_and_written(fleet) -> dict[tuple[str, str], tuple[float, float]]:
    """(relay, service) -> when its tor started and when its torrc was written, read right after the first
    converge: later tests restart tor, so only then does this say how the first converge started it."""
    times = {}
    for relay in fleet.described().relays:
        if relay.settings.network != "tor":
            continue
        for instance in tor.instances(relay.settings):
            started, written = fleet.exec(relay.name, "sh", "-c", (
                f"date -d \"$(systemctl show -p ExecMainStartTimestamp --value --timestamp=us+utc "
                f"{instance.service})\" +%s.%N; date -r {instance.torrc} +%s.%N")).stdout.split()
            times[(relay.name, instance.service)] = (float(started), float(written))
    return times


@pytest.fixture
def settings_restored(fleet):
    """Lets a test change the fleet's settings; restores them and re-converges after."""
    groups, group_data = copy.deepcopy(fleet.groups), copy.deepcopy(fleet.group_data)
    yield fleet
    fleet.groups, fleet.group_data = groups, group_data
    run = fleet.deploy()
    assert run.returncode == 0, run.stderr[-4000:]
