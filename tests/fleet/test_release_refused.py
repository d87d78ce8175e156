"""A relay of a release the kit does not support is named in the run and left as it was; the others converge.

A fleet of its own (so the shared test fleet's runs stay green): relay-1 a Debian 13
nym gateway, relay-2 a Debian 11 relay. Everything the kit would write is absent
from relay-2 afterwards, and the run says which release it found and which it supports.
"""

from __future__ import annotations

import pytest

from exitkit.lab.containers import LocalFleet
from tests.fleet.harness import lab_fleet

GROUPS = {"exits": {"relay-1": {"nickname": "refusedtest1", "public_ipv4": "192.0.2.61"},
                    "relay-2": {"nickname": "refusedtest2", "public_ipv4": "192.0.2.62"}}}
GROUP_DATA = {"all": {"operator_name": "Test Exit Collective", "abuse_email": "abuse@example.net",
                      "network": "nym", "domain": "example.net", "test_network_off": True}}
# what a converge leaves on a supported relay: none of it may appear on the refused one
KIT_TRACES = ("/etc/exitkit", "/var/www/exitkit", "/etc/unbound/unbound.conf.d/exitkit.conf",
              "/etc/systemd/system/exitkit-purge.timer", "/usr/local/sbin/exitkit-reboot")


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    with lab_fleet(LocalFleet("refused", 2, releases={"relay-2": "bullseye"}), tmp_path_factory.mktemp("refused"),
                   GROUPS, GROUP_DATA) as fleet:
        before = fleet.exec("relay-2", "sh", "-c", "dpkg-query -W -f '${Package}\\n' | sort").stdout
        yield fleet, before, fleet.deploy()


def test_the_unsupported_relay_is_named_with_its_release(refused):
    _, _, run = refused
    assert run.returncode != 0
    row = "\n".join(run.summary_row("relay-2"))
    assert "Debian 13 or 12 required" in row and "Debian GNU/Linux 11 (bullseye)" in row, row
    assert "NOT CONVERGED" in run.summary[-1]


def test_nothing_changed_on_the_unsupported_relay(refused):
    fleet, packages_before, _ = refused
    host = fleet.host("relay-2")
    for path in KIT_TRACES:
        assert not host.file(path).exists, path
    assert fleet.exec("relay-2", "sh", "-c", "dpkg-query -W -f '${Package}\\n' | sort").stdout == packages_before
    found = fleet.exec("relay-2", "sh", "-c", "find /etc /usr/local -name '*.exitkit-new'").stdout
    assert found == ""


def test_the_supported_relay_converges_beside_it(refused):
    fleet, _, run = refused
    assert any("relay-1" in hosts for hosts in run.changed().values()), run.changed()
    assert fleet.http("relay-1").status_code == 200
    assert all(fleet.host("relay-1").file(path).exists for path in KIT_TRACES[:2])
