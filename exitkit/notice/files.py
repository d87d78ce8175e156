"""The notice's files on a relay: its pages, security.txt, the machine-readable policy, lighttpd's config."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from exitkit.configfile import ConfigFile
from exitkit.notice.render import render_fact_sheets, render_pages, render_security_txt
from exitkit.notice.texts import available_languages, default_language
from exitkit.policy import ExitPolicy, render_nym, summarise
from exitkit.settings import RelaySettings
from exitkit.templating import render

DOCROOT = "/var/www/exitkit"
LIGHTTPD_CONF = "/etc/lighttpd/lighttpd.conf"
TLS_INCLUDE = "/usr/local/lib/exitkit/lighttpd-tls"  # prints the HTTPS listener once a certificate is served
TLS_LIVE = "/etc/exitkit/tls/live"  # the served pair; replaced only after lighttpd -tt accepted a new one


def security_txt_expiry(now: datetime | None = None) -> datetime:
    """First of the month, 11 months ahead: always in the future, under RFC 9116's year, and
    the same all month long, so re-runs change nothing."""
    now = now or datetime.now(UTC)
    month = now.month + 11
    return datetime(now.year + (month - 1) // 12, (month - 1) % 12 + 1, 1, tzinfo=UTC)


def notice_files(settings: RelaySettings, policy: ExitPolicy, *, hostname: str, reboot_time: str | None,
                 now: datetime, in_service_since: str = "",
                 fingerprints: Mapping[str, str] | None = None) -> list[ConfigFile]:
    """Notice pages in every language, security.txt, the machine-readable policy, lighttpd's config.

    ``policy`` is the relay's exit policy, ``hostname`` and ``reboot_time`` its part
    of the fleet plan; ``now`` only sets security.txt's expiry, which stays the same all month, and, for a relay
    the fleet history has not seen converge yet (``in_service_since`` empty), the date it is in service since:
    this run's, which the history then records, so the next run writes the same. ``fingerprints`` (tor data dir
    -> fingerprint) are the ones tor has made so far: an instance without one is listed by its nickname alone.
    """
    address = settings.public_ipv4 or settings.public_ipv6 or hostname
    summary = summarise(policy)
    since = in_service_since or now.astimezone(UTC).date().isoformat()
    pages = render_pages(settings, policy_summary=summary, address=address, hostname=hostname,
                         reboot_time=reboot_time or None, in_service_since=since, fingerprints=fingerprints)
    pages |= render_fact_sheets(settings, policy_summary=summary, address=address, hostname=hostname,
                                reboot_time=reboot_time or None, in_service_since=since, fingerprints=fingerprints)
    default = default_language(settings)
    https = bool(settings.https_port and settings.acme_terms_accepted)  # the relay asks a CA for a certificate
    lighttpd = render("lighttpd/lighttpd.conf.j2", docroot=DOCROOT, http_port=settings.http_port,
                      hostname=hostname, access_log=settings.access_log,
                      tls_include=TLS_INCLUDE if https else "",
                      other_languages=[lang for lang in available_languages() if lang != default])
    return [
        *(ConfigFile(f"{DOCROOT}/{name}", html) for name, html in sorted(pages.items())),
        ConfigFile(f"{DOCROOT}/.well-known/security.txt",
                   render_security_txt(settings, hostname=hostname, expires=security_txt_expiry(now),
                                       is_exit=summary.is_exit)),
        ConfigFile(f"{DOCROOT}/exit-policy.txt", render_nym(policy)),
        *([ConfigFile(TLS_INCLUDE, render("https/lighttpd-tls.sh.j2", https_port=settings.https_port,
                                          tls_live=TLS_LIVE), mode="755")] if https else []),
        ConfigFile(LIGHTTPD_CONF, lighttpd, check="lighttpd -tt -f {path}"),
    ]
