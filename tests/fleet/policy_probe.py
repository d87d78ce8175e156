"""Runs INSIDE a test relay (python3, as root): sends probes from a source address to local listeners.

Used by tests/fleet/test_exit_policy.py. Argument: JSON {"user": ..., "probes": [[proto, source, address,
port], ...]}. Every address is one the test put on a dummy interface of the relay's own network namespace,
so no packet can leave the container. TCP and UDP probes are sent by a child that runs as ``user`` (tor's
user, as tor's own exit connections are); ICMP echo goes from root's ping socket. Prints JSON: one
true (arrived) or false (did not) per probe.
"""

from __future__ import annotations

import json
import os
import pwd
import socket
import struct
import sys

WAIT = 1.5  # seconds a probe may take to arrive; a dropped one fails at once (EPERM) or never arrives


def as_user(user: str, send) -> bool:
    """Run ``send`` in a child with the user's ids; whether it said the probe went out."""
    entry = pwd.getpwnam(user)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read)
        ok = False
        try:
            os.setgroups([])
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
            ok = bool(send())
        except OSError:
            ok = False
        finally:
            os.write(write, b"1" if ok else b"0")
            os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.close(read)
    os.waitpid(child, 0)
    return answer == b"1"


def tcp(user: str, source: str, address: str, port: int) -> bool:
    listener = socket.create_server((address, port))
    listener.settimeout(WAIT)

    def connect() -> bool:
        with socket.socket() as client:
            client.settimeout(WAIT)
            client.bind((source, 0))
            client.connect((address, port))
            return True

    try:
        sent = as_user(user, connect)
        if not sent:
            return False
        conn, peer = listener.accept()
        conn.close()
        return peer[0] == source
    except OSError:
        return False
    finally:
        listener.close()


def udp(user: str, source: str, address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind((address, port))
        listener.settimeout(WAIT)

        def send() -> bool:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
                client.bind((source, 0))
                client.sendto(b"probe", (address, port))
                return True

        as_user(user, send)  # a drop in the output hook fails the send; the listener decides either way
        try:
            data, peer = listener.recvfrom(64)
        except OSError:
            return False
        return data == b"probe" and peer[0] == source


def icmp(source: str, address: str) -> bool:
    """An echo request from ``source``; true if its reply comes back (the kernel answers for local addresses).

    A ping socket (root's group is in the container's ping_group_range): the lab gives no CAP_NET_RAW.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP) as sock:
        sock.bind((source, 0))
        sock.settimeout(WAIT)
        try:
            sock.sendto(struct.pack("!BBHHH", 8, 0, 0, 0, 1) + b"exitkit-probe", (address, 0))
            data, peer = sock.recvfrom(256)
        except OSError:
            return False
        return data[0] == 0 and peer[0] == address


def main() -> None:
    request = json.loads(sys.argv[1])
    user = request["user"]
    results = []
    for proto, source, address, port in request["probes"]:
        if proto == "tcp":
            results.append(tcp(user, source, address, port))
        elif proto == "udp":
            results.append(udp(user, source, address, port))
        elif proto == "icmp":
            results.append(icmp(source, address))
        else:
            raise SystemExit(f"unknown probe protocol {proto!r}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
