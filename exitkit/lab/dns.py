"""DNS servers of the lab: dnsmasq, answering only its own records, never forwarding a question.

One on 127.0.0.1 answers the reverse-DNS checks of a lab fleet, so no check asks
real DNS about its made-up addresses: the tests run one per test
(``tests/dnsserver.py``), the demo keeps one beside its relays, on the fleet's
``dns_check_resolver``. Another, on a fleet network's gateway, is the relays'
own resolver (``exitkit.lab.fence``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from exitkit import rdns
from exitkit.fleet import Fleet
from exitkit.plan import RelayPlan

DNSMASQ = "/usr/sbin/dnsmasq"
REVERSE_ZONES = ("in-addr.arpa", "ip6.arpa")


def dnsmasq_command(port: int, records: list[str], zones: tuple[str, ...], listen: str = "127.0.0.1") -> list[str]:
    """dnsmasq in the foreground on listen:port, answering from ``records`` (its options) and nothing else.

    --bind-dynamic: it binds the address as soon as it exists (a fleet's bridge
    comes and goes with its containers) and never the machine's other addresses.
    """
    return [DNSMASQ, "--no-daemon", f"--port={port}", f"--listen-address={listen}", "--bind-dynamic",
            "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
            *[f"--local=/{zone}/" for zone in zones], *records]


def wait_until_answering(server: subprocess.Popen[str], address: str, ready_address: str,
                         timeout: float = 10) -> bool:
    """Whether the server came up: it answers the PTR of ``ready_address`` before it exits or time runs out."""
    resolver = rdns.make_resolver(address, timeout=0.5)
    deadline = time.monotonic() + timeout
    while rdns.ask_ptr(resolver, ready_address).outcome != rdns.ANSWER:
        if server.poll() is not None or time.monotonic() > deadline:
            return False
    return True


@dataclass(frozen=True)
class HostRecord:
    """A name whose PTRs and forward records agree (forward-confirmed reverse DNS)."""

    name: str
    addresses: tuple[str, ...]

    @property
    def option(self) -> str:
        return f"--host-record={self.name},{','.join(self.addresses)}"


def fleet_host_records(fleet: Fleet, plans: dict[str, RelayPlan]) -> list[HostRecord]:
    """Clean reverse DNS for every relay that has a planned name and a public address."""
    records = []
    for relay in fleet.relays:
        addresses = tuple(a for a in (relay.settings.public_ipv4, relay.settings.public_ipv6) if a)
        if plans[relay.name].hostname and addresses:
            records.append(HostRecord(plans[relay.name].hostname, addresses))
    return records


def fleet_zones(fleet: Fleet) -> tuple[str, ...]:
    """The zones the server answers for alone: the fleet's domains and the reverse zones."""
    domains = sorted({relay.settings.domain for relay in fleet.relays if relay.settings.domain})
    return (*domains, *REVERSE_ZONES)


@dataclass(frozen=True)
class BackgroundDnsServer:
    """A dnsmasq on listen:port that outlives the command that started it; its pid file is in ``folder``."""

    port: int
    folder: Path
    listen: str = "127.0.0.1"

    @property
    def address(self) -> str:
        """As dns_check_resolver takes it."""
        return f"{self.listen}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.folder / "dnsmasq.pid"

    @property
    def log_file(self) -> Path:
        return self.folder / "dnsmasq.log"

    def pid(self) -> int | None:
        """The pid of the server this folder started, if it still runs (a pid the system gave anew is not ours)."""
        try:
            pid = int(self.pid_file.read_text())
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        ours = {f"--port={self.port}".encode(), f"--listen-address={self.listen}".encode()}
        return pid if command[:1] == [DNSMASQ.encode()] and ours <= set(command) else None

    def start(self, records: list[str], zones: tuple[str, ...], ready_address: str) -> None:
        """Replace the server this folder started (if any) by one with these records; wait until it answers."""
        self.stop()
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("w") as log:
            # its own session: the server stays when the command that started it ends
            server = subprocess.Popen(dnsmasq_command(self.port, records, zones, self.listen), stdout=log, stderr=log,
                                      stdin=subprocess.DEVNULL, start_new_session=True, text=True)
        self.pid_file.write_text(f"{server.pid}\n")
        if not wait_until_answering(server, self.address, ready_address):
            self.stop()
            raise RuntimeError(f"dnsmasq did not answer on {self.address}: {self.log_file.read_text().strip()}")

    def stop(self) -> None:
        """Stop the server this folder started; anything else on the port is left alone."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while self.pid() is not None and time.monotonic() < deadline:
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
