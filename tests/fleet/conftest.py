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

from exitkit.lab.containers import LocalFleet
from tests.fleet.harness import TestFleet, tor_reached_out

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
    lab = LocalFleet("test", 3, releases=RELEASES)
    keep = os.environ.get("EXITKIT_KEEP_FLEET") == "1"  # developers: reuse the relays, leave them up
    if not keep:
        lab.down()  # a fleet left over by an interrupted run
    lab.up()
    under_test = TestFleet(lab, tmp_path_factory.mktemp("fleet"))
    under_test.groups = copy.deepcopy(GROUPS)
    under_test.group_data = copy.deepcopy(GROUP_DATA)
    # unbound on test relays asks the lab's resolver on the test network (it forwards nothing), never the root
    under_test.group_data["all"]["dns_forwarders"] = [lab.resolver]
    try:
        yield under_test
        reached = {relay.name: tor_reached_out(relay.container) for relay in lab.relays}
        assert not any(reached.values()), f"a tor on a test relay went for the real network: {reached}"
    finally:
        if not keep:
            lab.down()


@pytest.fixture(scope="session")
def first_run(fleet):
    """The first converge of the fresh fleet (with pyinfra's --debug log: which files it uploaded)."""
    run = fleet.deploy("--debug")
    assert run.returncode == 0, run.stderr[-4000:]
    return run


@pytest.fixture
def settings_restored(fleet):
    """Lets a test change the fleet's settings; restores them and re-converges after."""
    groups, group_data = copy.deepcopy(fleet.groups), copy.deepcopy(fleet.group_data)
    yield fleet
    fleet.groups, fleet.group_data = groups, group_data
    run = fleet.deploy()
    assert run.returncode == 0, run.stderr[-4000:]
