"""The notice page: what this address is, served by a hardened lighttpd that logs no visitor."""

from __future__ import annotations

from datetime import datetime, timezone
from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import files, systemd

from deploys.context import plan, relay_settings, render
from deploys.ops import checked_file
from exitkit import notice
from exitkit.plan import exit_policy_of
from exitkit.policy import render_nym, summarise

DOCROOT = "/var/www/exitkit"


def security_txt_expiry(now: datetime | None = None) -> datetime:
    """First of the month, 11 months ahead: always in the future, under RFC 9116's year, and
    the same all month long, so re-runs change nothing."""
    now = now or datetime.now(timezone.utc)
    month = now.month + 11
    return datetime(now.year + (month - 1) // 12, (month - 1) % 12 + 1, 1, tzinfo=timezone.utc)


@deploy("Notice page")
def notice_page():
    s = relay_settings()
    policy = exit_policy_of(s)
    hostname = plan("hostname") or ""
    address = s.public_ipv4 or s.public_ipv6 or hostname
    files.directory(name="Web root", path=f"{DOCROOT}/.well-known", mode="755")
    pages = notice.render_pages(s, policy_summary=summarise(policy), address=address, hostname=hostname,
                                reboot_time=plan("reboot_time") or None)
    for name, html in sorted(pages.items()):
        files.put(name=f"Notice page {name}", src=StringIO(html), dest=f"{DOCROOT}/{name}", mode="644")
    files.put(name="security.txt (RFC 9116)", dest=f"{DOCROOT}/.well-known/security.txt", mode="644",
              src=StringIO(notice.render_security_txt(s, hostname=hostname, expires=security_txt_expiry())))
    files.put(name="Machine-readable exit policy", src=StringIO(render_nym(policy)),
              dest=f"{DOCROOT}/exit-policy.txt", mode="644")
    default = notice.default_language(s)
    config = checked_file(
        name="lighttpd configuration, checked by lighttpd -tt first",
        content=render("lighttpd/lighttpd.conf.j2", docroot=DOCROOT, http_port=s.http_port, hostname=hostname,
                       access_log=s.access_log,
                       other_languages=[lang for lang in notice.available_languages() if lang != default]),
        dest="/etc/lighttpd/lighttpd.conf", check="lighttpd -tt -f {path}")
    systemd.service(name="lighttpd enabled and running", service="lighttpd.service", running=True, enabled=True)
    systemd.service(name="Reload lighttpd for its checked new configuration", service="lighttpd.service",
                    reloaded=True, _if=config.did_change)
