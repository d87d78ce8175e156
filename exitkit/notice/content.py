"""The notice page every relay serves at http://<address>/, and its security.txt.

Pure logic: no host access. The page says what the address is (an exit of an
anonymity network), what the relay keeps (exactly what the settings make the
maintenance jobs do), how to block or filter it, its exit policy (from
``exitkit.policy.summarise``), whom to contact, and, for the jurisdictions the
operator chose, short legal notes.

Where things live:

- prose: ``exitkit/notice_texts/<lang>.yml``, one file per language; the set
  of languages is the set of files (``available_languages``); en.yml is the
  reference every other file must match key for key (``text_problems``);
- structure: ``templates/notice/index.html.j2`` and ``security.txt.j2``;
- logic (which sentence, which link, which value): here.

Texts are plain strings with ``{name}`` placeholders; they are filled in here,
before the template escapes them (Jinja2 autoescape is on for HTML), so an
operator's value can never become markup. Links are built by the template
from data prepared here.
"""

from __future__ import annotations

import copy
import functools
import ipaddress
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from exitkit import checks
from exitkit.policy import PolicySummary
from exitkit.settings import JURISDICTIONS, NETWORKS, RelaySettings
from exitkit.templating import render

TEXTS_DIR = Path(__file__).resolve().parent / "notice_texts"
REFERENCE_LANGUAGE = "en"

#: Placeholders a text may use (see the comment at the top of en.yml).
PLACEHOLDERS = frozenset({"address", "operator", "lifetime", "time", "window", "timezone"})
#: Placeholders only the texts under ``units`` may use.
UNIT_PLACEHOLDERS = frozenset({"n"})

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
TOR_DNSEL_ZONE = "dnsel.torproject.org"
NYM_EXIT_GATEWAYS = "https://validator.nymtech.net/api/v1/unstable/nym-nodes/skimmed/exit-gateways/all"
ANYONE_BULK_EXIT_LIST = "https://check.en.anyone.tech/anonbulkexitlist"

_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{1,8})*")
_WEB_URL = re.compile(r"https?://[^\s<>\"'`\\]+")
_FORMATTER = string.Formatter()


# --------------------------------------------------------------------------
# Languages and their texts.
# --------------------------------------------------------------------------


def available_languages() -> tuple[str, ...]:
    """The languages with a text file, English first, then by code."""
    codes = sorted(p.stem for p in TEXTS_DIR.glob("*.yml") if _LANGUAGE_CODE.fullmatch(p.stem))
    if REFERENCE_LANGUAGE in codes:
        codes.remove(REFERENCE_LANGUAGE)
        codes.insert(0, REFERENCE_LANGUAGE)
    return tuple(codes)


@functools.cache
def _read_texts(path: Path, mtime_ns: int) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of text keys")
    return data


def load_texts(lang: str) -> dict:
    """The texts of one language as nested dicts of strings (a copy; cached reads)."""
    if not isinstance(lang, str) or not _LANGUAGE_CODE.fullmatch(lang):
        raise ValueError(f"expected a language code such as en, not {lang!r}")
    path = TEXTS_DIR / f"{lang}.yml"
    if not path.is_file():
        raise ValueError(f"no texts for language {lang!r}: expected {path} "
                         f"(available: {', '.join(available_languages())})")
    return copy.deepcopy(_read_texts(path, path.stat().st_mtime_ns))


def flatten(texts: Mapping, prefix: str = "") -> dict[str, Any]:
    """Nested texts as {"a.b.c": value}."""
    flat: dict[str, Any] = {}
    for key, value in texts.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def placeholders(text: str) -> set[str]:
    """The {names} a text uses (raises ValueError on a malformed brace)."""
    return {name for _, name, _, _ in _FORMATTER.parse(text) if name is not None}


def compare_texts(reference: Mapping, other: Mapping) -> list[str]:
    """Every way ``other`` differs in shape from ``reference``: keys, types, placeholders."""
    ref, oth = flatten(reference), flatten(other)
    problems = [f"missing key {key}" for key in ref if key not in oth]
    problems += [f"extra key {key}" for key in oth if key not in ref]
    for key in ref.keys() & oth.keys():
        if not isinstance(oth[key], str) or not oth[key].strip():
            problems.append(f"key {key}: expected a non-empty text, got {oth[key]!r}")
            continue
        try:
            want, got = placeholders(ref[key]), placeholders(oth[key])
        except ValueError as error:
            problems.append(f"key {key}: malformed braces ({error}); write a literal brace as {{{{ or }}}}")
            continue
        if want != got:
            problems.append(f"key {key}: placeholders {sorted(got)} differ from English {sorted(want)}")
    return sorted(problems)


def text_problems(lang: str) -> list[str]:
    """What is wrong with a language file compared with en.yml ([] when nothing)."""
    texts = load_texts(lang)
    problems = [] if lang == REFERENCE_LANGUAGE else compare_texts(load_texts(REFERENCE_LANGUAGE), texts)
    for key, value in flatten(texts).items():
        if not isinstance(value, str):
            if lang == REFERENCE_LANGUAGE:
                problems.append(f"key {key}: expected a text, got {value!r}")
            continue
        try:
            used = placeholders(value)
        except ValueError as error:
            if lang == REFERENCE_LANGUAGE:
                problems.append(f"key {key}: malformed braces ({error})")
            continue
        clash = [part for part in key.split(".") if hasattr(dict, part)]
        if clash:
            problems.append(f"key {key}: {clash[0]!r} is a reserved name (the template could not reach it)")
        allowed = PLACEHOLDERS | (UNIT_PLACEHOLDERS if key.startswith("units.") else frozenset())
        if used - allowed:
            problems.append(f"key {key}: unknown placeholders {sorted(used - allowed)}")
    return problems


def default_language(settings: RelaySettings) -> str:
    """The language served at /: the setting, or English while its file is missing."""
    return settings.language if settings.language in available_languages() else REFERENCE_LANGUAGE


class _Texts:
    """One language's texts, filled in with this page's values."""

    def __init__(self, lang: str, values: Mapping[str, str]):
        self.raw = load_texts(lang)
        reference = load_texts(REFERENCE_LANGUAGE) if lang != REFERENCE_LANGUAGE else self.raw
        self.flat = {**flatten(reference), **flatten(self.raw)}  # English for anything missing
        self.values = dict(values)

    def __call__(self, key: str, **extra: Any) -> str:
        text = self.flat[key]
        values = {**self.values, **{k: str(v) for k, v in extra.items()}}
        return _FORMATTER.vformat(text, (), values)

    def tree(self) -> dict:
        """All texts, filled in, nested as in the file (for headings and labels)."""
        out: dict = {}
        for key in self.flat:
            node = out
            *parents, last = key.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            if key.startswith("units."):
                node[last] = self.flat[key]
            else:
                node[last] = self(key)
        return out


# --------------------------------------------------------------------------
# The page's content, as data.
# --------------------------------------------------------------------------


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
    blocking_intro: tuple[str, ...]
    blocking: tuple[BlockItem, ...]
    policy: PolicyView
    contact: ContactView
    law: tuple[LawSection, ...]


def _lifetime_text(texts: _Texts, hours: int) -> str:
    if hours == 1:
        return texts("units.hours_one")
    return texts("units.hours_other", n=hours)


def _text_values(settings: RelaySettings, *, address: str, reboot_time: str | None) -> dict[str, str]:
    return {
        "address": str(address),
        "operator": str(settings.operator_name or ""),
        "lifetime": "",  # worded per language below
        "time": str(reboot_time or ""),
        "window": str(settings.reboot_window or ""),
        "timezone": str(settings.timezone or ""),
    }


def _texts_for(settings: RelaySettings, lang: str, *, address: str, reboot_time: str | None) -> _Texts:
    texts = _Texts(lang, _text_values(settings, address=address, reboot_time=reboot_time))
    texts.values["lifetime"] = _lifetime_text(texts, int(settings.log_lifetime_hours))
    return texts


def _records(settings: RelaySettings, texts: _Texts, reboot_time: str | None) -> tuple[str, ...]:
    """What the relay keeps: exactly what the maintenance settings make it do."""
    lines = [texts("records.no_traffic"), texts("records.operational")]
    lines.append(texts("records.web_log" if settings.access_log else "records.web_no_log"))
    if settings.reboot == "nightly":
        lines.append(texts("records.reboot_nightly" if reboot_time else "records.reboot_nightly_window"))
    elif settings.reboot == "when-required":
        lines.append(texts("records.reboot_when_required"))
    if settings.security_updates:
        lines.append(texts("records.updates"))
    lines.append(texts("records.consequence"))
    return tuple(lines)


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


def _blocking(settings: RelaySettings, texts: _Texts, address: str) -> tuple[BlockItem, ...]:
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


def _policy(summary: PolicySummary, texts: _Texts) -> PolicyView:
    """The policy section from the policy module's summary (data; the words are the language's)."""
    by_default = bool(summary.open_by_default)
    ports6: tuple[tuple[str, str], ...] = ()
    by_default6 = sum(_port_count(port) for port, _ in summary.open_ports_ipv6) > 65535 // 2
    if summary.ipv6_exit and summary.is_exit and tuple(summary.open_ports_ipv6) != tuple(summary.open_ports):
        ports6 = tuple(summary.closed_ports_ipv6 if by_default6 else summary.open_ports_ipv6)
    no_reason = texts("policy.no_reason")
    return PolicyView(
        is_exit=bool(summary.is_exit),
        open_by_default=by_default,
        ports=tuple(summary.closed_ports if by_default else summary.open_ports),
        ports_ipv6=ports6,
        open_by_default_ipv6=by_default6,
        blocked=tuple((str(destination), str(note) or no_reason) for destination, note in summary.blocked),
        opened=tuple((str(destination), str(note)) for destination, note in summary.opened),
        notes=(texts("policy.ipv6_on" if summary.ipv6_exit else "policy.ipv6_off"), texts("policy.private")),
        full=Link(EXIT_POLICY_PATH, EXIT_POLICY_PATH),
    )


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


def _contact(settings: RelaySettings, texts: _Texts) -> ContactView:
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


_LAW_PARAGRAPHS: dict[str, tuple[str, ...]] = {
    "us": ("mere_transit", "records"),
    "de": ("mere_conduit", "ddg", "blocking"),
    "jp": ("act", "requests", "secrecy"),
    "eu": ("mere_conduit", "gdpr"),
}


def _law(settings: RelaySettings, texts: _Texts) -> tuple[LawSection, ...]:
    chosen = [code for code in dict.fromkeys(settings.jurisdictions or ()) if code in JURISDICTIONS]
    return tuple(
        LawSection(code, texts(f"law.{code}.heading"), tuple(texts(f"law.{code}.{p}") for p in _LAW_PARAGRAPHS[code]))
        for code in chosen
    )


def _addresses(address: str, settings: RelaySettings) -> tuple[str, ...]:
    found = [str(a).strip() for a in (address, settings.public_ipv4, settings.public_ipv6) if a and str(a).strip()]
    return tuple(dict.fromkeys(found))


def language_links(lang: str) -> tuple[LanguageLink, ...]:
    return tuple(
        LanguageLink(code, load_texts(code)["meta"]["language_name"], f"/index.{code}.html", code == lang)
        for code in available_languages()
    )


def notice_context(
    settings: RelaySettings,
    *,
    policy_summary: PolicySummary,
    address: str,
    hostname: str,
    reboot_time: str | None,
    lang: str,
) -> NoticeContext:
    """The page's content in one language, as data for the template."""
    if settings.network not in NETWORKS:
        raise ValueError(f"expected a network out of {', '.join(NETWORKS)}, not {settings.network!r}")
    texts = _texts_for(settings, lang, address=address, reboot_time=reboot_time)
    net = f"networks.{settings.network}."
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
        title=texts(net + "title"),
        heading=texts(net + "heading"),
        lead=texts(net + "lead"),
        languages=language_links(lang),
        identity=tuple(row for row in identity if row and row[1]),
        summary=(
            (texts("summary.relay"), None),
            (texts("summary.no_records"), None),
            (texts("summary.ask_first"), Link(contact.mailto, contact.email)),
            (texts("summary.block"), Link("#blocking", texts("blocking.heading"))),
        ),
        about_heading=texts(net + "about_heading"),
        about=(
            texts(net + "what"),
            texts("about.many_users"),
            texts("about.not_origin"),
            texts("about.cannot_identify"),
        ),
        about_link=Link(about_url, texts(net + "more")) if about_url else None,
        records=_records(settings, texts, reboot_time),
        blocking_intro=(texts("blocking.ask_first"), texts("blocking.scope")),
        blocking=_blocking(settings, texts, address),
        policy=_policy(policy_summary, texts),
        contact=contact,
        law=_law(settings, texts),
    )


# --------------------------------------------------------------------------
# Rendering.
# --------------------------------------------------------------------------


def render_notice(
    settings: RelaySettings,
    *,
    policy_summary: PolicySummary,
    address: str,
    hostname: str,
    reboot_time: str | None,
    lang: str,
) -> str:
    """The notice page in one language, as HTML."""
    context = notice_context(
        settings, policy_summary=policy_summary, address=address, hostname=hostname, reboot_time=reboot_time, lang=lang
    )
    return render("notice/index.html.j2", page=context)


def render_pages(
    settings: RelaySettings,
    *,
    policy_summary: PolicySummary,
    address: str,
    hostname: str,
    reboot_time: str | None,
) -> dict[str, str]:
    """File name -> HTML: index.html in the default language, index.<code>.html for every language."""
    pages = {
        f"index.{code}.html": render_notice(settings, policy_summary=policy_summary, address=address, hostname=hostname,
                                            reboot_time=reboot_time, lang=code)
        for code in available_languages()
    }
    return {"index.html": pages[f"index.{default_language(settings)}.html"], **pages}


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())


def _utc_text(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_security_txt(settings: RelaySettings, *, hostname: str, expires: datetime) -> str:
    """/.well-known/security.txt (RFC 9116): contact, expiry, languages, canonical address."""
    try:
        host = checks.hostname(hostname) if hostname else ""
    except ValueError:
        host = ""
    default = default_language(settings)
    languages = [default] + [code for code in available_languages() if code != default]
    english = _Texts(REFERENCE_LANGUAGE, _text_values(settings, address="", reboot_time=None))
    return render(
        "notice/security.txt.j2",
        network=_one_line(english(f"networks.{settings.network}.name")),
        notice_url=f"http://{host}/" if host else "",
        contacts=[c for c in (mailto(_one_line(settings.abuse_email or "")),
                              tel(settings.phone) if settings.phone else "") if c],
        expires=_utc_text(expires),
        languages=languages,
        canonical=f"http://{host}{SECURITY_TXT_PATH}" if host else "",
    )
