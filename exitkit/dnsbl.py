"""DNS blocklists: is any relay address listed, and by which list?

A DNSBL answers a question about an address under its own zone: the address's
parts reversed (IPv4 octets; IPv6 nibbles, RFC 5782) followed by the zone. No
such name (NXDOMAIN) means not listed; an A record in 127.0.0.0/8 means listed
(the TXT record says why). Some lists answer 127.255.255.x when they refuse
the question (Spamhaus does for public resolvers and over-quota users): that is
neither yes nor no, and says so.

The defaults (``settings.DNSBL_ZONES``) list an address for what came from it.
Lists that name every exit by design (``EVERY_EXIT``) say nothing an operator
can act on; a fleet may still ask them, and the report marks them.

Knows the fleet's settings and DNS, nothing of pyinfra; every DNS answer,
time-outs included, becomes a verdict.
"""

from __future__ import annotations

import ipaddress
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import dns.exception
import dns.resolver

from exitkit import rdns
from exitkit.model import Fleet

#: Lists whose purpose is to name every Tor exit: a listing there is the relay doing its job.
EVERY_EXIT = {
    "torexit.dan.me.uk": "dan.me.uk's list of Tor exits",
    "tor.dan.me.uk": "dan.me.uk's list of every Tor relay",
    "rbl.efnetrbl.org": "EFnet's RBL, whose Tor category holds every exit",
}

LISTED, NOT_LISTED, REFUSED, FAILED, NOT_ASKED = "listed", "not-listed", "refused", "lookup-failed", "not-asked"
REFUSAL_CODES = ipaddress.ip_network("127.255.255.0/24")


def query_name(address: str, zone: str) -> str:
    """The name to ask a DNSBL: 192.0.2.21 in zen.spamhaus.org is 21.2.0.192.zen.spamhaus.org; IPv6 in nibbles."""
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        labels = str(ip).split(".")
    else:
        labels = list(ip.exploded.replace(":", ""))
    return ".".join(reversed(labels)) + "." + zone.rstrip(".").lower()


@dataclass(frozen=True)
class Listing:
    """One address asked of one list."""

    relay: str
    address: str
    zone: str
    verdict: str
    codes: tuple[str, ...] = ()  # the 127.0.0.x answers: each list says what they mean
    reason: str = ""  # the list's TXT record, if it gave one
    every_exit: bool = False  # the list names every exit by design


@dataclass(frozen=True)
class Report:
    resolver: str  # "" for the system's
    listings: tuple[Listing, ...]
    not_asked: str = ""  # why nothing was asked, if so

    @property
    def listed(self) -> tuple[Listing, ...]:
        return tuple(listing for listing in self.listings if listing.verdict == LISTED and not listing.every_exit)

    def as_dict(self) -> dict:
        return {"resolver": self.resolver or "system", "listed": len(self.listed), "not_asked": self.not_asked,
                "listings": [asdict(listing) for listing in self.listings]}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)


def ask(resolver: dns.resolver.Resolver, relay: str, address: str, zone: str) -> Listing:
    name = query_name(address, zone)
    every_exit = zone.rstrip(".").lower() in EVERY_EXIT
    try:
        answer = resolver.resolve(name + ".", "A", search=False)
    except dns.resolver.NXDOMAIN:
        return Listing(relay, address, zone, NOT_LISTED, every_exit=every_exit)
    except dns.resolver.NoAnswer:
        return Listing(relay, address, zone, NOT_LISTED, every_exit=every_exit)
    except dns.exception.DNSException:
        return Listing(relay, address, zone, FAILED, every_exit=every_exit)
    codes = tuple(sorted(str(record.address) for record in answer))
    if any(ipaddress.ip_address(code) in REFUSAL_CODES for code in codes):
        return Listing(relay, address, zone, REFUSED, codes, "the list refused the question (public resolver "
                       "or over its free quota): ask it through your own resolver", every_exit)
    if not all(ipaddress.ip_address(code) in ipaddress.ip_network("127.0.0.0/8") for code in codes):
        return Listing(relay, address, zone, FAILED, codes, "an answer outside 127.0.0.0/8: the resolver rewrites "
                       "missing names (set dns_check_resolver to one that does not)", every_exit)
    try:
        reason = " ".join(b"".join(record.strings).decode("utf-8", "replace")
                          for record in resolver.resolve(name + ".", "TXT", search=False))
    except dns.exception.DNSException:
        reason = ""
    return Listing(relay, address, zone, LISTED, codes, reason, every_exit)


def check_fleet(fleet: Fleet, timeout: float = 2.0) -> Report:
    """Every public address of every relay against that relay's ``dnsbl_zones``, through dns_check_resolver.

    A test fleet (``test_network_off``) asks only a resolver its settings name, never real DNS.
    """
    if not fleet.relays:
        return Report("", ())
    resolver_name = rdns.deploy_resolver(fleet.relays[0].settings)
    if resolver_name is None:
        return Report("", (), "a test_network_off fleet asks only a dns_check_resolver it names; it names none")
    questions = [(relay.name, address, zone) for relay in fleet.relays
                 for address in (relay.settings.public_ipv4, relay.settings.public_ipv6) if address
                 for zone in relay.settings.dnsbl_zones]
    # asked side by side: a resolver that never answers costs one time-out, not one per question
    with ThreadPoolExecutor(max_workers=16) as pool:
        listings = pool.map(lambda q: ask(rdns.make_resolver(resolver_name, timeout), *q), questions)
        return Report(resolver_name, tuple(listings))


def table(report: Report) -> str:
    """The report for a terminal: one row per address and list, then what the listings say."""
    if report.not_asked:
        return f"Nothing asked: {report.not_asked}."
    rows = [("relay", "address", "list", "verdict")]
    rows += [(listing.relay, listing.address, listing.zone,
              listing.verdict + (" (lists every exit)" if listing.every_exit else "")) for listing in report.listings]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    notes = [listing for listing in report.listings if listing.codes or listing.reason]
    if notes:
        lines.append("")
        lines += [f"  {listing.relay} {listing.address} {listing.zone}: {', '.join(listing.codes)}"
                  + (f"  {listing.reason}" if listing.reason else "") for listing in notes]
    failed = sum(1 for listing in report.listings if listing.verdict in (FAILED, REFUSED))
    lines.append(f"Asked {report.resolver or 'the system resolver'}; "
                 + (f"{len(report.listed)} listing(s): read each list's reason and ask for delisting there"
                    if report.listed else "no address is listed")
                 + (f"; {failed} question(s) got no answer" if failed else "") + ".")
    return "\n".join(lines)
