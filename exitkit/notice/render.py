"""The notice's renderings through ``exitkit.templating``: the page in each language, and security.txt."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from exitkit import checks
from exitkit.notice.content import (
    SECURITY_TXT_PATH,
    fact_sheet_path,
    mailto,
    notice_context,
    reader_languages,
    tel,
    text_values,
)
from exitkit.notice.texts import REFERENCE_LANGUAGE, Texts, available_languages, default_language
from exitkit.policy import PolicySummary
from exitkit.settings import RelaySettings
from exitkit.templating import render


def render_notice(
    settings: RelaySettings,
    *,
    policy_summary: PolicySummary,
    address: str,
    hostname: str,
    reboot_time: str | None,
    lang: str,
    in_service_since: str = "",
    fingerprints: Mapping[str, str] | None = None,
) -> str:
    """The notice page in one language, as HTML (``fingerprints``: tor data dir -> fingerprint, as known)."""
    context = notice_context(
        settings, policy_summary=policy_summary, address=address, hostname=hostname, reboot_time=reboot_time, lang=lang,
        in_service_since=in_service_since, fingerprints=fingerprints,
    )
    return render("notice/index.html.j2", page=context)


def render_fact_sheet(settings: RelaySettings, **where: Any) -> str:
    """The printable one-page fact sheet for investigators in one language, as HTML: the page's own data
    (``where``: render_notice's keywords), laid out by templates/notice/facts.html.j2."""
    return render("notice/facts.html.j2", page=notice_context(settings, **where))


def render_pages(
    settings: RelaySettings,
    *,
    policy_summary: PolicySummary,
    address: str,
    hostname: str,
    reboot_time: str | None,
    in_service_since: str = "",
    fingerprints: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """File name -> HTML: index.html in the default language, index.<code>.html for every language."""
    pages = {
        f"index.{code}.html": render_notice(settings, policy_summary=policy_summary, address=address, hostname=hostname,
                                            reboot_time=reboot_time, lang=code, in_service_since=in_service_since,
                                            fingerprints=fingerprints)
        for code in available_languages()
    }
    return {"index.html": pages[f"index.{default_language(settings)}.html"], **pages}


def render_fact_sheets(settings: RelaySettings, **where: Any) -> dict[str, str]:
    """File name -> HTML: the fact sheet facts.<code>.html for every language (``where`` as render_pages')."""
    return {fact_sheet_path(code).lstrip("/"): render_fact_sheet(settings, lang=code, **where)
            for code in available_languages()}


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())


def _utc_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def https_origin(settings: RelaySettings, host: str) -> str:
    """``https://host[:port]`` where the relay asks for a certificate (its HTTPS settings), else ''."""
    if not (host and settings.https_port and settings.acme_terms_accepted):
        return ""
    return f"https://{host}" + ("" if settings.https_port == 443 else f":{settings.https_port}")


def render_security_txt(settings: RelaySettings, *, hostname: str, expires: datetime, is_exit: bool) -> str:
    """/.well-known/security.txt (RFC 9116): what the address is (an exit or not, as the policy says), contact,
    expiry, languages, canonical address."""
    try:
        host = checks.hostname(hostname) if hostname else ""
    except ValueError:
        host = ""
    languages = reader_languages(settings)
    english = Texts(REFERENCE_LANGUAGE, text_values(settings, address="", reboot_time=None))
    return render(
        "notice/security.txt.j2",
        network=_one_line(english(f"networks.{settings.network}.name")),
        role=_one_line(english("security_txt.exit" if is_exit else "security_txt.not_exit")),
        notice_url=f"http://{host}/" if host else "",
        contacts=[c for c in (mailto(_one_line(settings.abuse_email or "")),
                              tel(settings.phone) if settings.phone else "") if c],
        expires=_utc_text(expires),
        languages=languages,
        canonical=f"{https_origin(settings, host) or 'http://' + host}{SECURITY_TXT_PATH}" if host else "",
    )
