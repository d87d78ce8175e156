"""Fleets of lab relays: where each relay is reached, and bringing a fleet up and down.

Each fleet has a slot that gives it its own internal network, addresses and
container names, so the demo, a test run, the benchmark and a rehearsal can run
side by side. The control machine reaches a relay at its address on that network
(ssh on 22, http on 80); nothing is published and the relay has no route out
(exitkit.lab.fence). Each relay runs a Debian release of its own (one image each).
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from exitkit.lab import LAB
from exitkit.lab.addresses import APT_PROXY_NAME, gateway, relay_address, slot_of, subnet
from exitkit.lab.fence import ensure_apt_proxy, fleet_resolver, start_fleet_resolver
from exitkit.lab.image import DEFAULT_RELEASE, ensure_image, prepare_host, ulimit_flags
from exitkit.lab.process import log, run


@dataclass(frozen=True)
class LabRelay:
    name: str          # inventory host name, also the container's hostname
    container: str
    address: str       # on the fleet's internal network: ssh on 22, http on 80
    release: str       # Debian codename of its image
    ssh_port: int = 22
    http_port: int = 80

    @property
    def notice_url(self) -> str:
        """Where the relay's notice page answers the control machine (the outside check's notice_url)."""
        return f"http://{self.address}/"


@dataclass(frozen=True)
class LocalFleet:
    """``size`` relays named relay-1..; each runs ``release`` unless ``releases`` names another for it."""

    name: str
    size: int
    release: str = DEFAULT_RELEASE
    releases: dict[str, str] = field(default_factory=dict)  # relay name -> Debian codename

    @property
    def slot(self) -> int:
        return slot_of(self.name)

    @property
    def dir(self) -> Path:
        return LAB / self.name

    @property
    def key(self) -> Path:
        """The fleet's throw-away SSH key; its public half is every relay's authorized_keys."""
        return self.dir / "id_ed25519"

    @property
    def network(self) -> str:
        return f"exitkit-{self.name}"

    @property
    def subnet(self) -> str:
        return subnet(self.slot)

    @property
    def gateway(self) -> str:
        """The control machine's side of the fleet's network: the relays' apt proxy and resolver."""
        return gateway(self.slot)

    @property
    def resolver(self) -> str:
        """The relays' resolver on the gateway (lab relays forward to it, never to the root); it forwards nothing."""
        return self.gateway

    @property
    def dns_port(self) -> int:
        """The port of the fleet's own DNS server for the reverse-DNS checks, on 127.0.0.1 (the demo runs one)."""
        return 5300 + self.slot

    @property
    def dns_check_resolver(self) -> str:
        """That DNS server as the dns_check_resolver setting takes it."""
        return f"127.0.0.1:{self.dns_port}"

    def relay(self, i: int) -> LabRelay:
        name = f"relay-{i}"
        return LabRelay(name, f"exitkit-{self.name}-{i}", relay_address(self.slot, i),
                        self.releases.get(name, self.release))

    @property
    def relays(self) -> list[LabRelay]:
        return [self.relay(i) for i in range(1, self.size + 1)]

    def connection(self, relay: LabRelay) -> dict[str, str | int]:
        """pyinfra SSH data for a relay (the lab's throw-away key; host keys are new each boot)."""
        return {
            "ssh_hostname": relay.address,
            "ssh_port": relay.ssh_port,
            "ssh_user": "root",
            "ssh_key": str(self.key),
            "ssh_known_hosts_file": "/dev/null",
            "ssh_strict_host_key_checking": "off",
        }

    def running(self) -> dict[str, str]:
        """Running containers of this fleet -> their image."""
        out = run(["podman", "ps", "--format", "{{.Names}} {{.Image}}", "--filter", f"name=^exitkit-{self.name}-"],
                  check=False)
        return dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)

    def network_fenced(self) -> bool:
        """Whether the fleet's network exists as the fence wants it: internal, no podman DNS, its subnet."""
        out = run(["podman", "network", "inspect", self.network], check=False)
        if out.returncode != 0:
            return False
        net = json.loads(out.stdout)[0]
        return (net.get("internal") is True and net.get("dns_enabled") is False
                and [s.get("subnet") for s in net.get("subnets", [])] == [self.subnet])

    def up(self) -> None:
        """Start missing relays; relays already running the wanted release's image are reused as they are.

        A fleet left on a network from before the fence is removed first.
        """
        prepare_host()
        ensure_apt_proxy()
        images = {release: ensure_image(release) for release in {relay.release for relay in self.relays}}
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self.key.exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key)])
        if not self.network_fenced():
            self.down()
            run(["podman", "network", "create", "--internal", "--disable-dns", "--subnet", self.subnet,
                 "--gateway", self.gateway, self.network])
        running = self.running()
        started = []
        for relay in self.relays:
            image = images[relay.release]
            if running.get(relay.container) == image:
                continue
            run(["podman", "rm", "-f", "-t", "0", relay.container], check=False)
            run(["podman", "run", "-d", "--name", relay.container, "--hostname", relay.name,
                 "--systemd=always", *ulimit_flags(),
                 # nftables inside the relay; a reboot inside the relay brings it back
                 "--cap-add", "NET_ADMIN", "--restart=always",
                 "--network", self.network, "--ip", relay.address,
                 # its resolver and apt proxy: the control machine's side of the fleet's network
                 "--dns", self.gateway, "--add-host", f"{APT_PROXY_NAME}:{self.gateway}",
                 "-v", f"{self.key}.pub:/root/.ssh/authorized_keys:ro",
                 "--label", f"exitkit.fleet={self.name}", image])
            started.append(relay)
        start_fleet_resolver(self.name, self.gateway)
        for relay in started:
            self.wait_ready(relay)
        if started:
            log(f"{self.name}: started {', '.join(f'{r.container} ({r.release})' for r in started)}")

    def wait_ready(self, relay: LabRelay, timeout: float = 120) -> None:
        """Until systemd has finished booting and sshd answers on the relay's address."""
        deadline = time.monotonic() + timeout
        run(["timeout", str(int(timeout)), "podman", "exec", relay.container,
             "systemctl", "is-system-running", "--wait"], check=False)
        while time.monotonic() < deadline:
            if ssh_banner(relay.address, relay.ssh_port):
                return
            time.sleep(0.5)
        raise RuntimeError(f"{relay.container}: sshd did not answer on {relay.address}:{relay.ssh_port}")

    def down(self) -> None:
        """Remove this fleet's containers, network and resolver; the images and the apt proxy stay for next time."""
        names = run(["podman", "ps", "-a", "--format", "{{.Names}}", "--filter", f"label=exitkit.fleet={self.name}"],
                    check=False).stdout.split()
        if names:
            run(["podman", "rm", "-f", "-t", "0", *names], check=False)
        run(["podman", "network", "rm", "-f", self.network], check=False)
        fleet_resolver(self.name, self.gateway).stop()


def ssh_banner(address: str, port: int) -> bool:
    """Whether sshd answers on address:port (its banner, not just an open port)."""
    try:
        with socket.create_connection((address, port), timeout=2) as sock:
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False
