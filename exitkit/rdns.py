"""Reverse DNS of the fleet: what each public address should be called, what it is called, and what to do.

The PTR record of an exit's address is set in the hosting provider's panel, not
on the relay, so the kit cannot set it. It can look: for every public address
it asks the PTR, then the forward records of that name (forward-confirmed
reverse DNS, which mail filters and abuse desks trust), and words the exact
request for the provider and the exact record for the operator's zone.

This module knows the plan and DNS, nothing of pyinfra hosts. Every DNS answer,
including a time-out or a SERVFAIL, becomes a verdict: the check never crashes
on what the network says.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import asdict, dataclass, field

import dns.exception
import dns.resolver
import dns.reversename

from exitkit.checks import resolver_address
from exitkit.model import Fleet
from exitkit.plan import RelayPlan

# --- what a lookup said


ANSWER, NXDOMAIN, NO_ANSWER, TIMEOUT, SERVFAIL = "answer", "nxdomain", "no-answer", "timeout", "servfail"
OUTCOMES = (ANSWER, NXDOMAIN, NO_ANSWER, TIMEOUT, SERVFAIL)


@dataclass(frozen=True)
class Lookup:
    """One DNS question's answer: its outcome and the records (names or addresses) it held."""

    outcome: str
    records: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        """The resolver did not say (time-out, SERVFAIL): neither yes nor no."""
        return self.outcome in (TIMEOUT, SERVFAIL)


NOT_ASKED = Lookup(NO_ANSWER)


def make_resolver(address: str = "", timeout: float = 2.0) -> dns.resolver.Resolver:
    """A resolver for the check: the one the settings name (address[:port]), else the system's.

    A short time-out and one retry: a resolver that does not answer is a finding, not a wait.
    """
    if address:
        resolver_address(address)  # raises ValueError("expected ...") for a bad value
        match = re.fullmatch(r"\[(.+)\](?::(\d+))?|([^:]+):(\d+)|(.+)", address)
        if match is None:  # not reached: resolver_address accepted it
            raise ValueError("expected a resolver address such as 127.0.0.1, 127.0.0.1:5353 or [::1]:53")
        host = match.group(1) or match.group(3) or match.group(5)
        port = match.group(2) or match.group(4)
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [host]
        resolver.port = int(port) if port else 53
    else:
        resolver = dns.resolver.Resolver()
    resolver.timeout = timeout
    resolver.lifetime = 2 * timeout  # the first try and one retry
    resolver.cache = None
    return resolver


def _ask(resolver: dns.resolver.Resolver, name: str, rdtype: str) -> Lookup:
    try:
        answer = resolver.resolve(name, rdtype, search=False)
    except dns.resolver.NXDOMAIN:
        return Lookup(NXDOMAIN)
    except dns.resolver.NoAnswer:
        return Lookup(NO_ANSWER)
    except (dns.resolver.LifetimeTimeout, dns.exception.Timeout):
        return Lookup(TIMEOUT)
    except (dns.resolver.NoNameservers, dns.resolver.YXDOMAIN, dns.exception.DNSException):
        return Lookup(SERVFAIL)  # every server refused or failed
    if rdtype == "PTR":
        return Lookup(ANSWER, tuple(sorted(r.target.to_text().rstrip(".").lower() for r in answer)))
    return Lookup(ANSWER, tuple(sorted(str(ipaddress.ip_address(r.address)) for r in answer)))


def ask_ptr(resolver: dns.resolver.Resolver, address: str) -> Lookup:
    return _ask(resolver, dns.reversename.from_address(address).to_text(), "PTR")


def ask_forward(resolver: dns.resolver.Resolver, name: str, version: int) -> Lookup:
    """The A (IPv4) or AAAA (IPv6) records of a name: the forward half of FCrDNS."""
    return _ask(resolver, name + ".", "A" if version == 4 else "AAAA")


# --- the verdict on one address


VERDICTS = ("ok", "missing-ptr", "ptr-without-forward", "ptr-points-elsewhere", "generic-ptr", "wrong-name",
            "no-expected-name", "lookup-failed")
GENERIC_WORDS = ("ip", "static", "host", "dyn", "pool", "customer", "cust", "vps", "server", "dsl", "client",
                 "broadband", "unassigned", "rev", "ptr")


def looks_generic(name: str, address: str) -> bool:
    """A provider's default name (static-21.provider.example, 192-0-2-21.rev.example)?

    A heuristic: the name spells out the whole IPv4 address, or its first label
    starts a word with ip, static, host, dyn, pool, customer, vps, server... or
    holds at least two parts of the address.
    """
    first = name.split(".")[0].lower()
    ip = ipaddress.ip_address(address)
    if ip.version == 4:  # the whole address in the name, forwards or reversed (21.2.0.192.customers.example)
        octets = str(ip).split(".")
        spelled = {sep.join(order) for sep in ".-" for order in (octets, octets[::-1])}
        if any(form in name.lower() for form in spelled):
            return True
    if any(word.startswith(GENERIC_WORDS) for word in re.split(r"[^a-z]+", first) if word):
        return True
    if ip.version == 4:
        parts = {str(int(octet)) for octet in str(ip).split(".")}
        runs = {str(int(run)) for run in re.findall(r"\d+", first)}
    else:
        parts = {group.lstrip("0") or "0" for group in ip.exploded.split(":") if group.strip("0")}
        runs = {run.lstrip("0") or "0" for run in re.findall(r"[0-9a-f]+", first) if re.search(r"\d", run)}
    return len(parts & runs) >= 2 or (len(parts) == 1 and parts <= runs)


def record_type(address: str) -> str:
    return "A" if ipaddress.ip_address(address).version == 4 else "AAAA"


ZONE_TTL = 3600  # in the snippet, so that it loads on its own (without $TTL)


def zone_line(name: str, address: str, ttl: int | None = None) -> str:
    return f"{name}.{f' {ttl}' if ttl else ''} IN {record_type(address)} {address}"


def ptr_line(address: str, name: str) -> str:
    return f"{dns.reversename.from_address(address).to_text()} {ZONE_TTL} IN PTR {name}."


def judge(address: str, expected: str, ptr: Lookup, forward: Lookup, expected_forward: Lookup,
          resolver: str = "") -> tuple[str, list[str]]:
    """The verdict and the actions for one address, from what DNS said.

    ``ptr`` is the address's PTR lookup; ``forward`` the A/AAAA lookup of the
    name it returned (the first, or the expected one if among them);
    ``expected_forward`` that of the planned name. Total over every outcome.
    """
    current = _current(ptr, expected)
    if current and current == expected:
        expected_forward = forward  # one name, one lookup
    asked = f"the resolver {resolver}" if resolver else "the system's resolver"
    if ptr.failed or (current and forward.failed):
        what = f"the PTR of {address}" if ptr.failed else f"the {record_type(address)} records of {current}"
        outcome = ptr.outcome if ptr.failed else forward.outcome
        return "lookup-failed", [f"check again later or set dns_check_resolver: {asked} gave no answer "
                                 f"({outcome}) for {what}"]
    confirmed = bool(current) and address in forward.records
    if not expected:
        now = f"now: {current}" + (" (forward-confirmed)" if confirmed else "") if current else "now: no PTR"
        return "no-expected-name", [f"set domain (or hostname) so the kit can plan a name for {address} ({now})"]
    actions = []
    if current != expected:
        actions.append(f"ask your provider to set the PTR of {address} to {expected} (now: {current or 'none'})")
    if address not in expected_forward.records:
        actions.append(f"add to your zone: {zone_line(expected, address)}"
                       + (f" (now {expected} points to {', '.join(expected_forward.records)})"
                          if expected_forward.records else ""))
    if not current:
        verdict = "missing-ptr"
    elif current != expected and looks_generic(current, address):
        verdict = "generic-ptr"
    elif confirmed:
        verdict = "ok" if current == expected else "wrong-name"
    else:
        verdict = "ptr-points-elsewhere" if forward.records else "ptr-without-forward"
    return verdict, actions


def _current(ptr: Lookup, expected: str) -> str:
    """The name the address carries now: the planned one if it is among several PTRs."""
    if ptr.outcome != ANSWER or not ptr.records:
        return ""
    return expected if expected in ptr.records else ptr.records[0]


# --- the fleet's report


@dataclass(frozen=True)
class AddressCheck:
    relay: str
    address: str
    expected: str  # the planned name; "" without a domain
    current: str  # the PTR today; "" if none
    forward_confirmed: bool  # the current name's A/AAAA records include the address
    forward: tuple[str, ...]  # what the current name resolves to
    verdict: str
    actions: tuple[str, ...]

    @property
    def clean(self) -> bool:
        return self.verdict == "ok"


@dataclass(frozen=True)
class Report:
    resolver: str  # "" for the system's
    addresses: tuple[AddressCheck, ...]
    without_address: tuple[str, ...] = field(default=())  # relays with no public address in the settings

    @property
    def clean(self) -> bool:
        return all(a.clean for a in self.addresses)

    def as_dict(self) -> dict:
        return {"resolver": self.resolver or "system", "clean": self.clean,
                "addresses": [asdict(a) for a in self.addresses],
                "relays_without_address": list(self.without_address)}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)


def check_address(resolver: dns.resolver.Resolver, relay: str, address: str, expected: str,
                  resolver_name: str = "") -> AddressCheck:
    ip = ipaddress.ip_address(address)
    address, version = str(ip), ip.version  # the form DNS answers are compared in
    ptr = ask_ptr(resolver, address)
    current = _current(ptr, expected)
    forward = ask_forward(resolver, current, version) if current else NOT_ASKED
    if expected and expected != current and not ptr.failed:
        expected_forward = ask_forward(resolver, expected, version)
    else:
        expected_forward = forward
    verdict, actions = judge(address, expected, ptr, forward, expected_forward, resolver_name)
    return AddressCheck(relay, address, expected, current, bool(current) and address in forward.records,
                        forward.records, verdict, tuple(actions))


def check_addresses(relay: str, addresses: list[str], expected: str, resolver: str = "",
                    timeout: float = 2.0) -> Report:
    """One relay's report: its addresses (from the settings, or public_addresses_from_ip_json) and planned name."""
    asker = make_resolver(resolver, timeout)
    return Report(resolver, tuple(check_address(asker, relay, a, expected, resolver) for a in addresses),
                  () if addresses else (relay,))


def check_fleet(fleet: Fleet, plans: dict[str, RelayPlan], timeout: float = 2.0) -> Report:
    """Ask DNS about every public address of every relay, through the fleet's dns_check_resolver.

    plan_fleet has made sure the whole fleet names one resolver.
    """
    resolver = fleet.relays[0].settings.dns_check_resolver if fleet.relays else ""
    reports = [check_addresses(relay.name, [a for a in (relay.settings.public_ipv4, relay.settings.public_ipv6) if a],
                               plans[relay.name].hostname, resolver, timeout) for relay in fleet.relays]
    return Report(resolver, tuple(a for r in reports for a in r.addresses),
                  tuple(name for r in reports for name in r.without_address))


# --- how the report is shown


def hints(report: Report) -> list[str]:
    """One line per address that needs action: for the end of a deploy run, which they never fail."""
    return [f"{a.relay} {a.address}: {a.verdict}: " + "; ".join(a.actions) for a in report.addresses if not a.clean]


def deploy_resolver(settings) -> str | None:
    """The resolver a deploy run asks for its reverse-DNS notes ("" the system's), or None: ask nothing.

    A test fleet (``test_network_off``) asks only a resolver its settings name, so
    a test run never puts questions about its made-up addresses to real DNS.
    """
    if settings.dns_check_resolver:
        return settings.dns_check_resolver
    return None if settings.test_network_off else ""


def notes(report: Report) -> list[str]:
    """The actions for the run's summary, one short line each: advice at the end of a deploy, never a failure."""
    lines = [action for a in report.addresses if not a.clean for action in a.actions]
    lines += [f"{relay}: no public address in the settings or on the relay; reverse DNS not checked"
              for relay in report.without_address]
    return list(dict.fromkeys(lines))


def table(report: Report) -> str:
    """The report for a terminal: one row per address, the actions beneath."""
    rows = [("relay", "address", "expected name", "current PTR", "FCrDNS", "verdict")]
    rows += [(a.relay, a.address, a.expected or "-", a.current or "-", "yes" if a.forward_confirmed else "no",
              a.verdict) for a in report.addresses]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    todo = [a for a in report.addresses if not a.clean]
    if todo:
        lines += ["", "To do:"] + [f"  {a.relay} {a.address}: {action}" for a in todo for action in a.actions]
    for relay in report.without_address:
        lines.append(f"{relay}: no public_ipv4 or public_ipv6 in the settings; nothing to check")
    lines.append(f"Asked {report.resolver or 'the system resolver'}; "
                 + ("every address is clean." if report.clean else f"{len(todo)} address(es) need action."))
    return "\n".join(lines)


def zone_snippet(report: Report) -> str:
    """The forward records the whole fleet needs, and (as comments) the PTRs to ask the provider for."""
    planned = [a for a in report.addresses if a.expected]
    lines = ["; Forward records for the fleet's relays (exitkit rdns --zone): publish them in your zone."]
    lines += [zone_line(a.expected, a.address, ZONE_TTL) for a in planned]
    ask = [a for a in planned if a.current != a.expected]
    if ask:
        lines.append("; Ask your provider to set these reverse records (PTR):")
        lines += [f"; {ptr_line(a.address, a.expected)}  ; now: {a.current or 'none'}" for a in ask]
    unplanned = [a for a in report.addresses if not a.expected]
    if unplanned:
        lines.append("; No planned name (set domain or hostname) for: "
                     + ", ".join(f"{a.address} ({a.relay})" for a in unplanned))
    return "\n".join(lines) + "\n"


# --- addresses a relay has, for those the settings do not name


def public_addresses_from_ip_json(text: str) -> list[str]:
    """The global unicast addresses in the output of ``ip -j addr``, in the order listed.

    Private, loopback, link-local, documentation and multicast addresses are not
    what a complainant sees; temporary (privacy) IPv6 addresses and ones still
    tentative or deprecated are not where the exit's traffic comes from.
    """
    found: list[str] = []
    for interface in json.loads(text or "[]"):
        for info in interface.get("addr_info", []) if isinstance(interface, dict) else []:
            if info.get("family") not in ("inet", "inet6") or info.get("scope") != "global":
                continue
            if info.get("temporary") or info.get("tentative") or info.get("deprecated"):
                continue
            try:
                address = ipaddress.ip_address(info.get("local", ""))
            except ValueError:
                continue
            if address.is_global and not address.is_multicast and str(address) not in found:
                found.append(str(address))
    return found
