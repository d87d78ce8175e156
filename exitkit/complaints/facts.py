"""What a complaint says: the addresses it names, the time of the incident, the destination and its kind.

Every finding keeps where it came from, so the operator can check it against the mail. The kind is decided by
``KIND_RULES``, read top to bottom: an X-ARF ``Report-Type`` first, then the first rule whose words appear.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from exitkit.complaints.message import Complaint
from exitkit.complaints.times import FoundTime, find_times, received_time
from exitkit.policy import ALWAYS_REJECTED

KINDS = ("authority", "copyright", "phishing", "ddos", "scanning", "fraud", "spam", "other")

# (kind, words): the first rule with a word in the subject or text decides; words match whole, any case
KIND_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("authority", ("police", "law enforcement", "subpoena", "court order", "investigation", "investigator",
                   "prosecutor", "Polizei", "Staatsanwaltschaft", "Ermittlungsverfahren", "Auskunftsersuchen",
                   "Kriminalpolizei", "LKA", "BKA", "警察", "捜査", "照会", "検察")),
    ("copyright", ("copyright", "DMCA", "infringement", "infringing", "Urheberrecht", "Urheberrechtsverletzung",
                   "Abmahnung", "著作権", "BitTorrent")),
    ("phishing", ("phishing", "phish", "credential harvesting", "Phishing", "フィッシング")),
    ("ddos", ("DDoS", "denial of service", "denial-of-service", "flood", "SYN flood", "Überlastungsangriff",
              "DoS-Angriff", "サービス妨害")),
    ("scanning", ("brute force", "brute-force", "bruteforce", "login attempts", "failed logins", "port scan",
                  "portscan", "scanning", "Anmeldeversuche", "Brute-Force", "Portscan", "不正ログイン",
                  "ブルートフォース", "ポートスキャン", "不正アクセス", "login-attack")),
    ("fraud", ("fraud", "fraudulent", "carding", "stolen credit card", "chargeback", "Betrug", "betrügerisch",
               "詐欺", "不正利用")),
    ("spam", ("spam", "unsolicited", "UCE", "bulk mail", "Spam", "unerwünschte", "迷惑メール", "スパム")),
)
# X-ARF 0.2 report types and categories -> kind
XARF_KINDS = {"spam": "spam", "login-attack": "scanning", "portscan": "scanning", "ssh-attack": "scanning",
              "ddos": "ddos", "phishing": "phishing", "copyright": "copyright", "fraud": "fraud",
              "malware": "other", "harvesting": "spam", "info": "other"}
# a service named without a port: its port
SERVICE_PORTS = {"ssh": 22, "smtp": 25, "http": 80, "https": 443, "ftp": 21, "telnet": 23, "rdp": 3389,
                 "imap": 143, "pop3": 110, "submission": 587, "smtps": 465, "imaps": 993, "mysql": 3306,
                 "wordpress": 443, "wp-login": 443, "xmlrpc": 443}
# words that put an address or a host on a line as the destination
_DESTINATION_WORDS = re.compile(r"(?i)destination|target|victim|our server|our host|my server|attacked|"
                                r"angegriffen|Ziel|unser(?:em|en)? Server|宛先|攻撃先|対象|当社サーバ|弊社サーバ|dst=")
_IPV4 = re.compile(r"(?<![\w.])((?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3})"
                   r"(?!\d|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])\[?((?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f:]*[0-9A-Fa-f]|(?:[0-9A-Fa-f]{1,4}:){1,7}:)"
                   r"\]?(?![\w:])")
_PORT_AFTER = re.compile(r"^\]?:(\d{1,5})(?!\d)")
_PORT_WORD = re.compile(r"(?i)(?:\bport|\bPort|ポート|dpt=|DPT=|dport=)\s*(?:番号)?\s*[:=]?\s*(\d{1,5})\b")
_URL = re.compile(r"(?i)\b(https?)://([a-z0-9.-]+\.[a-z]{2,})(?::(\d{1,5}))?")
_HOST_NAME = re.compile(r"(?i)(?<![@\w.-])((?:[a-z0-9-]+\.)+(?:com|net|org|de|jp|uk|eu|info|io|example))\b(?![\w.-]*@)")
_RECEIVED_BY = re.compile(r"(?i)\bby\s+([a-z0-9.-]+\.[a-z]{2,})")
_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
_GERMAN = re.compile(r"(?i)\b(der|die|das|und|nicht|wir|Ihre?|Sehr geehrte|Uhr|mit|von|bitte|Grüßen)\b")
_ENGLISH = re.compile(r"(?i)\b(the|and|not|we|your|dear|please|regards|with|from|this)\b")


@dataclass(frozen=True)
class Address:
    address: str       # as ipaddress writes it
    source: str


@dataclass
class Destination:
    address: str = ""
    port: int | None = None
    host: str = ""
    source: str = ""

    @property
    def known(self) -> bool:
        return bool(self.address or self.port or self.host)

    def shown(self) -> str:
        where = self.address or self.host or "any address"
        where = f"[{where}]" if ":" in where else where
        return f"{where}:{self.port}" if self.port else where


@dataclass
class Facts:
    addresses: list[Address] = field(default_factory=list)
    times: list[FoundTime] = field(default_factory=list)
    destination: Destination = field(default_factory=Destination)
    kind: str = "other"
    kind_reason: str = ""
    language: str = ""


def public_address(text: str) -> str:
    """The address normalised, or "" for what is no address or one no exit ever sends to or from."""
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        return ""
    if any(parsed in net for net in ALWAYS_REJECTED if net.version == parsed.version):
        return ""
    return str(parsed)


def addresses_in(text: str) -> list[tuple[str, int, int]]:
    """(address, start, end) of every public address in ``text``, in order."""
    found = []
    for pattern in (_IPV4, _IPV6):
        for match in pattern.finditer(text):
            address = public_address(match.group(1))
            if address:
                found.append((address, match.start(1), match.end(1)))
    return sorted(found, key=lambda f: f[1])


def find_facts(complaint: Complaint, is_ours) -> Facts:
    """Everything the complaint says; ``is_ours(address)`` tells the fleet's addresses from the others."""
    facts = Facts()
    seen: set[str] = set()

    def add(address: str, source: str) -> None:
        if address and address not in seen:
            seen.add(address)
            facts.addresses.append(Address(address, source))

    for key in ("source", "source-ip", "ip", "reported-ip"):
        for address, _, _ in addresses_in(complaint.xarf.get(key, "")):
            add(address, f"X-ARF {key}")
    for where, text in complaint.texts:
        for address, _, _ in addresses_in(text):
            add(address, where)
    for headers in complaint.mails[1:]:  # the attached mails' path; the complaint's own is the complainant's
        for line in headers.received:
            for address, _, _ in addresses_in(line):
                add(address, f"Received line of attached mail (depth {headers.depth})")
    for line in complaint.outer.received:  # the relay itself seldom mails the operator, but if it is there
        for address, _, _ in addresses_in(line):
            if is_ours(address):
                add(address, "Received line")
    facts.times = incident_times(complaint, is_ours)
    facts.destination = find_destination(complaint, is_ours)
    facts.kind, facts.kind_reason = kind_of(complaint)
    facts.language = language_of(complaint)
    return facts


def incident_times(complaint: Complaint, is_ours) -> list[FoundTime]:
    """The incident's time(s), from the most telling source that has any.

    X-ARF's Date; else times in the texts (not the dates of the mails themselves: a forward's 'Sent:' line is
    when it was forwarded); else the stamp of an attached mail's Received line that names a relay of ours;
    else the attached mail's own Date.
    """
    if complaint.xarf.get("date"):
        found = find_times(complaint.xarf["date"], "X-ARF Date")
        if found:
            return found[:1]
    in_texts: list[FoundTime] = []
    for where, text in complaint.texts:
        kept = "\n".join(line for line in text.splitlines() if not _MAIL_DATE_LINE.match(line))
        in_texts += find_times(kept, where)
    if in_texts:
        return list({t.utc: t for t in reversed(in_texts)}.values())[::-1]
    for headers in complaint.mails[1:]:
        for line in headers.received:
            if any(is_ours(a) for a, _, _ in addresses_in(line)):
                stamp = received_time(line, f"Received line of attached mail (depth {headers.depth})")
                if stamp:
                    return [stamp]
    for headers in complaint.mails[1:]:
        found = find_times(headers.date, f"Date of attached mail (depth {headers.depth})")
        if found:
            return found[:1]
    return []


_MAIL_DATE_LINE = re.compile(r"(?i)^\s*>*\s*(date|sent|gesendet|datum)\s*[:：]|"
                             r"^\s*>*\s*On .* wrote:|^\s*>*\s*Am .* schrieb|^\s*>*\s*received:")


def find_destination(complaint: Complaint, is_ours) -> Destination:
    """Where the traffic went: X-ARF fields, ADDR:PORT, a line that says so, the spam's receiving server."""
    xarf = complaint.xarf
    destination = Destination()
    for key in ("destination", "destination-ip", "target", "target-ip", "dst-ip"):
        if xarf.get(key):
            found = addresses_in(xarf[key])
            if found:
                destination.address, destination.source = found[0][0], f"X-ARF {key}"
            else:
                destination.host, destination.source = xarf[key].split()[0], f"X-ARF {key}"
            break
    for key in ("destination-port", "dest-port", "dst-port", "port", "target-port"):
        if xarf.get(key, "").isdigit():
            destination.port = int(xarf[key])
            break
    if destination.port is None and xarf.get("service", "").lower() in SERVICE_PORTS:
        destination.port = SERVICE_PORTS[xarf["service"].lower()]
    if destination.address or destination.host:
        return destination
    for where, text in complaint.texts:
        for line in text.splitlines():
            for address, _, end in addresses_in(line):
                port = _PORT_AFTER.match(line[end:])
                if not is_ours(address) and port:
                    return Destination(address, int(port.group(1)), "", where)
    for where, text in complaint.texts:
        for line in text.splitlines():
            if not _DESTINATION_WORDS.search(line):
                continue
            others = [a for a, _, _ in addresses_in(line) if not is_ours(a)]
            url = _URL.search(line)
            name = _HOST_NAME.search(line)
            port = _PORT_WORD.search(line)
            if others or url or name:
                host = "" if others else url.group(2) if url else name.group(1) if name else ""
                on_line = int(port.group(1)) if port else (destination.port or _url_port(url) or _service_port(line))
                return Destination(others[0] if others else "", on_line, host, where)
    for headers in complaint.mails[1:]:
        for line in headers.received:
            if any(is_ours(a) for a, _, _ in addresses_in(line)):
                by = _RECEIVED_BY.search(line)
                if by:
                    return Destination("", _received_port(line), by.group(1).lower(),
                                       f"Received line of attached mail (depth {headers.depth})")
    text = complaint.all_text()
    port = _PORT_WORD.search(text)
    destination.port = destination.port or (int(port.group(1)) if port else _service_port(text))
    if destination.port:
        destination.source = destination.source or "text"
    return destination


def server_address(complaint: Complaint, host: str) -> str:
    """The address a server named in an attached mail's Received lines had, as the next server recorded it
    ('from webmail.example (webmail.example [203.0.113.140]) by ...'); "" when no line says."""
    pattern = re.compile(r"(?i)\bfrom\s+" + re.escape(host) + r"\b[^;]*?\[([0-9a-f.:]+)\]")
    for headers in complaint.mails[1:]:
        for line in headers.received:
            match = pattern.search(line)
            if match and public_address(match.group(1)):
                return public_address(match.group(1))
    return ""


def _url_port(url) -> int | None:
    if not url:
        return None
    return int(url.group(3)) if url.group(3) else (443 if url.group(1).lower() == "https" else 80)


def _service_port(text: str) -> int | None:
    for word in re.findall(r"(?i)\b(ssh|rdp|smtp|telnet|ftp|imap|pop3|wp-login|xmlrpc)\b", text):
        return SERVICE_PORTS[word.lower()]
    return None


def _received_port(line: str) -> int:
    """The port a Received line's protocol implies: webmail over HTTPS, authenticated submission, or SMTP."""
    upper = line.upper()
    if re.search(r"\bWITH HTTPS?\b", upper):
        return 443
    if "ESMTPSA" in upper or "ESMTPA" in upper:
        return 587
    return 25


def kind_of(complaint: Complaint) -> tuple[str, str]:
    """The complaint's kind and the reason, by X-ARF's Report-Type, then by ``KIND_RULES``."""
    report_type = complaint.xarf.get("report-type", "").lower()
    if report_type in XARF_KINDS:
        return XARF_KINDS[report_type], f"X-ARF Report-Type '{report_type}'"
    text = " ".join(h.subject for h in complaint.mails) + "\n" + complaint.all_text()
    for kind, words in KIND_RULES:
        for word in words:
            boundary = "" if _JAPANESE.search(word) else r"\b"
            if re.search(boundary + re.escape(word) + boundary, text, re.IGNORECASE):
                return kind, f"the word '{word}'"
    return "other", "no rule's words appear"


def language_of(complaint: Complaint) -> str:
    """en, de or ja: the language the complainant wrote in (Japanese script, else the Content-Language the mail
    declares, else whether German words outnumber English ones)."""
    text = " ".join(h.subject for h in complaint.mails[:1]) + "\n" + "\n".join(
        t for w, t in complaint.texts if "attached mail" not in w)
    if len(_JAPANESE.findall(text)) >= 5:
        return "ja"
    declared = complaint.languages[0] if complaint.languages else ""
    if declared in ("en", "de"):
        return declared
    return "de" if len(_GERMAN.findall(text)) > len(_ENGLISH.findall(text)) else "en"
