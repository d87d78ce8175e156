"""The base system: the packages every relay needs, and its name."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.operations import apt, server

from deploys.context import relay_plan, relay_settings
from deploys.ops import write_config
from deploys.release import relay_release
from exitkit.configfile import by_path
from exitkit.naming import HOSTNAME, HOSTS, name_files
from exitkit.packages import relay_packages


@deploy("Base system")
def system():
    if relay_release() is None:
        return  # another release: refused by release.refuse_unsupported, nothing planned
    settings = relay_settings()
    apt.packages(name="Install the relay's packages", packages=list(relay_packages(settings)),
                 update=True, cache_time=3600, no_recommends=True)
    wanted = by_path(name_files(relay_plan().hostname))
    # in a container the engine owns the name and bind-mounts /etc/hostname and /etc/hosts
    if wanted and not host.get_fact(File, path="/run/systemd/container"):
        name = write_config(wanted[HOSTNAME], name="The relay's name from the naming plan")
        server.shell(name="Take the new name now", commands=[f"hostname -F {HOSTNAME}"], _if=name.did_change)
        write_config(wanted[HOSTS], name="Name the relay in /etc/hosts")
