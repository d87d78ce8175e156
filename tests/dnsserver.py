"""A real DNS server for the tests: the lab's dnsmasq on 127.0.0.1, one per test, on a free port.

It answers only from the records it is given and never forwards a question
(exitkit/lab/dns.py), so no test asks real DNS about its made-up addresses.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from exitkit.lab.dns import DNSMASQ, REVERSE_ZONES, dnsmasq_command, wait_until_answering

LOCAL_ZONES = ("example.net", "provider.example", "example.com", *REVERSE_ZONES)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        return udp.getsockname()[1]


@contextmanager
def dnsmasq(records: list[str], ready_address: str, zones: tuple[str, ...] = LOCAL_ZONES) -> Iterator[str]:
    """Run dnsmasq with these records (its options); yield its address as dns_check_resolver takes it.

    ``ready_address`` is an address with a PTR among the records: the server is
    ready once it answers for it.
    """
    if not Path(DNSMASQ).exists():
        pytest.fail(f"{DNSMASQ} is missing: ./kit setup installs dnsmasq-base")
    port = free_port()
    server = subprocess.Popen(dnsmasq_command(port, records, zones),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    address = f"127.0.0.1:{port}"
    if not wait_until_answering(server, address, ready_address):
        server.kill()
        pytest.fail(f"dnsmasq did not start: {server.communicate()[1]}")
    try:
        yield address
    finally:
        server.kill()
        server.wait()
