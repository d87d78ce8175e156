"""A draft reply to a complaint, as an ``.eml`` the operator reviews and sends: the kit never sends mail.

The reply answers the complaint's thread (``Re:`` subject, ``In-Reply-To``, ``References``), is written in the
complainant's language where the kit has one (en, de, ja; else the relay's notice-page language), and states
only the checked facts: which relay has the address, whether it was in service at the incident's time, and
what its policy then said about the destination. The wording is the templates' (``templates/replies/``): one
frame per language, one paragraph per kind of complaint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid

from exitkit.complaints.facts import Facts
from exitkit.complaints.judge import Verdict
from exitkit.complaints.message import Complaint
from exitkit.complaints.rdap import AbuseContact
from exitkit.templating import render

LANGUAGES = ("en", "de", "ja")
EXONERATOR = "https://metrics.torproject.org/exonerator.html"
NETWORK_NAMES = {"tor": "Tor", "nym": "Nym", "anyone": "Anyone", "mix": "mix cascade"}
ROLES = {  # network -> what the relay is, per language, in the notice page's terms
    "tor": {"en": "a Tor exit relay", "de": "ein Tor-Exit-Relay", "ja": "Torの出口リレー"},
    "nym": {"en": "a Nym exit gateway", "de": "ein Nym-Exit-Gateway", "ja": "Nymの出口ゲートウェイ"},
    "anyone": {"en": "an Anyone exit relay", "de": "ein Anyone-Exit-Relay", "ja": "Anyoneの出口リレー"},
    "mix": {"en": "the last mix of a mix cascade", "de": "der letzte Mix einer Mix-Kaskade",
            "ja": "ミックスカスケードの最終ミックス"},
}
USED = {  # network -> what the people whose connections the relay carries use, per language
    "tor": {"en": "the Tor network", "de": "das Tor-Netzwerk", "ja": "Torネットワーク"},
    "nym": {"en": "the Nym network", "de": "das Nym-Netzwerk", "ja": "Nymネットワーク"},
    "anyone": {"en": "the Anyone network", "de": "das Anyone-Netzwerk", "ja": "Anyoneネットワーク"},
    "mix": {"en": "an anonymity service built as a mix cascade",
            "de": "einen als Mix-Kaskade aufgebauten Anonymisierungsdienst",
            "ja": "ミックスカスケード方式の匿名化サービス"},
}
UNKNOWN_ROLE = {"en": "an exit relay", "de": "ein Exit-Relay", "ja": "出口リレー"}  # a network the lists above lack
UNKNOWN_USED = {"en": "an anonymity network", "de": "ein Anonymisierungsnetzwerk", "ja": "匿名化ネットワーク"}
_REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|antw|返信)\s*[:：]\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Operator:
    """Who answers: the operator, its abuse address, its language (when the complainant's is not one the kit
    writes), the log lifetime and each relay's notice page."""

    name: str
    abuse_email: str
    fallback_language: str
    log_lifetime_hours: int
    notice_urls: dict[str, str]      # relay -> its notice page


def reply_language(facts: Facts, operator: Operator) -> str:
    if facts.language in LANGUAGES:
        return facts.language
    return operator.fallback_language if operator.fallback_language in LANGUAGES else "en"


def reply_subject(subject: str) -> str:
    """'Re: ' once before the complaint's subject, whatever reply prefix it already had."""
    return "Re: " + _REPLY_PREFIX.sub("", subject or "").strip() if subject else "Re: your report"


def draft_reply(complaint: Complaint, facts: Facts, verdict: Verdict, operator: Operator, now: datetime,
                networks: dict[str, str] | None = None) -> EmailMessage:
    """The reply as a mail, ready to review; ``networks``: relay -> network, for relays the verdict names."""
    outer = complaint.outer
    lang = reply_language(facts, operator)
    relays = []
    for finding in verdict.relays:
        for judgement in finding.judgements or []:
            network = finding.network
            roles, used = ROLES.get(network, UNKNOWN_ROLE), USED.get(network, UNKNOWN_USED)
            relays.append({
                "address": finding.address, "network_name": NETWORK_NAMES.get(network, network),
                "role_en": roles["en"], "role_de": roles["de"], "role_ja": roles["ja"],
                "used_en": used["en"], "used_de": used["de"], "used_ja": used["ja"],
                "notice_url": operator.notice_urls.get(finding.relay, ""), "time": judgement.time,
                "in_service": judgement.in_service if judgement.time else None, "allowed": _certain(judgement),
                "rule": judgement.rule, "exonerator": EXONERATOR if network == "tor" else ""})
    destination = facts.destination
    text = render(f"replies/frame.{lang}.txt.j2", kind=facts.kind, relays=relays, subject=outer.subject,
                  operator_name=operator.name, abuse_email=operator.abuse_email,
                  destination=destination.shown(), destination_known=destination.known,
                  log_lifetime_hours=operator.log_lifetime_hours,
                  ask_time=not facts.times or any(t.ambiguous for t in facts.times),
                  ask_destination=not destination.port)
    reply = EmailMessage()
    reply["From"] = Address(operator.name, addr_spec=operator.abuse_email)
    reply["To"] = _reply_to(complaint)
    reply["Subject"] = reply_subject(outer.subject)
    reply["Date"] = format_datetime(now)
    reply["Message-ID"] = make_msgid(domain=operator.abuse_email.rpartition("@")[2] or None)
    if outer.message_id:
        reply["In-Reply-To"] = outer.message_id
        reply["References"] = " ".join(filter(None, (_references(outer.references), outer.message_id)))
    reply["X-Exitkit-Draft"] = "review before sending; exitkit sends no mail"
    reply.set_content(text, charset="utf-8")
    reply["Content-Language"] = lang  # after the content: set_content replaces every Content-* header
    return reply


def draft_forward(complaint: Complaint, facts: Facts, verdict: Verdict, operator: Operator, contact: AbuseContact,
                  server: str, now: datetime) -> EmailMessage:
    """A spam sent through a mail service: the report, forwarded to that service's abuse contact (from RDAP) so
    it can close the account, with the complaint's sender in copy so they see it was handled."""
    finding = verdict.relays[0]
    moment = next((j.time for j in finding.judgements if j.time), "")
    cc = _reply_to(complaint)
    text = render("replies/forward-spam.en.txt.j2", contact_name=contact.name or "abuse team",
                  host=facts.destination.host, server_address=server, network=contact.network, time=moment,
                  relay_address=finding.address, role=ROLES.get(finding.network, {}).get("en", "an exit relay"),
                  operator_name=operator.name, abuse_email=operator.abuse_email, cc=cc)
    forward = EmailMessage()
    forward["From"] = Address(operator.name, addr_spec=operator.abuse_email)
    forward["To"] = contact.email
    if cc:
        forward["Cc"] = cc
    forward["Subject"] = f"Spam sent through {facts.destination.host}: please close the account"
    forward["Date"] = format_datetime(now)
    forward["Message-ID"] = make_msgid(domain=operator.abuse_email.rpartition("@")[2] or None)
    forward["X-Exitkit-Draft"] = "review before sending; exitkit sends no mail"
    forward.set_content(text, charset="utf-8")
    original = _original_naming(complaint, finding.address)
    if original is not None:
        forward.add_attachment(original)  # message/rfc822: the spam with every header, as reported
    return forward


def _original_naming(complaint: Complaint, address: str):
    """The attached mail whose own headers name ``address`` (the spam itself), the deepest one first."""
    for original in reversed(complaint.originals):
        if any(address in str(value) for value in original.get_all("Received", [])):
            return original
    return complaint.originals[-1] if complaint.originals else None


def _certain(judgement) -> bool | None:
    """The policy's answer when it holds for the destination itself: by its address, or by its port with no
    rule naming particular addresses on that port before (a reply states nothing that might be untrue)."""
    if judgement.by == "address and port" or (judgement.by == "port only" and "except" not in judgement.note):
        return judgement.allowed
    return None


def _reply_to(complaint: Complaint) -> str:
    """Where a reply goes: the complaint's Reply-To if it named one, else its sender."""
    outer = complaint.outer
    named = getaddresses([outer.reply_to or outer.sender])
    return ", ".join(address for _, address in named if address) or outer.sender


def _references(text: str) -> str:
    """The message ids a References/In-Reply-To header carried, once each, in order."""
    return " ".join(dict.fromkeys(re.findall(r"<[^<>\s]+>", text)))
