"""Which Debian packages a relay needs, from its settings: all of them in one apt transaction."""

from __future__ import annotations

from exitkit.settings import RelaySettings

# tzdata: reboot timers name the relay's time zone
BASE = ("lighttpd", "nftables", "tzdata")
RESOLVER = ("unbound", "dns-root-data")  # dns-root-data: the DNSSEC root trust anchor
# tor-geoipdb, which Debian's tor recommends: without it tor under its Sandbox tries to load the absent database on
# every reload and logs a "Bug:" warning each time
TOR = ("tor", "tor-geoipdb")

# Packages whose Debian install starts a daemon with Debian's own configuration: their unit is masked before the
# install and unmasked by its unit once the kit's checked configuration is in place.
MASKED_UNTIL_CONFIGURED = {"unbound": "unbound.service", "tor": "tor@default.service"}


def relay_packages(settings: RelaySettings) -> tuple[str, ...]:
    """Every package the units need, for one apt transaction (the ``base.system`` unit's).

    tor from the Tor Project's repository is the exception: apt must read that repository first, so the tor unit
    installs it itself.
    """
    packages = [*BASE, *RESOLVER]
    if settings.https_port and settings.acme_terms_accepted:
        packages += ["lighttpd-mod-openssl", "dehydrated", "curl", "openssl"]
    if settings.security_updates:
        packages.append("unattended-upgrades")
    if settings.network == "tor" and settings.tor_package_source == "debian":
        packages += TOR
    return tuple(packages)
