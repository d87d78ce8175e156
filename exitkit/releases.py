"""The Debian releases a relay may run, and everything the kit does differently between them.

Pure logic: a relay's ``/etc/os-release`` text in, its supported ``Release`` out
(or an error naming what it runs). The deploy reads the text from the relay
(``deploys/release.py``), so what differs is chosen from the relay's own facts,
never from a setting the operator must keep in step with the machine.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class OsRelease:
    """The fields of os-release(5) the kit reads; a field the file lacks is empty."""

    id: str = ""
    version_id: str = ""
    version_codename: str = ""
    pretty_name: str = ""

    def describe(self) -> str:
        """How an operator recognises the release in a message: its PRETTY_NAME, else ID and VERSION_ID."""
        if self.pretty_name:
            return self.pretty_name
        named = " ".join(part for part in (self.id, self.version_id) if part)
        return named or "an unknown system (no /etc/os-release)"


def parse_os_release(text: str) -> OsRelease:
    """os-release(5): KEY=value lines, values quoted as in the shell; comments, blanks and odd lines skipped."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, equals, raw = line.strip().partition("=")
        if not equals or not key or key.startswith("#"):
            continue
        try:
            words = shlex.split(raw)
        except ValueError:  # an unmatched quote: the value as written
            words = [raw.strip("\"'")]
        values[key] = " ".join(words)
    return OsRelease(id=values.get("ID", ""), version_id=values.get("VERSION_ID", ""),
                     version_codename=values.get("VERSION_CODENAME", ""), pretty_name=values.get("PRETTY_NAME", ""))


@dataclass(frozen=True)
class Release:
    """A release the kit supports, with what the kit does differently on it."""

    id: str                # os-release ID
    version_id: str        # os-release VERSION_ID (a testing snapshot has none, so it is never taken for one)
    codename: str          # the suite in apt sources the kit writes (the Tor Project's repository)
    package_unit_dir: str  # where the distribution's packages install their systemd units
    systemd: int           # systemd's major version, for what its commands print

    @property
    def distribution(self) -> str:
        return "Debian" if self.id == "debian" else self.id

    @property
    def name(self) -> str:
        return f"{self.distribution} {self.version_id} {self.codename}"


DEBIAN_13 = Release(id="debian", version_id="13", codename="trixie", package_unit_dir="/usr/lib/systemd/system",
                    systemd=257)
DEBIAN_12 = Release(id="debian", version_id="12", codename="bookworm", package_unit_dir="/lib/systemd/system",
                    systemd=252)

SUPPORTED: tuple[Release, ...] = (DEBIAN_13, DEBIAN_12)  # the first is the default and first-class target
DEFAULT_RELEASE = SUPPORTED[0]  # for what is made without a host (exitkit render)


class UnsupportedRelease(ValueError):
    """A relay runs a release the kit does not support; the message names it and the supported ones."""

    def __init__(self, found: OsRelease) -> None:
        self.found = found
        super().__init__(f"runs {found.describe()}, which exitkit does not support "
                         f"(supported: {supported_names()})")


def supported_names() -> str:
    """'Debian 13 trixie, Debian 12 bookworm'."""
    return ", ".join(release.name for release in SUPPORTED)


def supported_short() -> str:
    """'Debian 13 or 12': the supported releases in few words, for a line that must stay short."""
    words: list[str] = []
    for number, release in enumerate(SUPPORTED):
        same = number > 0 and SUPPORTED[number - 1].distribution == release.distribution
        words.append(release.version_id if same else f"{release.distribution} {release.version_id}")
    return " or ".join(words)


def release_of(os_release: OsRelease) -> Release:
    """The supported release a relay runs, by ID and VERSION_ID (a codename alone is a testing snapshot's too)."""
    for release in SUPPORTED:
        if (os_release.id, os_release.version_id) == (release.id, release.version_id):
            return release
    raise UnsupportedRelease(os_release)
