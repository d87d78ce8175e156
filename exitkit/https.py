"""HTTPS for the notice page: which names the relay's certificate carries, the ACME client's files, when to renew.

The relay asks the CA itself, with Debian's dehydrated (IP identifiers from
0.7.1, ACME profiles from 0.7.2: Debian 13; Debian 12's 0.7.0 has neither, so a
Debian 12 relay is certified for its DNS name only). HTTP-01 challenges are
served by the relay's lighttpd from the notice page's web root. lighttpd gets an
HTTPS listener only once a certificate is in place (exitkit.notice.files'
``TLS_INCLUDE`` prints it then), so a relay without one serves HTTP as before.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from exitkit.configfile import UNITS, ConfigFile, static
from exitkit.notice.files import DOCROOT, LIGHTTPD_CONF, TLS_LIVE
from exitkit.releases import DEBIAN_12, Release
from exitkit.settings import RelaySettings
from exitkit.templating import render

ACME_DIR = "/var/lib/exitkit/acme"  # dehydrated's BASEDIR: the account key (a secret, never touched) and certificates
ACME_CONFIG = "/etc/exitkit/acme/config"
ACME_DOMAINS = "/etc/exitkit/acme/domains.txt"
ACME_HOOK = "/usr/local/lib/exitkit/acme-hook"
ACME_RENEW = "/usr/local/sbin/exitkit-acme-renew"
ACME_FAILURE = f"{ACME_DIR}/last-failure"  # the CA's message of the last attempt that failed; gone after a success
CHALLENGES = f"{DOCROOT}/.well-known/acme-challenge"
CERT_NAME = "notice"
RENEW_UNIT = "exitkit-acme-renew"
#: a certificate is renewed once less than this share of its life is left (Let's Encrypt's advice: a third)
RENEW_SHARE = 3
#: the profile Let's Encrypt requires for IP address certificates; asked for only where the CA offers it
IP_PROFILE = "shortlived"
#: what dehydrated's first Debian 12 release lacks
NO_IP_ON = {DEBIAN_12.codename: "Debian 12's dehydrated 0.7.0 cannot ask for IP address certificates"}


@dataclass(frozen=True)
class CertificatePlan:
    """What the relay's certificate names, or why the relay has no HTTPS (``why_not``)."""

    names: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()
    why_not: str = ""
    notes: tuple[str, ...] = ()

    @property
    def identifiers(self) -> tuple[str, ...]:
        """dehydrated's domains.txt spelling: names, then ``ip:`` addresses."""
        return self.names + tuple(f"ip:{address}" for address in self.addresses)


def certificate_plan(settings: RelaySettings, hostname: str, release: Release) -> CertificatePlan:
    """The relay's certificate from its settings, name and release."""
    if not settings.https_port:
        return CertificatePlan(why_not="no HTTPS: https_port is 0")
    if not settings.acme_terms_accepted:
        return CertificatePlan(why_not=f"no HTTPS: set acme_terms_accepted: true once you accept the terms of "
                                       f"{settings.acme_directory}")
    names = (hostname,) if hostname else ()
    addresses: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    if settings.acme_ip_certificates:
        wanted = tuple(a for a in (settings.public_ipv4, settings.public_ipv6) if a)
        if release.codename in NO_IP_ON:
            notes = (f"HTTPS: {NO_IP_ON[release.codename]}"
                     + (f"; the certificate names {hostname} only" if hostname else ""),)
        elif not wanted:
            notes = ("HTTPS: acme_ip_certificates is on but public_ipv4 and public_ipv6 are empty",)
        else:
            addresses = tuple(str(ipaddress.ip_address(a)) for a in wanted)
    if not names and not addresses:
        why = ("no HTTPS: the relay has no DNS name (set domain or hostname)"
               + ("" if settings.acme_ip_certificates else " and acme_ip_certificates is off"))
        return CertificatePlan(why_not=why, notes=notes)
    return CertificatePlan(names, addresses, notes=notes)


def https_files(settings: RelaySettings, plan: CertificatePlan) -> list[ConfigFile]:
    """The ACME client's configuration, its hook and renewal script, and the renewal timer; none without a plan."""
    if plan.why_not:
        return []
    contact = settings.acme_contact or settings.abuse_email
    values = dict(acme_dir=ACME_DIR, config=ACME_CONFIG, domains=ACME_DOMAINS, hook=ACME_HOOK, renew=ACME_RENEW,
                  failure=ACME_FAILURE, challenges=CHALLENGES, cert_name=CERT_NAME, tls_live=TLS_LIVE,
                  lighttpd_conf=LIGHTTPD_CONF, directory=settings.acme_directory, contact=contact,
                  https_port=settings.https_port, renew_share=RENEW_SHARE, ip_profile=IP_PROFILE,
                  has_addresses=bool(plan.addresses))
    return [
        ConfigFile(ACME_CONFIG, render("https/dehydrated.conf.j2", **values)),
        ConfigFile(ACME_DOMAINS, " ".join(plan.identifiers) + f" > {CERT_NAME}\n"),
        ConfigFile(ACME_HOOK, render("https/acme-hook.sh.j2", **values), mode="755"),
        ConfigFile(ACME_RENEW, render("https/exitkit-acme-renew.sh.j2", **values), mode="755"),
        ConfigFile(f"{UNITS}/{RENEW_UNIT}.service", render("https/exitkit-acme-renew.service.j2", **values)),
        static(f"{UNITS}/{RENEW_UNIT}.timer", "https/exitkit-acme-renew.timer"),
    ]


# ------------------------------------------------------------------ the certificate a relay serves
@dataclass(frozen=True)
class ServedCertificate:
    """What the relay's live certificate says, and the CA's message of the last failed attempt."""

    not_before: datetime | None = None
    not_after: datetime | None = None
    names: tuple[str, ...] = ()      # subjectAltName entries as dehydrated spells them (``ip:`` for addresses)
    serial: str = ""
    last_failure: str = ""

    @property
    def present(self) -> bool:
        return self.not_after is not None


def renewal_due(not_before: datetime, not_after: datetime, now: datetime) -> bool:
    """Whether less than 1/RENEW_SHARE of the certificate's life is left (the renewal script's rule too)."""
    return now >= not_after - (not_after - not_before) / RENEW_SHARE


def needs_asking(served: ServedCertificate, plan: CertificatePlan, now: datetime) -> bool:
    """Whether the relay must ask the CA now: no certificate, other names, or its renewal time came."""
    if plan.why_not:
        return False
    if not served.present or served.not_before is None or served.not_after is None:
        return True
    return sorted(served.names) != sorted(plan.identifiers) or renewal_due(served.not_before, served.not_after, now)


_OPENSSL_DATE = "%b %d %H:%M:%S %Y %Z"


def parse_served(output: str) -> ServedCertificate:
    """The ``CertificateFact`` output: ``openssl x509 -noout -startdate -enddate -serial -ext subjectAltName``
    of the live certificate (nothing when there is none), a ``--`` line, then the last failure's message."""
    lines = output.splitlines()
    cut = lines.index("--") if "--" in lines else len(lines)
    certificate, failure = "\n".join(lines[:cut]), "\n".join(lines[cut + 1:])
    fields: dict[str, str] = {}
    names: list[str] = []
    for line in certificate.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key in ("notBefore", "notAfter", "serial"):
            fields[key] = value.strip()
        for part in line.split(","):
            kind, colon, value = part.strip().partition(":")
            if colon and kind in ("DNS", "IP Address"):
                names.append(value.strip().lower() if kind == "DNS" else f"ip:{ipaddress.ip_address(value.strip())}")

    def date(key: str) -> datetime | None:
        return datetime.strptime(fields[key], _OPENSSL_DATE).replace(tzinfo=UTC) if key in fields else None

    return ServedCertificate(date("notBefore"), date("notAfter"), tuple(names), fields.get("serial", ""),
                             failure.strip())


def ca_message(output: str) -> str:
    """The CA's own words from dehydrated's output (the ``detail`` of an ACME problem), else its last ERROR line."""
    details = re.findall(r'"detail"\s*:\s*("(?:[^"\\]|\\.)*")', output)
    if details:
        return "; ".join(dict.fromkeys(json.loads(d) for d in details))
    errors = [line.strip() for line in output.splitlines() if "ERROR" in line]
    if errors:
        return errors[-1].removeprefix("ERROR: ")
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"

