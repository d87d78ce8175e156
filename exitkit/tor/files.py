"""The files a tor exit gets: a checked torrc per instance, the start hook, the Tor Project's sources."""

from __future__ import annotations

from collections.abc import Mapping

from exitkit.configfile import UNITS, ConfigFile, static
from exitkit.policy import ExitPolicy
from exitkit.releases import DEFAULT_RELEASE, Release
from exitkit.settings import RelaySettings
from exitkit.templating import render
from exitkit.tor.relay import Family, instances, render_torrc_file

TORPROJECT_KEYRING = "/usr/share/keyrings/deb.torproject.org-keyring.gpg"
TORPROJECT_SOURCES = "/etc/apt/sources.list.d/tor.list"


def torproject_repository(settings: RelaySettings) -> str:
    """The repository's address as apt sources and key downloads join it (no trailing slash)."""
    return settings.torproject_repository.rstrip("/")


def tor_files(settings: RelaySettings, policy: ExitPolicy, families: Mapping[str, Family] | None = None,
              release: Release = DEFAULT_RELEASE) -> list[ConfigFile]:
    """A torrc per tor instance (checked by tor --verify-config) and the hook that notes which one runs.

    ``families`` (instance name -> tor.Family) comes from the relays' fingerprints
    in a deploy, and from the fingerprints the last deploy saw in ``fleet_files``.
    ``release`` names the suite of the Tor Project's source: a deploy passes the
    relay's own, a render without a host the default release.
    """
    if settings.network != "tor":
        return []
    families = families or {}
    files = [static("/usr/local/sbin/exitkit-tor-applied", "tor/exitkit-tor-applied.sh", mode="755"),
             static(f"{UNITS}/tor@.service.d/exitkit.conf", "tor/tor@.service.d-exitkit.conf")]
    if settings.tor_package_source == "torproject":
        files.append(ConfigFile(TORPROJECT_SOURCES, render(
            "tor/torproject.list.j2", keyring=TORPROJECT_KEYRING, repository=torproject_repository(settings),
            codename=release.codename)))
    for instance in instances(settings):
        content = render_torrc_file(settings, instance, policy, families.get(instance.name, Family()))
        files.append(ConfigFile(instance.torrc, content, check=instance.verify_command))
    return files
