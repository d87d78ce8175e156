"""The base system: the packages every relay needs, and its name."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.operations import apt, server

from deploys.context import fact_once, relay_plan, relay_settings
from deploys.ops import write_config
from deploys.release import relay_release
from deploys.resolver import ResolverUnitStates
from deploys.tor import relay_state
from exitkit.configfile import by_path
from exitkit.naming import HOSTNAME, HOSTS, name_files
from exitkit.packages import MASKED_UNTIL_CONFIGURED, relay_packages
from exitkit.units import UnitState


@deploy("Base system")
def system():
    if relay_release() is None:
        return  # another release: refused by release.refuse_unsupported, nothing planned
    settings = relay_settings()
    packages = relay_packages(settings)
    # Debian's unbound and tor start at once with Debian's configuration: not before the kit's is checked
    states = {"unbound": fact_once(host, ResolverUnitStates).unbound}
    if "tor" in packages:
        states["tor"] = relay_state(host).default_unit
    new = [MASKED_UNTIL_CONFIGURED[p] for p in packages if states.get(p) == UnitState.ABSENT]
    if new:
        server.shell(name="Unbound and tor held back (masked until their configuration is checked)",
                     commands=[f"systemctl mask {' '.join(new)}"])
    apt.packages(name="Install the relay's packages (one apt transaction for every unit)", packages=list(packages),
                 update=True, cache_time=3600, no_recommends=True)
    wanted = by_path(name_files(relay_plan().hostname))
    # in a container the engine owns the name and bind-mounts /etc/hostname and /etc/hosts
    if wanted and not host.get_fact(File, path="/run/systemd/container"):
        name = write_config(wanted[HOSTNAME], name="The relay's name from the naming plan")
        server.shell(name="Take the new name now", commands=[f"hostname -F {HOSTNAME}"], _if=name.did_change)
        write_config(wanted[HOSTS], name="Name the relay in /etc/hosts")
