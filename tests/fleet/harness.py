"""A fleet of local container relays that the tests deploy to with the real pyinfra CLI.

The fleet's settings are written as an operator would write them (a fleet
folder with inventory/ and group_data/), pyinfra runs from that folder, and
the relays are checked from outside: HTTP and testinfra over SSH to their
addresses on the fleet's internal network, and ``podman exec``.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
import testinfra

from exitkit.lab.containers import LabRelay, LocalFleet
from exitkit.lab.runs import changed_operations, lab_inventory, pyinfra, write_fleet_folder
from exitkit.loader import load_fleet
from exitkit.model import Fleet
from exitkit.summary import CONTINUED as SUMMARY_CONTINUED
from exitkit.summary import HEADER as SUMMARY_HEADER
from exitkit.summary import INDENT as SUMMARY_INDENT


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def results(self) -> dict:
        """pyinfra's --json results (stdout)."""
        return json.loads(self.stdout)

    def changed(self) -> dict[str, list[str]]:
        """Operation name -> hosts it changed."""
        return changed_operations(self.stdout)

    @property
    def changes(self) -> int:
        return sum(len(hosts) for hosts in self.changed().values())

    @property
    def errors(self) -> int:
        return sum(len(op["error"]) for op in self.results["results"]["operations"])

    @property
    def summary(self) -> list[str]:
        """exitkit's fleet summary (stderr): its header line to its verdict line; [] if none was printed."""
        lines = self.stderr.splitlines()
        if SUMMARY_HEADER not in lines:
            return []
        start = len(lines) - 1 - lines[::-1].index(SUMMARY_HEADER)
        end = next((i for i in range(start, len(lines)) if re.match(r"\d+ relays?: ", lines[i])), len(lines) - 1)
        return lines[start:end + 1]

    def summary_row(self, relay: str) -> list[str]:
        """A relay's line in the summary and its attention items below it, each item's wrapped lines joined."""
        rows = self.summary[2:-1]
        at = next(i for i, line in enumerate(rows) if line[2:].split(" ")[0] == relay)
        end = next((i for i in range(at + 1, len(rows)) if not rows[i].startswith(SUMMARY_INDENT)), len(rows))
        items: list[str] = []
        for line in rows[at:end]:
            if line.startswith(SUMMARY_CONTINUED) and items:
                items[-1] += " " + line.strip()
            else:
                items.append(line)
        return items


class TestFleet:
    """Local relays plus the operator-style fleet folder that describes them."""

    __test__ = False

    def __init__(self, lab: LocalFleet, folder: Path):
        self.lab = lab
        self.folder = folder
        self.groups: dict[str, dict] = {}      # group -> host -> settings
        self.group_data: dict[str, dict] = {}  # group -> settings

    @property
    def relays(self) -> list[LabRelay]:
        return self.lab.relays

    def relay(self, name: str) -> LabRelay:
        return next(r for r in self.relays if r.name == name)

    @property
    def inventory(self) -> Path:
        """inventory/<fleet>.py in the fleet folder: what pyinfra and the exitkit command are given."""
        return self.folder / "inventory" / f"{self.lab.name}.py"

    def described(self) -> Fleet:
        """The fleet as its settings files, last written, describe it."""
        return load_fleet(self.inventory, cwd=self.folder)

    def write(self) -> None:
        write_fleet_folder(self.folder, self.lab.name, lab_inventory(self.lab, self.groups), self.group_data)

    def deploy(self, *args: str) -> Run:
        """Write the settings and converge the fleet with `pyinfra --json` from the fleet folder."""
        self.write()
        result = pyinfra(self.inventory, "--json", *args, cwd=self.folder)
        return Run(result.returncode, result.stdout, result.stderr)

    def preview(self, *args: str, json: bool = False) -> Run:
        """`pyinfra inventory/<fleet>.py deploys/exit.py --dry --diff` as an operator types it (no -y).

        Without -y pyinfra detects changes before it stops, and --diff shows them (on stderr).
        """
        self.write()
        result = pyinfra(self.inventory, "--dry", "--diff",
                         *(("--json",) if json else ()), *args, cwd=self.folder, yes=False)
        return Run(result.returncode, result.stdout, result.stderr)

    # --- looking at relays from outside
    def http(self, name: str, path: str = "/", method: str = "GET", **kw) -> requests.Response:
        relay = self.relay(name)
        return requests.request(method, f"http://{relay.address}:{relay.http_port}{path}", timeout=10, **kw)

    def host(self, name: str):
        """testinfra over SSH to the relay's address (the relays' host keys are new each boot)."""
        config = self.lab.dir / "ssh_config"
        if not config.exists():
            config.write_text("Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n")
        relay = self.relay(name)
        return testinfra.get_host(f"paramiko://root@{relay.address}:{relay.ssh_port}",
                                  ssh_identity_file=str(self.lab.key), ssh_config=str(config))

    def exec(self, name: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["podman", "exec", self.relay(name).container, *cmd],
                              text=True, capture_output=True, check=check)


# What a tor logs when it goes for the real network; test_network_off must keep every one out of the journal.
TOR_REACHING_OUT = re.compile(r"Bootstrapped [1-9]|Handshaking with a relay|Problem bootstrapping")


def tor_reached_out(container: str) -> list[str]:
    """The journal lines of every tor instance on a relay that show it bootstrapping or meeting a relay."""
    journal = subprocess.run(["podman", "exec", container, "journalctl", "--no-pager", "-o", "cat", "-u", "tor@*",
                              "-u", "tor.service"], text=True, capture_output=True, check=False).stdout
    return [line for line in journal.splitlines() if TOR_REACHING_OUT.search(line)]


def pid1_started(container: str) -> str:
    """When PID 1 of a relay started (its boot id is the host's, so this tells a reboot)."""
    return subprocess.run(["podman", "exec", container, "ps", "-o", "lstart=", "-p", "1"],
                          text=True, capture_output=True, check=True).stdout.strip()


def restart_count(container: str) -> int:
    """How often podman has restarted the relay (--restart=always brings a rebooted relay back)."""
    out = subprocess.run(["podman", "inspect", "--format", "{{.RestartCount}}", container],
                         text=True, capture_output=True, check=True).stdout.strip()
    return int(out or 0)


@contextmanager
def lab_fleet(lab: LocalFleet, folder: Path, groups: dict | None = None,
              group_data: dict | None = None) -> Iterator[TestFleet]:
    """A lab fleet for one session or module: fresh relays (a leftover of an interrupted run is removed first),
    unbound forwarding to the lab's own resolver, no tor gone for the real network by the end, and the relays
    removed afterwards, pass or fail. EXITKIT_KEEP_FLEET=1 (developers) reuses the relays and leaves them up."""
    keep = os.environ.get("EXITKIT_KEEP_FLEET") == "1"
    if not keep:
        lab.down()
    lab.up()
    fleet = TestFleet(lab, folder)
    fleet.groups = copy.deepcopy(groups or {})
    fleet.group_data = copy.deepcopy(group_data or {"all": {}})
    fleet.group_data.setdefault("all", {})["dns_forwarders"] = [lab.resolver]
    try:
        yield fleet
        reached = {relay.name: tor_reached_out(relay.container) for relay in lab.relays}
        assert not any(reached.values()), f"a tor on a {lab.name} relay went for the real network: {reached}"
    finally:
        if not keep:
            lab.down()
