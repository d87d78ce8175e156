"""The base system: the packages every relay needs, and its name."""

from __future__ import annotations

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
    # in a container the engine owns the name and bind-mounts /etc/hostname and /etc/hosts
    if hostname and not host.get_fact(File, path="/run/systemd/container"):
        short = hostname.split(".")[0]
        server.hostname(name="Set the hostname from the naming plan", hostname=hostname)
        files.line(name="Name the relay in /etc/hosts", path="/etc/hosts",
                   line=r"^127\.0\.1\.1\s", replace=f"127.0.1.1\t{hostname} {short}")
