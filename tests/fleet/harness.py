"""A fleet of local container relays that the tests deploy to with the real pyinfra CLI.

The fleet's settings are written as an operator would write them (a fleet
folder with inventory/ and group_data/), pyinfra runs from that folder, and
the relays are checked from outside: HTTP to ports published on 127.0.0.1,
testinfra over SSH, and ``podman exec``.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import requests
import testinfra
import yaml

from exitkit.localfleet import LabRelay, LocalFleet, pyinfra

LOADER_INVENTORY = "from exitkit.fleet import pyinfra_inventory; globals().update(pyinfra_inventory(__file__))  # noqa\n"
LOADER_GROUP = "from exitkit.fleet import group_settings; globals().update(group_settings(__file__))  # noqa\n"


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
        return {op["name"]: op["success"] for op in self.results["results"]["operations"] if op["success"]}

    @property
    def changes(self) -> int:
        return sum(len(hosts) for hosts in self.changed().values())

    @property
    def errors(self) -> int:
        return sum(len(op["error"]) for op in self.results["results"]["operations"])


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

    def write(self) -> None:
        (self.folder / "inventory").mkdir(parents=True, exist_ok=True)
        (self.folder / "group_data").mkdir(exist_ok=True)
        inventory = {}
        for group, hosts in self.groups.items():
            inventory[group] = {}
            for name, data in hosts.items():
                relay = self.relay(name)
                # the outside check reaches each relay's page through its port published on 127.0.0.1
                inventory[group][name] = {**self.lab.connection(relay),
                                          "notice_url": f"http://127.0.0.1:{relay.http_port}/", **(data or {})}
        (self.folder / "inventory" / f"{self.lab.name}.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))
        (self.folder / "inventory" / f"{self.lab.name}.py").write_text(LOADER_INVENTORY)
        for old in (self.folder / "group_data").glob("*"):
            old.unlink()
        for group, data in self.group_data.items():
            (self.folder / "group_data" / f"{group}.yml").write_text(yaml.safe_dump(data, sort_keys=False))
            (self.folder / "group_data" / f"{group}.py").write_text(LOADER_GROUP)

    def deploy(self, *args: str) -> Run:
        """Write the settings and converge the fleet with `pyinfra --json` from the fleet folder."""
        self.write()
        result = pyinfra(self.folder / "inventory" / f"{self.lab.name}.py", "--json", *args, cwd=self.folder)
        return Run(result.returncode, result.stdout, result.stderr)

    # --- looking at relays from outside
    def http(self, name: str, path: str = "/", method: str = "GET", **kw) -> requests.Response:
        return requests.request(method, f"http://127.0.0.1:{self.relay(name).http_port}{path}", timeout=10, **kw)

    def host(self, name: str):
        """testinfra over SSH, through the published port (the relays' host keys are new each boot)."""
        config = self.lab.dir / "ssh_config"
        if not config.exists():
            config.write_text("Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n")
        return testinfra.get_host(f"paramiko://root@127.0.0.1:{self.relay(name).ssh_port}",
                                  ssh_identity_file=str(self.lab.key), ssh_config=str(config))

    def exec(self, name: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["podman", "exec", self.relay(name).container, *cmd],
                              text=True, capture_output=True, check=check)
