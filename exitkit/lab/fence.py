"""The fence: lab relays reach nothing but the control machine, whatever their daemons try.

Each fleet's network is internal (no route out, nothing published) and podman's
resolver is off on it: aardvark-dns forwards every name it does not know to the
host's resolvers, that is to the outside. The control machine's side of the
network (its gateway) offers the relays two services and nothing else:

- apt-cacher-ng on port 3142, their only way to Debian's archive; ForceManaged
  lets it fetch only from the archives it knows (deb.debian.org and its mirrors),
  not any URL a relay asks for;
- a dnsmasq on port 53 that knows ``apt-proxy`` and answers every other name
  NXDOMAIN, forwarding nothing (their unbound forwards to it).

apt-cacher-ng binds the gateways of every slot at once (the kernel allows binding
an address not yet up), so it is started once and never restarted under a fleet
that is using it.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

from exitkit.lab import LAB
from exitkit.lab.addresses import APT_PROXY_NAME, APT_PROXY_PORT, every_gateway
from exitkit.lab.dns import BackgroundDnsServer
from exitkit.lab.image import debian_mirror
from exitkit.lab.process import log, run

ACNG_DROP_IN = Path("/etc/apt-cacher-ng/zzz-exitkit-lab.conf")  # read after the package's zz_debconf.conf
ACNG_INIT = Path("/etc/init.d/apt-cacher-ng")
ACNG_ERRORS = Path("/var/log/apt-cacher-ng/apt-cacher.err")
ACNG_LOG = Path("/var/log/apt-cacher-ng/apt-cacher.log")
ACNG_CACHE = Path("/var/cache/apt-cacher-ng")  # Debian's CacheDir
ACNG_HELD = Path("/var/cache/apt-cacher-ng.exitkit-held")  # the real cache while a cold measurement runs
NONLOCAL_BIND = Path("/proc/sys/net/ipv4/ip_nonlocal_bind")
ALL_DOMAINS = ("#",)  # dnsmasq: every name is local, so none is ever forwarded


def acng_config() -> str:
    """Our drop-in; Debian's archive is fetched from the mirror this machine uses (as the image is built)."""
    return ("# Written by exitkit.lab: the lab relays' apt proxy, on loopback and every lab network's gateway only.\n"
            f"BindAddress: {' '.join(['127.0.0.1', *every_gateway()])}\n"
            f"Port: {APT_PROXY_PORT}\n"
            "# requests for any Debian mirror go to this machine's own mirror\n"
            f"Remap-debrep: file:deb_mirror*.gz /debian ; {debian_mirror().rstrip('/')}/\n"
            "# only the archives remapped here and in acng.conf (Debian's, its security archive), not any URL\n"
            "ForceManaged: 1\n")


def listening(address: str, port: int) -> bool:
    """Whether some socket listens on address:port (from /proc/net/tcp, so nothing is sent)."""
    wanted = f"{int(ipaddress.IPv4Address(address)).to_bytes(4, 'big')[::-1].hex().upper()}:{port:04X}"
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(line.split()[1] == wanted and line.split()[3] == "0A" for line in lines)


def systemd_runs() -> bool:
    return Path("/run/systemd/system").is_dir()


def ensure_apt_proxy() -> None:
    """apt-cacher-ng running with our drop-in, listening on every lab gateway; idempotent.

    Started with systemctl where systemd runs, else with the package's init script
    (a CI machine or container without systemd); restarted only if its drop-in changed
    or it does not listen where the relays look for it.
    """
    if not ACNG_INIT.exists():
        raise RuntimeError("apt-cacher-ng is not installed: run ./kit setup first")
    if NONLOCAL_BIND.read_text().strip() != "1":
        NONLOCAL_BIND.write_text("1")
    changed = not ACNG_DROP_IN.exists() or ACNG_DROP_IN.read_text() != acng_config()
    if changed:
        ACNG_DROP_IN.write_text(acng_config())
    if not changed and all(listening(address, APT_PROXY_PORT) for address in every_gateway()):
        return
    log("starting apt-cacher-ng, the lab relays' apt proxy, on the lab networks' gateways")
    if systemd_runs():
        run(["systemctl", "enable", "apt-cacher-ng.service"], check=False)
    _apt_proxy("restart")
    _wait_for_apt_proxy()


def _apt_proxy(action: str) -> None:
    """Start, stop or restart apt-cacher-ng with systemctl where systemd runs, else with its init script."""
    run(["systemctl", action, "apt-cacher-ng.service"] if systemd_runs() else [str(ACNG_INIT), action])


def _wait_for_apt_proxy() -> None:
    deadline = time.monotonic() + 15
    while not all(listening(address, APT_PROXY_PORT) for address in every_gateway()):
        if time.monotonic() > deadline:
            errors = ACNG_ERRORS.read_text()[-2000:] if ACNG_ERRORS.exists() else ""
            raise RuntimeError(f"apt-cacher-ng does not listen on the lab gateways:\n{errors}")
        time.sleep(0.2)


def _fresh_cache_dir(like: Path) -> None:
    ACNG_CACHE.mkdir()
    stat = like.stat()
    os.chown(ACNG_CACHE, stat.st_uid, stat.st_gid)
    ACNG_CACHE.chmod(stat.st_mode & 0o7777)


@contextmanager
def held_apt_cache() -> Iterator[None]:
    """The proxy's cache set aside while the block runs and put back whole afterwards, whatever happens.

    For cold-cache measurements (``empty_apt_cache``): the lab's packages are not
    fetched again by every later test run. The proxy is restarted, so nothing else
    may use it meanwhile.
    """
    if ACNG_HELD.exists():
        raise RuntimeError(f"{ACNG_HELD} exists: a cold measurement was cut short; move it back to {ACNG_CACHE}")
    ensure_apt_proxy()
    _apt_proxy("stop")
    ACNG_CACHE.rename(ACNG_HELD)
    _fresh_cache_dir(ACNG_HELD)
    _apt_proxy("start")
    try:
        _wait_for_apt_proxy()
        yield
    finally:
        _apt_proxy("stop")
        shutil.rmtree(ACNG_CACHE)
        ACNG_HELD.rename(ACNG_CACHE)
        _apt_proxy("start")
        _wait_for_apt_proxy()


def empty_apt_cache() -> None:
    """An empty proxy cache, so the next run fetches every package and index from the mirror (inside
    ``held_apt_cache`` only)."""
    if not ACNG_HELD.exists():
        raise RuntimeError("empty_apt_cache outside held_apt_cache would throw away the lab's package cache")
    _apt_proxy("stop")
    shutil.rmtree(ACNG_CACHE)
    _fresh_cache_dir(ACNG_HELD)
    _apt_proxy("start")
    _wait_for_apt_proxy()


def fleet_resolver(fleet: str, gateway: str) -> BackgroundDnsServer:
    """The resolver on a fleet's gateway (port 53) that the relays' resolv.conf and unbound ask."""
    return BackgroundDnsServer(53, LAB / fleet / "resolver", gateway)


def start_fleet_resolver(fleet: str, gateway: str) -> None:
    """Start the fleet's resolver unless it already runs (a running one already has the same records)."""
    resolver = fleet_resolver(fleet, gateway)
    if resolver.pid() is None:
        resolver.start([f"--host-record={APT_PROXY_NAME},{gateway}"], ALL_DOMAINS, gateway)



def proxy_log_mark() -> int:
    """Where the proxy's transfer log ends now; ``proxy_traffic`` counts what came after."""
    return ACNG_LOG.stat().st_size if ACNG_LOG.exists() else 0


def proxy_log_since(mark: int) -> list[list[str]]:
    """The proxy's transfer log after ``mark``, split: time, I (fetched from the mirror) or O (served), size, client,
    path."""
    if not ACNG_LOG.exists():
        return []
    with ACNG_LOG.open("rb") as log_file:
        log_file.seek(mark)
        lines = log_file.read().decode(errors="replace").splitlines()
    return [fields for fields in (line.split("|") for line in lines) if len(fields) >= 5 and fields[2].isdigit()]


def proxy_traffic(mark: int, clients: Collection[str] = ()) -> tuple[int, int]:
    """Bytes the proxy fetched from the mirror and bytes it served to relays since ``mark`` (a warm cache fetches
    little of what it serves); with ``clients`` (addresses), only their requests: other fleets share the proxy."""
    entries = [e for e in proxy_log_since(mark) if not clients or e[3] in clients]
    return (sum(int(e[2]) for e in entries if e[1] == "I"), sum(int(e[2]) for e in entries if e[1] == "O"))
