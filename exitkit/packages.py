"""Which Debian packages a relay needs, from its settings."""

from __future__ import annotations

from exitkit.settings import RelaySettings

BASE = ("lighttpd", "nftables")


def relay_packages(settings: RelaySettings) -> tuple[str, ...]:
    packages = list(BASE)
    if settings.security_updates:
        packages.append("unattended-upgrades")
    return tuple(packages)
