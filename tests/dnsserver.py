"""A real DNS server for the tests: dnsmasq on 127.0.0.1, answering only from the records it is given.

Started with --no-resolv and authoritative --local zones, it never forwards a
question, so no test asks real DNS about its made-up addresses.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from exitkit import rdns

DNSMASQ = "/usr/sbin/dnsmasq"
LOCAL_ZONES = ("example.net", "provider.example", "example.com", "in-addr.arpa", "ip6.arpa")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        return udp.getsockname()[1]


@contextmanager
def dnsmasq(records: list[str], ready_address: str, zones=LOCAL_ZONES) -> Iterator[str]:
    """Run dnsmasq with these records (its options); yield its address as dns_check_resolver takes it.

    ``ready_address`` is an address with a PTR among the records: the server is
    ready once it answers for it.
    """
    if not Path(DNSMASQ).exists():
        pytest.fail(f"{DNSMASQ} is missing: ./kit setup installs dnsmasq-base")
    port = free_port()
    server = subprocess.Popen(
        [DNSMASQ, "--no-daemon", f"--port={port}", "--listen-address=127.0.0.1", "--bind-interfaces",
         "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
         *[f"--local=/{zone}/" for zone in zones], *records],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    address = f"127.0.0.1:{port}"
    resolver = rdns.make_resolver(address, timeout=0.5)
    deadline = time.monotonic() + 10
    while rdns.ask_ptr(resolver, ready_address).outcome != rdns.ANSWER:
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"dnsmasq did not start: {server.communicate()[1]}")
    try:
        yield address
    finally:
        server.kill()
        server.wait()
