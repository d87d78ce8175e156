"""A small signed apt repository on the control machine, for the Tor Project repository path.

A real tor ``.deb`` per Debian release (fetched on a lab relay through the apt
proxy, so nothing leaves the fence), its version raised so the installed version
proves where tor came from, indexed per codename as ``dists/<codename>/main/binary-amd64``
(the layout of the source line the kit writes), ``InRelease`` signed by a key made
in a throw-away GNUPGHOME, and that key's public half at ``<FINGERPRINT>.asc`` (where
the kit fetches it). Served by an HTTP server bound to one address only.
"""

from __future__ import annotations

import email.utils
import functools
import gzip
import hashlib
import http.server
import shutil
import subprocess
import threading
from pathlib import Path

SUFFIX = "+exitkittest1"  # appended to Debian's version: above it, and says where the package came from


def sh(*cmd: str, **kw) -> str:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout


def fetch_deb(container: str, package: str, into: Path) -> Path:
    """``apt-get download`` on a lab relay (its apt goes through the lab's apt proxy), copied out of it."""
    script = (f"set -e; apt-get update -q >/dev/null; cd /tmp; apt-get download -q {package} >/dev/null; "
              f"ls {package}_*.deb")
    name = sh("podman", "exec", container, "sh", "-c", script).split()[-1]
    into.mkdir(parents=True, exist_ok=True)
    sh("podman", "cp", f"{container}:/tmp/{name}", str(into / name))
    sh("podman", "exec", container, "rm", "-f", f"/tmp/{name}")
    return into / name


def raise_version(deb: Path, into: Path, suffix: str = SUFFIX) -> tuple[Path, str]:
    """The same package with ``suffix`` appended to its version (unpacked, control edited, packed again)."""
    into.mkdir(parents=True, exist_ok=True)
    tree = into / f"{deb.stem}.tree"
    shutil.rmtree(tree, ignore_errors=True)
    sh("dpkg-deb", "-R", str(deb), str(tree))
    control = tree / "DEBIAN" / "control"
    lines = control.read_text().splitlines()
    version = next(line.split(": ", 1)[1] for line in lines if line.startswith("Version: ")) + suffix
    control.write_text("\n".join(f"Version: {version}" if line.startswith("Version: ") else line
                                 for line in lines) + "\n")
    package = next(line.split(": ", 1)[1] for line in lines if line.startswith("Package: "))
    out = into / f"{package}_{version}_amd64.deb"
    sh("dpkg-deb", "-b", str(tree), str(out))
    shutil.rmtree(tree)
    return out, version


class Keys:
    """OpenPGP keys made for one test run in their own GNUPGHOME."""

    def __init__(self, home: Path):
        self.home = home
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.env = {"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"}

    def gpg(self, *args: str) -> str:
        return sh("gpg", "--batch", "--quiet", *args, env=self.env)

    def make(self, uid: str) -> str:
        """A new signing key without passphrase; its fingerprint."""
        self.gpg("--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "1d")
        colons = self.gpg("--with-colons", "--list-keys", uid).splitlines()
        return next(line.split(":")[9] for line in colons if line.startswith("fpr:"))

    def export(self, fingerprint: str) -> str:
        return self.gpg("--armor", "--export", fingerprint)

    def clearsign(self, fingerprint: str, text: Path, out: Path) -> None:
        self.gpg("--yes", "--local-user", fingerprint, "--digest-algo", "SHA512", "--clearsign",
                 "--output", str(out), str(text))


def publish(root: Path, debs: dict[str, Path], keys: Keys, signed_by: str, key_served: str, key_named: str) -> None:
    """A repository at ``root``: ``debs`` (codename -> .deb) indexed, Release signed by ``signed_by``, and the
    key ``key_served`` exported as ``<key_named>.asc`` (the same key unless a test wants a wrong one served)."""
    for codename, deb in debs.items():
        pool = root / "pool" / codename
        pool.mkdir(parents=True, exist_ok=True)
        shutil.copy(deb, pool / deb.name)
        binary = root / "dists" / codename / "main" / "binary-amd64"
        binary.mkdir(parents=True, exist_ok=True)
        packages = sh("dpkg-scanpackages", "--multiversion", f"pool/{codename}", "/dev/null", cwd=root).encode()
        (binary / "Packages").write_bytes(packages)
        (binary / "Packages.gz").write_bytes(gzip.compress(packages, mtime=0))
        hashes = [f" {hashlib.sha256(path.read_bytes()).hexdigest()} {path.stat().st_size} "
                  f"{path.relative_to(binary.parents[1])}" for path in (binary / "Packages", binary / "Packages.gz")]
        release = root / "dists" / codename / "Release"
        release.write_text("\n".join((
            "Origin: exitkit-test", "Label: exitkit test repository", f"Suite: {codename}", f"Codename: {codename}",
            f"Date: {email.utils.formatdate(usegmt=True)}", "Architectures: amd64", "Components: main",
            "SHA256:", *hashes)) + "\n")
        keys.clearsign(signed_by, release, release.with_name("InRelease"))
    (root / f"{key_named}.asc").write_text(keys.export(key_served))


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002  (the base class's name)
        pass


class Server:
    """A static HTTP server on ``address`` (a port of its own), in a thread of the test process."""

    def __init__(self, root: Path, address: str):
        handler = functools.partial(QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer((address, 0), handler)
        self.url = f"http://{address}:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
