"""The base system: the packages every relay needs, and its name."""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.operations import apt, files, server

from deploys.context import plan, relay_settings
from exitkit.packages import relay_packages


@deploy("Base system")
def system():
    settings = relay_settings()
    apt.packages(name="Install the relay's packages", packages=list(relay_packages(settings)),
                 update=True, cache_time=3600, no_recommends=True)
    hostname = plan("hostname")
    if hostname:
        short = hostname.split(".")[0]
        files.put(name="Set /etc/hostname from the naming plan", src=StringIO(f"{hostname}\n"), dest="/etc/hostname")
        files.line(name="Name the relay in /etc/hosts", path="/etc/hosts",
                   line=r"^127\.0\.1\.1\s", replace=f"127.0.1.1\t{hostname} {short}")
        if not host.get_fact(File, path="/run/systemd/container"):
            # a container's kernel name belongs to its engine; a server's is set now
            server.hostname(name="Set the running hostname", hostname=hostname)
