"""A complaint as saved by a mail client, or pasted as text, turned into the text a person would read.

An RFC 822 mail (``.eml``) is parsed with the standard library (``email.policy.default``): every text part,
quoted-printable or base64, in its declared charset (Japanese mail in ISO-2022-JP or Shift_JIS too), HTML
parts as their visible text, an X-ARF report's YAML part as its fields, and a forwarded mail attached whole
(``message/rfc822``) with its own headers, however deep. Anything else is read as plain text.

What cannot be read is refused with ``Unreadable`` and a sentence saying why; nothing here guesses.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from email import errors as email_errors
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage, Message
from html.parser import HTMLParser

import yaml

MAX_BYTES = 5 * 1024 * 1024   # a complaint with its attachments is far smaller; a bigger file is something else
# a first line like these makes the file a mail; otherwise it is text
_MAIL_START = re.compile(r"(?i)^(from |return-path:|received:|delivered-to:|date:|from:|to:|subject:|message-id:|"
                         r"mime-version:|x-[a-z0-9-]+:|arc-[a-z-]+:|dkim-signature:|authentication-results:|"
                         r"reply-to:|content-type:|sender:)")
# charsets that Japanese mailers label narrowly but write with the vendors' extensions
_WIDER_CHARSET = {"shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932",
                  "iso-2022-jp": "iso2022_jp_ext", "euc-jp": "euc_jis_2004", "gb2312": "gbk", "ks_c_5601-1987": "cp949"}
# defects after which the parts of a mail cannot be told apart
_BROKEN = (email_errors.StartBoundaryNotFoundDefect, email_errors.NoBoundaryInMultipartDefect,
           email_errors.MultipartInvariantViolationDefect, email_errors.InvalidMultipartContentTransferEncodingDefect)


class Unreadable(Exception):
    """The input is not a complaint the kit can read; the message says why and what to do."""


@dataclass
class Headers:
    """The headers of one mail in the complaint (the complaint itself, or a mail attached to it)."""

    depth: int                      # 0: the complaint; 1: a mail attached to it; 2: attached to that ...
    subject: str = ""
    sender: str = ""
    date: str = ""
    message_id: str = ""
    references: str = ""
    reply_to: str = ""
    received: list[str] = field(default_factory=list)


@dataclass
class Complaint:
    """What a person reads in a complaint: texts with where they came from, X-ARF fields, every mail's headers."""

    kind_of_input: str              # "mail" or "text"
    mails: list[Headers] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)   # (where, text)
    xarf: dict[str, str] = field(default_factory=dict)
    languages: list[str] = field(default_factory=list)          # Content-Language of the mails, outer first
    originals: list[Message] = field(default_factory=list, repr=False)  # the mails attached to it, as parsed

    @property
    def outer(self) -> Headers:
        return self.mails[0] if self.mails else Headers(0)

    def all_text(self) -> str:
        return "\n".join(text for _, text in self.texts)


def read_complaint(data: bytes) -> Complaint:
    """The complaint in ``data``: a mail if it starts like one, plain text otherwise."""
    if len(data) > MAX_BYTES:
        raise Unreadable(f"the file has {len(data) / 1024 / 1024:.1f} MB; a complaint is far smaller than "
                         f"{MAX_BYTES // 1024 // 1024} MB: save the mail alone (without large attachments) "
                         "or paste its text")
    if not data.strip():
        raise Unreadable("the file is empty")
    if _looks_binary(data):
        raise Unreadable("the file is not text (it holds binary data): save the mail as .eml or paste its text")
    first = data.lstrip()[:200].decode("latin-1")
    if _MAIL_START.match(first):
        return _read_mail(data)
    return Complaint("text", texts=[("text", _decode_text(data))])


def _looks_binary(data: bytes) -> bool:
    head = data[:65536]
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27))
    return controls > len(head) // 100


def _decode_text(data: bytes) -> str:
    if b"\x1b$" in data:    # ISO-2022-JP's escape
        return data.decode("iso2022_jp_ext", errors="replace")
    for charset in ("utf-8", "cp932"):
        try:
            return data.decode(charset)
        except UnicodeDecodeError:
            continue
    return data.decode("cp1252", errors="replace")


def _read_mail(data: bytes) -> Complaint:
    message = message_from_bytes(data, policy=email_policy.default)
    assert isinstance(message, EmailMessage)
    complaint = Complaint("mail")
    _walk(message, complaint, depth=0, where="mail")
    if not complaint.texts and not complaint.xarf:
        raise Unreadable("the mail has no text part to read (only attachments the kit does not read)")
    return complaint


def _walk(message: Message, complaint: Complaint, depth: int, where: str) -> None:
    broken = [d for d in message.defects if isinstance(d, _BROKEN)]
    if broken:
        raise Unreadable(f"{where}: the MIME structure is broken ({type(broken[0]).__name__}: "
                         f"{broken[0].__doc__ or ''}".strip() + "); save the mail again from the mail client")
    complaint.mails.append(_headers(message, depth))
    language = str(message.get("Content-Language", "")).strip().lower()[:2]
    if language:
        complaint.languages.append(language)
    _walk_part(message, complaint, depth, where)


def _walk_part(part: Message, complaint: Complaint, depth: int, where: str) -> None:
    if part.is_multipart():
        if part.get_content_type() == "message/rfc822":
            for index, inner in enumerate(part.get_payload(), 1):
                complaint.originals.append(inner)
                _walk(inner, complaint, depth + 1, f"{where}, attached mail {index}")
            return
        subparts = list(part.iter_parts()) if isinstance(part, EmailMessage) else part.get_payload()
        if part.get_content_subtype() == "alternative":   # the same text twice: the plain one is enough
            plain = [p for p in subparts if p.get_content_type() == "text/plain"]  # type: ignore[union-attr]
            subparts = plain or subparts
        for sub in subparts:
            if isinstance(sub, Message):
                _walk_part(sub, complaint, depth, where)
        return
    kind = part.get_content_type()
    name = (part.get_filename() or "").lower()
    if kind in ("text/plain", "text/html") or (kind.startswith("text/") and name.endswith((".txt", ".yaml", ".yml"))):
        text = _part_text(part, where)
        if kind == "text/html":
            text = html_text(text)
        if _is_xarf_part(part, text):
            _read_xarf(text, complaint, where)
        complaint.texts.append((f"{where}, {kind}" + (f" {name}" if name else ""), text))
    elif kind == "message/delivery-status" or kind == "text/rfc822-headers":
        complaint.texts.append((f"{where}, {kind}", _part_text(part, where)))


def _part_text(part: Message, where: str) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    declared = (part.get_content_charset() or "us-ascii").strip().lower()
    charset = _WIDER_CHARSET.get(declared, declared)
    try:
        codecs.lookup(charset)
    except LookupError:
        raise Unreadable(f"{where}: a part declares the charset {declared!r}, which is not known; save the mail "
                         "again as UTF-8 from the mail client, or paste its text") from None
    if charset in ("us-ascii", "ascii") and any(b > 127 for b in payload):
        return _decode_text(payload)  # undeclared 8-bit text: read it as a person's mail client would
    return payload.decode(charset, errors="replace")


def _headers(message: Message, depth: int) -> Headers:
    def header(name: str) -> str:
        try:
            return " ".join(str(message.get(name, "")).split())
        except (ValueError, LookupError, UnicodeError):   # a header that does not decode: its raw text
            return " ".join(str(message.get_all(name, [""])[0]).split())

    received = []
    for value in message.get_all("Received", []):
        try:
            received.append(" ".join(str(value).split()))
        except (ValueError, LookupError, UnicodeError):
            continue
    return Headers(depth, header("Subject"), header("From"), header("Date"), header("Message-ID"),
                   " ".join(filter(None, (header("References"), header("In-Reply-To")))), header("Reply-To"),
                   received)


# --- X-ARF (version 0.2): a multipart/mixed mail whose second part is YAML with the report's fields


def _is_xarf_part(part: Message, text: str) -> bool:
    name = (part.get_filename() or "").lower()
    return name.endswith((".yaml", ".yml")) or "x-arf" in part.get_content_type() or (
        bool(re.search(r"(?im)^reported-from:", text)) and bool(re.search(r"(?im)^(report-type|category):", text)))


def _read_xarf(text: str, complaint: Complaint, where: str) -> None:
    try:
        fields = yaml.load(text, Loader=yaml.BaseLoader)  # noqa: S506  (every value a string, as written)
    except yaml.YAMLError as error:
        raise Unreadable(f"{where}: the X-ARF report part is not YAML ({str(error).splitlines()[0]})") from None
    if not isinstance(fields, dict):
        raise Unreadable(f"{where}: the X-ARF report part is not a set of 'Field: value' lines")
    complaint.xarf.update({str(k).strip().lower(): str(v).strip() for k, v in fields.items() if v is not None})


# --- HTML as the text a reader sees


class _Visible(HTMLParser):
    BREAKS = {"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "table", "pre", "blockquote"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head", "title"):
            self.hidden += 1
        elif tag in self.BREAKS:
            self.out.append("\n")
        elif tag == "td":
            self.out.append(" ")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head", "title"):
            self.hidden = max(self.hidden - 1, 0)
        elif tag in self.BREAKS:
            self.out.append("\n")

    def handle_data(self, data):
        if not self.hidden:
            self.out.append(data)


def html_text(html: str) -> str:
    """The visible text of an HTML body, one line per block."""
    parser = _Visible()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.out).splitlines())
    return "\n".join(line for line in lines if line)
