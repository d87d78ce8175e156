"""The release a relay runs, from its own /etc/os-release: supported ones converge, any other is refused untouched."""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import FactBase, deploy
from pyinfra.api.host import Host
from pyinfra.operations import server

from deploys.context import fact_once
from exitkit import releases
from exitkit.releases import OsRelease, Release, UnsupportedRelease


class OsReleaseText(FactBase):
    """The relay's os-release(5), parsed; empty fields where the file is missing (not a Linux we know)."""

    def command(self) -> str:
        return "cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null || true"

    @staticmethod
    def default() -> OsRelease:
        return OsRelease()

    def process(self, output):
        return releases.parse_os_release("\n".join(output))


def os_release_of(relay: Host) -> OsRelease:
    """A relay's os-release, read once per run: every unit, and every family member's tor unit, asks."""
    return fact_once(relay, OsReleaseText)


def release_of_relay(relay: Host) -> Release | None:
    """The supported release ``relay`` runs; None for any other (``refuse_unsupported`` stops it)."""
    try:
        return releases.release_of(os_release_of(relay))
    except UnsupportedRelease:
        return None


def relay_release() -> Release | None:
    """The release of the relay being prepared; a unit returns at once on None, so nothing on an unsupported
    relay is planned, and no fact that reads oddly there can stop the preparation of the others."""
    return release_of_relay(host)


def refusal(relay: str, found: OsRelease) -> str:
    """What the run says of a refused relay, on one line. The fleet summary shows it after the operation's name
    (which names the supported releases) and cuts it at its width, so the part it must keep comes first."""
    return f"{relay} runs {found.describe()}; nothing was changed (exitkit supports {releases.supported_names()})"


@deploy("Supported release")
def refuse_unsupported():
    """One failing operation on a relay of another release: pyinfra stops that relay there, before any other
    operation of it runs, and the fleet summary shows this operation's message; the other relays converge."""
    if relay_release() is None:
        server.shell(name=f"{releases.supported_short()} required",
                     commands=[f"echo {shlex.quote(refusal(host.name, os_release_of(host)))} >&2; exit 1"])
