"""Which Debian packages a relay needs, from its settings."""

from __future__ import annotations

from exitkit.settings import RelaySettings

# tzdata: reboot timers name the relay's time zone
BASE = ("lighttpd", "nftables", "tzdata")


def relay_packages(settings: RelaySettings) -> tuple[str, ...]:
    packages = list(BASE)
    if settings.https_port and settings.acme_terms_accepted:
        packages += ["lighttpd-mod-openssl", "dehydrated", "curl", "openssl"]
    if settings.security_updates:
        packages.append("unattended-upgrades")
    return tuple(packages)
