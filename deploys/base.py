"""The base system: the packages every relay needs, and its name; how every unit writes its files."""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.operations import apt, files, server

from deploys.context import plan, relay_settings
from deploys.ops import checked_file
from exitkit.configs import ConfigFile
from exitkit.packages import relay_packages


def plan_data() -> dict:
    """The host's part of the fleet plan (exitkit_<key>), the input exitkit.configs takes."""
    return {key: value for key, value in host.data.dict().items() if key.startswith("exitkit_")}


def write_config(file: ConfigFile, name: str):
    """One file of exitkit.configs as an operation: checked by its own program first if it has a check.

    Both operations show a diff under ``pyinfra --diff`` and are no-ops when the file is unchanged.
    """
    if file.check:
        return checked_file(name=name, content=file.content, dest=file.path, check=file.check, mode=int(file.mode))
    return files.put(name=name, src=StringIO(file.content), dest=file.path, mode=file.mode)


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
