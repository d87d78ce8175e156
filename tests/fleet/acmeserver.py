"""Pebble (Debian's ACME test server) on a lab network's gateway, for the HTTPS fleet test.

Pebble listens on the gateway only, so the fleet's relays reach it and nothing
else does; its API's TLS certificate is made here for the gateway's address by a
throw-away CA that the relays are told to trust. Pebble validates HTTP-01
challenges by connecting to the relays' port 80 on their lab addresses: for an IP
identifier directly, for a DNS name through pebble-challtestsrv's DNS on
127.0.0.1, which answers only the names the test adds.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import requests

from exitkit.outside import fetch_tls


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, text=True, capture_output=True, check=True).stdout


def wait_port(host: str, port: int, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as sock:
            sock.settimeout(1)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on {host}:{port}")


class Pebble:
    """Pebble and its DNS, started by ``start()``, stopped by ``stop()``; ``base`` is unique per lab slot."""

    def __init__(self, work: Path, gateway: str, base: int):
        self.work, self.gateway = work, gateway
        self.port, self.management, self.dns, self.dns_management = base, base + 1, base + 2, base + 3
        self.ca = work / "api-ca.pem"
        self.processes: list[subprocess.Popen] = []
        self._root: Path | None = None
        self._api_cert()

    @property
    def directory(self) -> str:
        return f"https://{self.gateway}:{self.port}/dir"

    def _api_cert(self) -> None:
        w = self.work
        sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
           "-subj", "/CN=exitkit test ACME API CA", "-keyout", str(w / "api-ca.key"), "-out", str(self.ca))
        sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=pebble",
           "-keyout", str(w / "api.key"), "-out", str(w / "api.csr"))
        (w / "ext").write_text(f"subjectAltName=IP:{self.gateway},IP:127.0.0.1\n")
        sh("openssl", "x509", "-req", "-in", str(w / "api.csr"), "-CA", str(self.ca), "-CAkey", str(w / "api-ca.key"),
           "-CAcreateserial", "-days", "2", "-extfile", str(w / "ext"), "-out", str(w / "api.pem"))
        config = {"pebble": {
            "listenAddress": f"{self.gateway}:{self.port}",
            "managementListenAddress": f"127.0.0.1:{self.management}",
            "certificate": str(w / "api.pem"), "privateKey": str(w / "api.key"),
            "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "", "externalAccountBindingRequired": False}}
        (w / "pebble.json").write_text(json.dumps(config))

    def start(self, names: dict[str, str]) -> None:
        """Start the DNS (``names``: DNS name -> relay address) and Pebble; wait until both answer."""
        log = (self.work / "pebble.log").open("a")
        if not self.processes:
            self.processes.append(subprocess.Popen(
                ["pebble-challtestsrv", "-dns01", f"127.0.0.1:{self.dns}", "-http01", "", "-https01", "",
                 "-tlsalpn01", "", "-management", f"127.0.0.1:{self.dns_management}",
                 "-defaultIPv4", "", "-defaultIPv6", ""], stdout=log, stderr=subprocess.STDOUT))
            wait_port("127.0.0.1", self.dns_management)
            for name, address in names.items():
                requests.post(f"http://127.0.0.1:{self.dns_management}/add-a",
                              json={"host": name + ".", "addresses": [address]}, timeout=5).raise_for_status()
        env = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0",
               "PATH": "/usr/bin:/bin"}
        self.processes.append(subprocess.Popen(
            ["pebble", "-config", str(self.work / "pebble.json"), "-dnsserver", f"127.0.0.1:{self.dns}"],
            stdout=log, stderr=subprocess.STDOUT, env=env))
        wait_port(self.gateway, self.port)
        self._root = None  # a new Pebble issues from a new root

    def stop_pebble(self) -> None:
        """Pebble alone (the CA goes away; its DNS stays)."""
        pebble = self.processes.pop()
        pebble.terminate()
        pebble.wait(10)

    def stop(self) -> None:
        while self.processes:
            process = self.processes.pop()
            process.terminate()
            process.wait(10)

    def root(self) -> Path:
        """Pebble's root for the certificates it issues (new each start; kept while it is stopped)."""
        if self._root:
            return self._root
        pem = requests.get(f"https://127.0.0.1:{self.management}/roots/0", verify=str(self.ca), timeout=5).text
        path = self.work / "issuing-root.pem"
        path.write_text(pem)
        self._root = path
        return path


def https_get(address: str, port: int, name: str, path: str, cafile: Path) -> tuple[int, dict, bytes, dict]:
    """exitkit.outside.fetch_tls as a tuple: (status, headers, body, the peer certificate)."""
    answer = fetch_tls(address, port, name, path, cafile=str(cafile))
    return answer.status, answer.headers, answer.body, answer.certificate
