"""Fleets of lab relays: where each relay is reached, and bringing a fleet up and down.

Each fleet has a slot that gives it its own ports, subnet and container names,
so the demo, a test run, the benchmark and a rehearsal can run side by side.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path

from exitkit.lab import LAB
from exitkit.lab.image import ensure_image, prepare_host, ulimit_flags
from exitkit.lab.process import log, run

FLEET_SLOTS = {"demo": 0, "test": 1, "bench": 2, "rehearse": 3}


@dataclass(frozen=True)
class LabRelay:
    name: str          # inventory host name, also the container's hostname
    container: str
    ssh_port: int      # published on 127.0.0.1
    http_port: int     # published on 127.0.0.1

    @property
    def notice_url(self) -> str:
        """Where the relay's notice page answers the control machine (the outside check's notice_url)."""
        return f"http://127.0.0.1:{self.http_port}/"


@dataclass(frozen=True)
class LocalFleet:
    name: str
    size: int

    @property
    def slot(self) -> int:
        return FLEET_SLOTS.get(self.name, 3)

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
        return f"10.89.{100 + self.slot}.0/24"

    @property
    def resolver(self) -> str:
        """podman's DNS server on the fleet's network: lab relays forward to it, never to the root."""
        return f"10.89.{100 + self.slot}.1"

    @property
    def dns_port(self) -> int:
        """The port of the fleet's own DNS server for the reverse-DNS checks, on 127.0.0.1 (the demo runs one)."""
        return 5300 + self.slot

    @property
    def dns_check_resolver(self) -> str:
        """That DNS server as the dns_check_resolver setting takes it."""
        return f"127.0.0.1:{self.dns_port}"

    def relay(self, i: int) -> LabRelay:
        return LabRelay(f"relay-{i}", f"exitkit-{self.name}-{i}",
                        2200 + 100 * self.slot + i, 8000 + 100 * self.slot + i)

    @property
    def relays(self) -> list[LabRelay]:
        return [self.relay(i) for i in range(1, self.size + 1)]

    def connection(self, relay: LabRelay) -> dict[str, str | int]:
        """pyinfra SSH data for a relay (the lab's throw-away key; host keys are new each boot)."""
        return {
            "ssh_hostname": "127.0.0.1",
            "ssh_port": relay.ssh_port,
            "ssh_user": "root",
            "ssh_key": str(self.key),
            "ssh_known_hosts_file": "/dev/null",
            "ssh_strict_host_key_checking": "off",
        }

    def running(self) -> list[str]:
        out = run(["podman", "ps", "--format", "{{.Names}}", "--filter", f"name=^exitkit-{self.name}-"], check=False)
        return sorted(out.stdout.split())

    def up(self) -> None:
        """Start missing relays; relays already running are reused as they are."""
        prepare_host()
        image = ensure_image()
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self.key.exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key)])
        if run(["podman", "network", "exists", self.network], check=False).returncode != 0:
            run(["podman", "network", "create", "--subnet", self.subnet, self.network])
        running = set(self.running())
        started = []
        for relay in self.relays:
            if relay.container in running:
                continue
            run(["podman", "rm", "-f", "-t", "0", relay.container], check=False)
            run(["podman", "run", "-d", "--name", relay.container, "--hostname", relay.name,
                 "--systemd=always", *ulimit_flags(),
                 # nftables inside the relay; a reboot inside the relay brings it back
                 "--cap-add", "NET_ADMIN", "--restart=always",
                 "--network", self.network,
                 "-p", f"127.0.0.1:{relay.ssh_port}:22", "-p", f"127.0.0.1:{relay.http_port}:80",
                 "-v", f"{self.key}.pub:/root/.ssh/authorized_keys:ro",
                 "--label", f"exitkit.fleet={self.name}", image])
            started.append(relay)
        for relay in started:
            self.wait_ready(relay)
        if started:
            log(f"{self.name}: started {', '.join(r.container for r in started)}")

    def wait_ready(self, relay: LabRelay, timeout: float = 120) -> None:
        """Until systemd has finished booting and sshd answers on the published port."""
        deadline = time.monotonic() + timeout
        run(["timeout", str(int(timeout)), "podman", "exec", relay.container,
             "systemctl", "is-system-running", "--wait"], check=False)
        while time.monotonic() < deadline:
            if ssh_banner(relay.ssh_port):
                return
            time.sleep(0.5)
        raise RuntimeError(f"{relay.container}: sshd did not answer on 127.0.0.1:{relay.ssh_port}")

    def down(self) -> None:
        """Remove this fleet's containers and network; the image stays for next time."""
        names = run(["podman", "ps", "-a", "--format", "{{.Names}}", "--filter", f"label=exitkit.fleet={self.name}"],
                    check=False).stdout.split()
        if names:
            run(["podman", "rm", "-f", "-t", "0", *names], check=False)
        run(["podman", "network", "rm", "-f", self.network], check=False)


def ssh_banner(port: int) -> bool:
    """Whether sshd answers on 127.0.0.1:port (its banner, not just an open port: podman accepts early)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False
