"""The notice page's content as data, built from a relay's settings: what the template shows, in one language.

Which sentence, which link, which value: decided here, in the page's language
(``exitkit.notice.texts``); the structure is ``templates/notice/index.html.j2``.
Links are built by the template from the data prepared here.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from exitkit.notice.texts import Texts, available_languages, default_language, load_texts
from exitkit.policy import Enforcement, PolicySummary, enforcement, exit_addresses
from exitkit.settings import JURISDICTIONS, NETWORKS, RelaySettings
from exitkit.tor.relay import TorInstance, instances

#: Same-origin paths the page links to (served by lighttpd beside the page).
EXIT_POLICY_PATH = "/exit-policy.txt"
SECURITY_TXT_PATH = "/.well-known/security.txt"

#: The only other origins the page links to (plain anchors; nothing is loaded
#: from them): each network's own site and its published lists of exits.
ABOUT_URLS: dict[str, str] = {
    "tor": "https://www.torproject.org/",
    "nym": "https://nym.com/",
    "anyone": "https://anyone.io/",
}
TOR_BULK_EXIT_LIST = "https://check.torproject.org/torbulkexitlist"
TOR_EXONERATOR = "https://metrics.torproject.org/exonerator.html"
TOR_RELAY_SEARCH = "https://metrics.torproject.org/rs.html#search/"
TOR_RELAY_DETAILS = "https://metrics.torproject.org/rs.html#details/"
TOR_DNSEL_ZONE = "dnsel.torproject.org"
NYM_EXIT_GATEWAYS = "https://validator.nymtech.net/api/v1/unstable/nym-nodes/skimmed/exit-gateways/all"
ANYONE_BULK_EXIT_LIST = "https://check.en.anyone.tech/anonbulkexitlist"

#: Port lists longer than this are folded (``<details>``), so that Contact stays one scroll away on a phone.
FOLD_PORTS_AFTER = 12

_WEB_URL = re.compile(r"https?://[^\s<>\"'`\\]+")


@dataclass(frozen=True)
class Link:
    url: str
    label: str


@dataclass(frozen=True)
class LanguageLink:
    code: str
    name: str
    href: str
    current: bool


@dataclass(frozen=True)
class BlockItem:
    text: str
    link: Link | None = None
    detail: str = ""  # a second line, followed by code
    code: str = ""


@dataclass(frozen=True)
class PolicyView:
    is_exit: bool
    open_by_default: bool
    ports: tuple[tuple[str, str], ...]  # open ports, or closed ones when open_by_default
    ports_ipv6: tuple[tuple[str, str], ...]  # the same for IPv6, only when it differs
    open_by_default_ipv6: bool
    blocked: tuple[tuple[str, str], ...]  # (destination, reason)
    opened: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]
    full: Link
    ports_fold: str = ""  # the summary line that folds ``ports`` away, "" when the list is short
    ports_ipv6_fold: str = ""


@dataclass(frozen=True)
class ContactView:
    operator: str
    email: str
    mailto: str
    pgp: str = ""
    phone: str = ""
    tel: str = ""
    postal: str = ""
    website: str = ""
    website_url: str = ""  # only when website is a plain http(s) address


@dataclass(frozen=True)
class TorRelayView:
    """One tor instance at the relay's address: its nickname and, once tor has made its keys, its fingerprint."""

    nickname: str
    search: Link  # Tor Metrics' relay search for the nickname
    fingerprint: str = ""  # grouped in fours, as ``tor --list-fingerprint`` prints it; "" before tor made its keys
    record: Link | None = None  # Tor Metrics' record of this fingerprint


@dataclass(frozen=True)
class InvestigatorsView:
    """What an investigator needs in one place; also the printable fact sheet's content."""

    handover: str  # what the operator can and cannot hand over
    papers: str  # postal address for legal papers ("" when not set)
    languages: tuple[str, ...]  # names of the languages the operator reads
    response: str  # the committed response time, worded ("" without a commitment)
    lookups: tuple[Link, ...]  # the network's public records, opened for this address
    relays: tuple[TorRelayView, ...]  # every tor instance, in the order of the settings
    fact_sheet: Link
    in_service_since: str = ""  # UTC date the kit first converged the relay (fleet history); "" unknown

    @property
    def fingerprinted(self) -> tuple[TorRelayView, ...]:
        """The instances whose fingerprint is known (all of them, once tor has run)."""
        return tuple(relay for relay in self.relays if relay.fingerprint)


@dataclass(frozen=True)
class LawSection:
    code: str
    heading: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class NoticeContext:
    """Everything the template shows, already in the page's language."""

    lang: str
    network: str
    t: dict  # all texts of the language, filled in (headings and labels)
    title: str
    heading: str
    lead: str
    languages: tuple[LanguageLink, ...]
    identity: tuple[tuple[str, tuple[str, ...]], ...]  # (label, values)
    summary: tuple[tuple[str, Link | None], ...]  # (sentence, link after it)
    about_heading: str
    about: tuple[str, ...]
    about_link: Link | None
    records: tuple[str, ...]
    connections_intro: str
    connections: tuple[str, ...]  # what the host itself connects to, one item each
    connections_note: str
    blocking_intro: tuple[str, ...]
    blocking: tuple[BlockItem, ...]
    policy: PolicyView
    contact: ContactView
    report: str  # what to put in a report
    investigators: InvestigatorsView
    law: tuple[LawSection, ...]


def _lifetime_text(texts: Texts, hours: int) -> str:
    if hours == 1:
        return texts("units.hours_one")
    return texts("units.hours_other", n=hours)


def text_values(settings: RelaySettings, *, address: str, reboot_time: str | None) -> dict[str, str]:
    return {
        "address": str(address),
        "operator": str(settings.operator_name or ""),
        "lifetime": "",  # worded per language below
        "time": str(reboot_time or ""),
        "window": str(settings.reboot_window or ""),
        "timezone": str(settings.timezone or ""),
        "interface": str(settings.exit_interface or ""),
        "exit_addresses": ", ".join(exit_addresses(settings)),
        "resolvers": ", ".join(str(a) for a in settings.dns_forwarders),
        "response": "",  # worded per language below
    }


def page_texts(settings: RelaySettings, lang: str, *, address: str, reboot_time: str | None) -> Texts:
    """One language's texts filled in as this relay's page fills them (what ``claims.keys_in`` looks for)."""
    texts = Texts(lang, text_values(settings, address=address, reboot_time=reboot_time))
    texts.values["lifetime"] = _lifetime_text(texts, int(settings.log_lifetime_hours))
    texts.values["response"] = _lifetime_text(texts, int(settings.response_time_hours or 0))
    return texts


def runs_daemon(settings: RelaySettings) -> bool:
    """Whether exitkit sets up the network's own software on the relay (tor only); for the others the
    operator runs it, so the page states about it only what the operator states in the settings."""
    return settings.network == "tor"


def _records(settings: RelaySettings, texts: Texts, reboot_time: str | None) -> tuple[str, ...]:
    """What the relay keeps: exactly what the maintenance settings make it do."""
    if runs_daemon(settings):
        lines = [texts("records.no_traffic")]
    else:
        stated = "daemon.statement" if settings.daemon_no_traffic_logs else "daemon.unknown"
        lines = [texts("daemon.records_kit"), texts(stated)]
    lines.append(texts("records.operational"))
    lines.append(texts("records.web_log" if settings.access_log else "records.web_no_log"))
    if settings.reboot == "nightly":
        lines.append(texts("records.reboot_nightly" if reboot_time else "records.reboot_nightly_window"))
    elif settings.reboot == "when-required":
        lines.append(texts("records.reboot_when_required"))
    if settings.reboot != "never":
        lines.append(texts("records.reboot_skipped"))  # the reboot script's guard (exitkit-reboot.sh)
    if settings.security_updates:
        lines.append(texts("records.updates"))
    if runs_daemon(settings):
        lines.append(texts("records.consequence"))
    return tuple(lines)


def _connections(settings: RelaySettings, texts: Texts) -> tuple[str, ...]:
    """What the host itself connects to, from the settings: packages, DNS, the network, time."""
    items = [texts("connections.apt_debian")]
    if settings.network == "tor" and settings.tor_package_source == "torproject":
        items.append(texts("connections.apt_torproject"))
    items.append(texts("connections.dns_forwarders" if settings.dns_forwarders else "connections.dns_root"))
    items.append(texts("connections.tor_relays" if runs_daemon(settings) else "connections.daemon"))
    return tuple(items)


def _dnsel_name(*candidates: str) -> str:
    """The TorDNSEL name to look up for the relay's IPv4 address ("" without one)."""
    for candidate in candidates:
        try:
            address = ipaddress.ip_address(str(candidate).strip())
        except ValueError:
            continue
        if address.version == 4:
            return ".".join(reversed(str(address).split("."))) + "." + TOR_DNSEL_ZONE
    return ""


def _blocking(settings: RelaySettings, texts: Texts, address: str) -> tuple[BlockItem, ...]:
    net = settings.network
    key = f"networks.{net}."
    if net == "tor":
        dnsel = _dnsel_name(address, settings.public_ipv4)
        return (
            BlockItem(texts(key + "block_list"), Link(TOR_BULK_EXIT_LIST, TOR_BULK_EXIT_LIST)),
            BlockItem(texts(key + "block_dns"), detail=texts(key + "block_dns_this") if dnsel else "", code=dnsel),
            BlockItem(texts(key + "block_past"), Link(TOR_EXONERATOR, TOR_EXONERATOR)),
        )
    if net == "nym":
        return (BlockItem(texts(key + "block_list"), Link(NYM_EXIT_GATEWAYS, NYM_EXIT_GATEWAYS)),)
    if net == "anyone":
        return (
            BlockItem(texts(key + "block_list"), Link(ANYONE_BULK_EXIT_LIST, ANYONE_BULK_EXIT_LIST)),
            BlockItem(texts(key + "block_separate")),
        )
    return (BlockItem(texts(key + "block_list")),)


def external_links(network: str) -> tuple[str, ...]:
    """Every address on another origin a page of this network may link to (besides operator_url)."""
    links = {
        "tor": (TOR_BULK_EXIT_LIST, TOR_EXONERATOR),
        "nym": (NYM_EXIT_GATEWAYS,),
        "anyone": (ANYONE_BULK_EXIT_LIST,),
        "mix": (),
    }[network]
    return links + ((ABOUT_URLS[network],) if network in ABOUT_URLS else ())


def _policy(summary: PolicySummary, texts: Texts, where: Enforcement) -> PolicyView:
    """The policy section from the policy module's summary and enforcement claim (data; the words are the
    language's)."""
    by_default = bool(summary.open_by_default)
    ports = tuple(summary.closed_ports if by_default else summary.open_ports)
    ports6: tuple[tuple[str, str], ...] = ()
    by_default6 = sum(_port_count(port) for port, _ in summary.open_ports_ipv6) > 65535 // 2
    if summary.ipv6_exit and summary.is_exit and tuple(summary.open_ports_ipv6) != tuple(summary.open_ports):
        ports6 = tuple(summary.closed_ports_ipv6 if by_default6 else summary.open_ports_ipv6)
    no_reason = texts("policy.no_reason")
    return PolicyView(
        is_exit=bool(summary.is_exit),
        open_by_default=by_default,
        ports=ports,
        ports_ipv6=ports6,
        open_by_default_ipv6=by_default6,
        blocked=tuple((str(destination), str(note) or no_reason) for destination, note in summary.blocked),
        opened=tuple((str(destination), str(note)) for destination, note in summary.opened),
        notes=_policy_notes(summary, texts, where),
        full=Link(EXIT_POLICY_PATH, EXIT_POLICY_PATH),
        ports_fold=_fold_label(texts, ports),
        ports_ipv6_fold=_fold_label(texts, ports6),
    )


def _policy_notes(summary: PolicySummary, texts: Texts, where: Enforcement) -> tuple[str, ...]:
    """IPv6, private ranges, traffic without ports (where the network carries it) and where the policy holds."""
    notes = [texts("policy.ipv6_on" if summary.ipv6_exit else "policy.ipv6_off"), texts("policy.private")]
    if summary.is_exit and where.carries_portless:
        notes.append(texts("policy.portless_open" if summary.portless_open else "policy.portless_closed"))
    notes.append(texts(where.text_key))
    return tuple(notes)


def _fold_label(texts: Texts, ports: tuple[tuple[str, str], ...]) -> str:
    """The line a long port list is folded behind, with how many ports it holds ("" for a short list)."""
    if len(ports) <= FOLD_PORTS_AFTER:
        return ""
    return texts("units.ports_list", n=sum(_port_count(port) for port, _ in ports))


def _port_count(text: str) -> int:
    """How many ports a summary's port text ("443", "8000-8100") covers."""
    low, _, high = str(text).partition("-")
    try:
        return int(high or low) - int(low) + 1
    except ValueError:
        return 0


def mailto(email: str, subject: str = "") -> str:
    """A mailto: URI (RFC 6068) for an address, with an optional subject."""
    uri = "mailto:" + quote(str(email).strip(), safe="@!$*+")
    if subject:
        uri += "?subject=" + quote(subject, safe="")
    return uri


def tel(phone: str) -> str:
    """A tel: URI (RFC 3966) for an international number ("" if it has no digits)."""
    digits = re.sub(r"[^0-9]", "", str(phone))
    return f"tel:+{digits}" if digits else ""


def _contact(settings: RelaySettings, texts: Texts) -> ContactView:
    website = str(settings.operator_url or "").strip()
    return ContactView(
        operator=str(settings.operator_name or ""),
        email=str(settings.abuse_email or ""),
        mailto=mailto(settings.abuse_email or "", texts("contact.mail_subject")),
        pgp=str(settings.pgp_fingerprint or ""),
        phone=str(settings.phone or ""),
        tel=tel(settings.phone) if settings.phone else "",
        postal=str(settings.postal_address or ""),
        website=website,
        website_url=website if _WEB_URL.fullmatch(website) else "",
    )


#: The DSA's articles on a mere conduit and on monitoring (Germany applies them through § 7(1) DDG).
_DSA = ("dsa.mere_conduit", "dsa.no_monitoring")

#: Text keys under ``law`` of each jurisdiction's paragraphs, in order.
_LAW_PARAGRAPHS: dict[str, tuple[str, ...]] = {
    "us": ("us.mere_transit", "us.conditions", "us.no_accounts", "us.subpoena", "us.records"),
    "de": ("de.ddg_scope", *_DSA, "de.ddg", "de.blocking"),
    "jp": ("jp.act", "jp.requests", "jp.police", "jp.secrecy"),
    "eu": (*_DSA, "eu.gdpr"),
}


def law_paragraphs(chosen: tuple[str, ...], network: str = "tor") -> dict[str, tuple[str, ...]]:
    """The text keys of each chosen jurisdiction's paragraphs; the DSA's articles are explained once.

    With both ``de`` and ``eu`` chosen, the European Union's section explains them
    and Germany's points there instead of repeating them. A mix cascade's operator
    may sell accounts, so its page does not say the network has none.
    """
    paragraphs = {}
    for code in chosen:
        keys = tuple(key for key in _LAW_PARAGRAPHS[code] if not (key == "us.no_accounts" and network == "mix"))
        if code == "de" and "eu" in chosen:
            keys = tuple(key for key in keys if key not in _DSA)
            keys = keys[:1] + ("de.dsa_in_eu",) + keys[1:]
        paragraphs[code] = keys
    return paragraphs


def _law(settings: RelaySettings, texts: Texts) -> tuple[LawSection, ...]:
    chosen = tuple(code for code in dict.fromkeys(settings.jurisdictions or ()) if code in JURISDICTIONS)
    return tuple(
        LawSection(code, texts(f"law.{code}.heading"), tuple(texts(f"law.{key}") for key in keys))
        for code, keys in law_paragraphs(chosen, settings.network).items()
    )


def reader_languages(settings: RelaySettings) -> tuple[str, ...]:
    """The languages the operator reads reports in: the setting, else the page's default language."""
    return tuple(settings.investigator_languages) or (default_language(settings),)


def _language_name(code: str) -> str:
    return load_texts(code)["meta"]["language_name"] if code in available_languages() else code


def fact_sheet_path(lang: str) -> str:
    return f"/facts.{lang}.html"


_FINGERPRINT = re.compile(r"[0-9A-F]{40}")


def grouped_fingerprint(fingerprint: str) -> str:
    """A relay's RSA identity fingerprint in groups of four, as ``tor --list-fingerprint`` and Tor Metrics show it.

    Accepts it as tor's ``fingerprint`` file holds it (40 hex digits) or already grouped; anything else is refused,
    so a page never shows a value no lookup could find.
    """
    compact = str(fingerprint).replace(" ", "").upper()
    if not _FINGERPRINT.fullmatch(compact):
        raise ValueError(f"expected a tor fingerprint of 40 hexadecimal digits, not {fingerprint!r}")
    return " ".join(compact[i:i + 4] for i in range(0, 40, 4))


def _tor_relay(instance: TorInstance, fingerprints: Mapping[str, str]) -> TorRelayView:
    search = Link(TOR_RELAY_SEARCH + quote(instance.nickname), instance.nickname)
    fingerprint = fingerprints.get(instance.data_dir, "")
    if not fingerprint:
        return TorRelayView(instance.nickname, search)
    grouped = grouped_fingerprint(fingerprint)
    return TorRelayView(instance.nickname, search, grouped, Link(TOR_RELAY_DETAILS + grouped.replace(" ", ""), grouped))


def _investigators(settings: RelaySettings, texts: Texts, address: str, lang: str,
                   in_service_since: str, fingerprints: Mapping[str, str]) -> InvestigatorsView:
    lookups: tuple[Link, ...] = ()
    relays: tuple[TorRelayView, ...] = ()
    if settings.network == "tor":
        ip = next((a for a in _addresses(address, settings) if _is_ip(a)), "")
        if ip:
            lookups = (Link(TOR_RELAY_SEARCH + quote(ip, safe=":."), texts("investigators.relay_search")),
                       Link(f"{TOR_EXONERATOR}?ip={quote(ip, safe=':.')}", texts("investigators.exonerator")))
        relays = tuple(_tor_relay(instance, fingerprints) for instance in instances(settings))
    return InvestigatorsView(
        handover=texts("investigators.handover" if runs_daemon(settings) else "investigators.handover_kit"),
        papers=str(settings.postal_address or ""),
        languages=tuple(_language_name(code) for code in reader_languages(settings)),
        response=texts("investigators.response") if settings.response_time_hours else "",
        lookups=lookups,
        relays=relays,
        fact_sheet=Link(fact_sheet_path(lang), fact_sheet_path(lang)),
        in_service_since=in_service_since,
    )


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _addresses(address: str, settings: RelaySettings) -> tuple[str, ...]:
    found = [str(a).strip() for a in (address, settings.public_ipv4, settings.public_ipv6) if a and str(a).strip()]
    return tuple(dict.fromkeys(found))


def language_links(lang: str) -> tuple[LanguageLink, ...]:
    return tuple(
        LanguageLink(code, load_texts(code)["meta"]["language_name"], f"/index.{code}.html", code == lang)
        for code in available_languages()
    )


def _summary(settings: RelaySettings, texts: Texts, contact: ContactView,
             is_exit: bool) -> tuple[tuple[str, Link | None], ...]:
    lines: list[tuple[str, Link | None]] = [(texts("summary.relay" if is_exit else "not_exit.summary"), None)]
    if runs_daemon(settings):
        lines.append((texts("summary.no_records"), None))
    elif settings.daemon_no_traffic_logs:
        lines.append((texts("daemon.summary_stated"), None))
    lines += [
        (texts("connections.summary"), Link("#connections", texts("connections.heading"))),
        (texts("summary.ask_first"), Link(contact.mailto, contact.email)),
        (texts("summary.block"), Link("#blocking", texts("blocking.heading"))),
    ]
    return tuple(lines)


def notice_context(
    settings: RelaySettings,
    *,
    policy_summary: PolicySummary,
    address: str,
    hostname: str,
    reboot_time: str | None,
    lang: str,
    in_service_since: str = "",
    fingerprints: Mapping[str, str] | None = None,
) -> NoticeContext:
    """The page's content in one language, as data for the template.

    ``fingerprints`` maps a tor instance's data directory to the fingerprint tor wrote there; an instance
    without one (tor has not made its keys yet) is shown by its nickname alone.
    """
    if settings.network not in NETWORKS:
        raise ValueError(f"expected a network out of {', '.join(NETWORKS)}, not {settings.network!r}")
    texts = page_texts(settings, lang, address=address, reboot_time=reboot_time)
    net = f"networks.{settings.network}."
    is_exit = bool(policy_summary.is_exit)  # the policy library's own answer: does it accept anything at all
    role = net if is_exit else f"not_exit.{settings.network}."
    identity = [
        (texts("identity.network"), (texts(net + "name"),)),
        (texts("identity.hostname"), (str(hostname),)) if hostname else None,
        (texts("identity.addresses"), _addresses(address, settings)),
        (texts("identity.nickname"), (str(settings.nickname),)) if settings.nickname else None,
        (texts("identity.operator"), (str(settings.operator_name or ""),)),
    ]
    about_url = ABOUT_URLS.get(settings.network)
    contact = _contact(settings, texts)
    return NoticeContext(
        lang=lang,
        network=settings.network,
        t=texts.tree(),
        title=texts(role + "title"),
        heading=texts(role + "heading"),
        lead=texts(role + "lead"),
        languages=language_links(lang),
        identity=tuple(row for row in identity if row and row[1]),
        summary=_summary(settings, texts, contact, is_exit),
        about_heading=texts(net + "about_heading" if is_exit else "not_exit.about_heading"),
        about=(
            (texts(net + "what"), texts("about.many_users"), texts("about.not_origin")) if is_exit
            else (texts("not_exit.about"),)
        ) + (texts("about.cannot_identify"),),
        about_link=Link(about_url, texts(net + "more")) if about_url else None,
        records=_records(settings, texts, reboot_time),
        connections_intro=texts("connections.intro"),
        connections=_connections(settings, texts),
        connections_note=texts("connections.time"),
        blocking_intro=(texts("blocking.ask_first"), texts("blocking.scope")),
        blocking=_blocking(settings, texts, address),
        policy=_policy(policy_summary, texts, enforcement(settings)),
        contact=contact,
        report=texts("contact.report" if is_exit else "not_exit.report"),
        investigators=_investigators(settings, texts, address, lang, in_service_since, fingerprints or {}),
        law=_law(settings, texts),
    )
