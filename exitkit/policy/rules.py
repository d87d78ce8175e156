"""The model of an exit policy's rules, and the parser of the operator's entries.

``Rule`` is one accept/reject in tor's syntax; ``PolicyError`` says what an
operator has to fix; ``ALWAYS_REJECTED`` (and its two parts) are the ranges no
exit sends to; ``PolicySection`` is a run of effective rules with one origin.
``parse_rule`` reads one operator entry into a ``Rule``.

The bottom of the package: imports nothing from it.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, NamedTuple

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Action = Literal["accept", "reject"]
Family = Literal[4, 6]
PortRange = tuple[int, int]

ALL_PORTS: PortRange = (1, 65535)

#: Protocols whose packets carry ports (a destination port at the same place in
#: their header). A rule that names ports matches these protocols alike.
PORT_PROTOCOLS: tuple[str, ...] = ("tcp", "udp", "udplite", "sctp", "dccp")

#: The model's rule for traffic without ports (ICMP, ICMPv6, GRE, ESP...): the
#: first rule whose address matches decides, whatever ports it names. This is
#: how Nym's matcher reads port 0 (any port), which its IP packet router gives
#: to such packets; the nftables table and ``allows(address)`` mean the same.
PORTLESS_RULE = "traffic without ports (ICMP and the like) is decided by the first rule whose address matches"


# --------------------------------------------------------------------------
# Errors: what was wrong, and what was expected, for a tired operator.
# --------------------------------------------------------------------------


class PolicyError(ValueError):
    """A policy entry or setting the operator has to fix.

    ``index`` is the 0-based position of the bad entry in the operator's list
    (``rules[error.index]``), or None when the problem is not one entry; the
    message counts from 1 ("entry 3"), like the settings checks do.
    ``value`` is the bad text, ``expected`` what would have been right,
    ``problem`` (optional) what is wrong with it.
    """

    def __init__(
        self,
        value: Any,
        expected: str,
        *,
        index: int | None = None,
        problem: str = "",
        subject: str = "rule",
    ) -> None:
        self.value = value
        self.expected = expected
        self.index = index
        self.problem = problem
        self.subject = subject
        super().__init__(self._message())

    def _message(self) -> str:
        if self.index is not None:
            where = f"entry {self.index + 1} "
        else:
            where = f"{self.subject} " if self.subject else ""
        problem = f"{self.problem}; " if self.problem else ""
        return f"{where}{self.value!r}: {problem}expected {self.expected}"

    def at(self, index: int) -> PolicyError:
        """The same error, placed at an entry of the operator's list."""
        return PolicyError(self.value, self.expected, index=index, problem=self.problem, subject=self.subject)


_EXPECT_ADDRESS = "an address or CIDR such as 203.0.113.0/24 or 2001:db8::/32"
_EXPECT_PORT = "a port from 1 to 65535, a range such as 8080-8090, or * for all ports"
_EXPECT_TARGET = "ADDRESS:PORT after the action, such as 198.51.100.7:443, 203.0.113.0/24:* or [2001:db8::1]:443"
_EXPECT_RULE = "a rule such as 'reject 198.51.100.7:443' or 'accept *:8080-8090'"


# --------------------------------------------------------------------------
# Always-rejected ranges.
# --------------------------------------------------------------------------

#: tor's own ``private_nets`` (src/core/or/policies.c), verbatim: what
#: ``ExitPolicyRejectPrivate 1`` rejects. Kept separate so the list can be
#: compared with tor's source line by line.
TOR_PRIVATE_NETS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "169.254.0.0/16",
        "127.0.0.0/8",
        "192.168.0.0/16",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "::/8",  # unspecified, loopback, IPv4-mapped and -compatible
        "fc00::/7",  # unique local
        "fe80::/10",  # link local
        "fec0::/10",  # site local (deprecated)
        "ff00::/8",  # multicast
        "::/127",  # tor lists it although ::/8 covers it
    )
)

#: Ranges tor does not list but no exit should send to: they are never a
#: public destination, and reaching them from an exit means reaching the
#: provider's or the host's own infrastructure. Documentation ranges
#: (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) are NOT
#: here: they never route anyway, and examples and tests use them as stand-ins
#: for public addresses.
EXTRA_REJECTED_NETS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "100.64.0.0/10",  # carrier-grade NAT (RFC 6598): the provider's side
        "192.0.0.0/24",  # IETF protocol assignments (RFC 6890): DS-Lite, NAT64 discovery
        "198.18.0.0/15",  # benchmarking (RFC 2544); also fake-IP pools of local proxies
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the limited broadcast 255.255.255.255
        "64:ff9b::/96",  # NAT64 well-known prefix: would reach IPv4, private ranges included
        "64:ff9b:1::/48",  # NAT64 local-use prefix (RFC 8215)
        "100::/64",  # discard-only (RFC 6666)
    )
)

#: Everything rejected before any other rule, on every port.
ALWAYS_REJECTED: tuple[IPNetwork, ...] = TOR_PRIVATE_NETS + EXTRA_REJECTED_NETS


# --------------------------------------------------------------------------
# The model: rules (the policy built from them is ExitPolicy, in presets.py).
# --------------------------------------------------------------------------


def _clean_note(note: Any) -> str:
    """One line of printable text, so a note is a safe comment in every form."""
    text = "".join(ch if ch.isprintable() else " " for ch in str(note))
    return " ".join(text.split())


@dataclass(frozen=True)
class Rule:
    """One accept/reject over a set of destinations and a port range.

    ``destination`` None means every address (``*``); ``family`` then narrows
    it to IPv4 (``*4``) or IPv6 (``*6``). For a network destination, family is
    the network's version. ``note`` is the operator's comment (a complaint
    ticket, a date) and is carried into every rendered form. ``expires`` is the
    day after which the operator meant the entry to go (a block on request): the
    rule stays in force until it is removed, and ``exitkit check`` reports it.
    It is the kit's bookkeeping, not part of the policy: no form renders it.
    """

    action: Action
    destination: IPNetwork | None = None
    ports: PortRange = ALL_PORTS
    family: Family | None = None
    note: str = ""
    expires: datetime.date | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.action not in ("accept", "reject"):
            raise ValueError(f"action must be 'accept' or 'reject', not {self.action!r}")
        lo, hi = self.ports
        if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi <= 65535):
            raise ValueError(f"ports must be (lo, hi) with 1 <= lo <= hi <= 65535, not {self.ports!r}")
        object.__setattr__(self, "ports", (lo, hi))
        if self.family not in (None, 4, 6):
            raise ValueError(f"family must be None, 4 or 6, not {self.family!r}")
        destination = self.destination
        if destination is not None:
            if not isinstance(destination, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
                raise ValueError(f"destination must be an ipaddress network or None, not {destination!r}")
            if self.family not in (None, destination.version):
                raise ValueError(f"family {self.family} does not match destination {destination}")
            if destination.prefixlen == 0:
                # 0.0.0.0/0 is *4 and ::/0 is *6, as in tor: one spelling per meaning.
                object.__setattr__(self, "destination", None)
            object.__setattr__(self, "family", destination.version)
        object.__setattr__(self, "note", _clean_note(self.note))
        if self.expires is not None and (not isinstance(self.expires, datetime.date)
                                         or isinstance(self.expires, datetime.datetime)):
            raise ValueError(f"expires must be a datetime.date or None, not {self.expires!r}")

    def expired(self, today: datetime.date) -> bool:
        """Whether the operator's expiry date has passed (the entry is still in force until removed)."""
        return self.expires is not None and self.expires < today

    @property
    def versions(self) -> tuple[int, ...]:
        """IP versions this rule can match."""
        return (4, 6) if self.family is None else (self.family,)

    @property
    def all_ports(self) -> bool:
        return self.ports == ALL_PORTS

    @property
    def matches_everything(self) -> bool:
        return self.destination is None and self.family is None and self.all_ports

    def matches(self, address: IPAddress, port: int | None) -> bool:
        """Whether traffic to address:port is this rule's; ``port`` None is traffic without ports."""
        if address.version not in self.versions:
            return False
        if self.destination is not None and address not in self.destination:
            return False
        return port is None or self.ports[0] <= port <= self.ports[1]

    def destination_text(self) -> str:
        """Address part in tor's syntax: ``*``, ``*4``, ``198.51.100.0/24``, ``[2001:db8::]/32``."""
        if self.destination is None:
            return {None: "*", 4: "*4", 6: "*6"}[self.family]
        return _network_text(self.destination)

    def ports_text(self) -> str:
        return _ports_text(self.ports)

    def target_text(self) -> str:
        return f"{self.destination_text()}:{self.ports_text()}"

    def __str__(self) -> str:
        return self.text

    @cached_property
    def text(self) -> str:
        """The rule in tor's syntax, such as ``reject 198.51.100.7:443``."""
        return f"{self.action} {self.target_text()}"


def _network_text(net: IPNetwork) -> str:
    """A network in tor's syntax: hosts without a prefix, IPv6 in brackets."""
    if net.version == 4:
        return str(net.network_address) if net.prefixlen == 32 else str(net)
    address = f"[{net.network_address}]"
    return address if net.prefixlen == 128 else f"{address}/{net.prefixlen}"


def _ports_text(ports: PortRange) -> str:
    lo, hi = ports
    if ports == ALL_PORTS:
        return "*"
    return str(lo) if lo == hi else f"{lo}-{hi}"


class PolicySection(NamedTuple):
    """A run of effective rules with one origin, for comments and messages."""

    kind: str  # "private", "own", "ipv6-off", "operator", "preset", "final"
    title: str
    rules: tuple[Rule, ...]


# --------------------------------------------------------------------------
# Reading the operator's entries.
# --------------------------------------------------------------------------


def parse_rule(entry: str | Mapping[str, Any], *, index: int | None = None) -> Rule:
    """One operator entry, in tor's syntax, to a Rule.

    Accepts ``"reject 198.51.100.7:443"``, ``"accept *:8080-8090 # ticket 12"``,
    ``"reject [2001:db8::1]:443"``, ``"reject 2001:db8::/32:*"``, ``*4``/``*6``,
    ``accept6``/``reject6``, or a mapping ``{"rule": ..., "note": ..., "expires": 2027-05-31}``.
    """
    try:
        return _parse_entry(entry)
    except PolicyError as error:
        raise (error.at(index) if index is not None else error) from None


def _parse_entry(entry: Any) -> Rule:
    if isinstance(entry, Rule):
        return entry  # already parsed (programmatic callers)
    note = ""
    expires = None
    if isinstance(entry, Mapping):
        keys = set(entry)
        if "rule" not in keys or keys - {"rule", "note", "expires"}:
            raise PolicyError(
                dict(entry),
                "a mapping with 'rule' and optionally 'note' and 'expires', such as "
                "{rule: 'reject 198.51.100.7:443', note: 'ticket 4711', expires: 2027-05-31}",
            )
        expires = _parse_expires(entry.get("expires"))
        raw_note = entry.get("note", "")
        if raw_note is None:
            raw_note = ""
        if isinstance(raw_note, (Mapping, list, tuple, set)):
            raise PolicyError(raw_note, "a note of one line of text, such as 'ticket 4711, 2026-11-02'", subject="note")
        note = str(raw_note)
        text = entry["rule"]
    else:
        text = entry
    if not isinstance(text, str):
        raise PolicyError(text, f"{_EXPECT_RULE}, or a mapping {{rule: ..., note: ...}}")
    body, hash_sign, inline_note = text.partition("#")
    if hash_sign:
        note = "; ".join(n for n in (inline_note.strip(), note.strip()) if n)
    rule = _parse_body(body.strip(), note, text)
    return Rule(rule.action, rule.destination, rule.ports, rule.family, rule.note, expires) if expires else rule


def _parse_expires(value: Any) -> datetime.date | None:
    """An entry's expiry: a date (YAML reads 2027-05-31 as one), or the same as text."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise PolicyError(value, "a day such as 2027-05-31 (the entry is reported once it has passed)",
                      subject="expires")


def _parse_body(body: str, note: str, value: str) -> Rule:
    words = body.split()
    if not words:
        raise PolicyError(value, _EXPECT_RULE, problem="the entry has no rule")
    word = words[0].lower()
    if word not in ("accept", "reject", "accept6", "reject6"):
        raise PolicyError(
            value,
            "'accept' or 'reject' followed by ADDRESS:PORT, such as 'reject 198.51.100.7:443'",
            problem=f"unknown action {words[0]!r}",
        )
    if len(words) == 1:
        raise PolicyError(value, _EXPECT_TARGET, problem="nothing after the action")
    if len(words) > 2 or "," in words[1]:
        raise PolicyError(
            value, "one ADDRESS:PORT per entry (write one entry per rule)", problem="more than one target"
        )
    destination, family, ports_text = _split_target(words[1], value)
    ports = _parse_ports(ports_text, value)
    if word.endswith("6"):
        # tor: accept6/reject6 only ever match IPv6 destinations
        if (destination is not None and destination.version == 4) or family == 4:
            raise PolicyError(
                value,
                f"an IPv6 destination after {word}, or 'accept'/'reject' for IPv4",
                problem=f"{word} with an IPv4 destination",
            )
        if destination is None:
            family = 6
    return Rule(word[:6], destination, ports, family, note)  # type: ignore[arg-type]


def _split_target(target: str, value: str) -> tuple[IPNetwork | None, Family | None, str]:
    """ADDRESS:PORT -> (network or None, family for wildcards, port text)."""
    if target.startswith("*"):
        head, colon, ports_text = target.partition(":")
        if head not in ("*", "*4", "*6"):
            raise PolicyError(value, f"{_EXPECT_ADDRESS}, or * (any), *4 (any IPv4), *6 (any IPv6)")
        if not colon:
            raise PolicyError(value, _EXPECT_TARGET, problem="no port after the address")
        return None, {"*": None, "*4": 4, "*6": 6}[head], ports_text
    if target.startswith("["):
        match = re.fullmatch(r"\[([^\]]*)\](?:/([^:]*))?(?::(.*))?", target)
        if not match:
            raise PolicyError(value, _EXPECT_ADDRESS)
        address_text, prefix, ports_text = match.groups()
        net = _parse_network(address_text, prefix, value, version=6)
        if ports_text is None:
            raise PolicyError(value, _EXPECT_TARGET, problem="no port after the address")
        return _wildcard_or(net, ports_text)
    colons = target.count(":")
    if colons == 0:
        _parse_network(*_split_prefix(target), value)  # a bad address is the better message
        raise PolicyError(value, _EXPECT_TARGET, problem="no port after the address")
    if colons == 1:
        address_part, ports_text = target.split(":")
        return _wildcard_or(_parse_network(*_split_prefix(address_part), value), ports_text)
    # An IPv6 address without brackets: unambiguous only with a prefix length,
    # or when the whole text is not itself an address (as Nym's parser reads it).
    if "/" in target:
        address_text, _, rest = target.partition("/")
        prefix, colon, ports_text = rest.partition(":")
        net = _parse_network(address_text, prefix, value, version=6)
        if not colon:
            raise PolicyError(value, _EXPECT_TARGET, problem="no port after the address")
        return _wildcard_or(net, ports_text)
    if _is_address(target):
        raise PolicyError(
            value,
            "an IPv6 address in brackets followed by the port, such as [2001:db8::1]:443",
            problem="no port after the address, or an IPv6 address without brackets",
        )
    address_text, _, ports_text = target.rpartition(":")
    return _wildcard_or(_parse_network(address_text, None, value, version=6), ports_text)


def _split_prefix(text: str) -> tuple[str, str | None]:
    address, slash, prefix = text.partition("/")
    return address, (prefix if slash else None)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _wildcard_or(net: IPNetwork, ports_text: str) -> tuple[IPNetwork | None, Family | None, str]:
    if net.prefixlen == 0:
        return None, net.version, ports_text
    return net, net.version, ports_text


def _parse_network(address: str, prefix: str | None, value: str, version: int | None = None) -> IPNetwork:
    if address.lower() == "private":
        raise PolicyError(
            value,
            "a public address or CIDR such as 203.0.113.0/24, or no entry at all",
            problem="private and local ranges are always rejected, so this entry is not needed",
        )
    text = address if prefix is None else f"{address}/{prefix}"
    if "%" in address or (prefix is not None and not prefix.isdigit()):
        raise PolicyError(value, _EXPECT_ADDRESS)
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise PolicyError(value, _EXPECT_ADDRESS) from None
        raise PolicyError(
            value,
            f"the first address of the range, such as {loose}",
            problem=f"{text} has host bits set (did you mean {loose}?)",
        ) from None
    if version is not None and net.version != version:
        raise PolicyError(value, f"{_EXPECT_ADDRESS} (brackets are for IPv6 only)")
    return net


def _parse_ports(text: str, value: str) -> PortRange:
    if text == "*":
        return ALL_PORTS
    if text == "":
        raise PolicyError(value, _EXPECT_PORT, problem="no port after the colon")
    match = re.fullmatch(r"([0-9]+)(?:-([0-9]+))?", text)
    if not match:
        raise PolicyError(value, _EXPECT_PORT, problem=f"{text!r} is not a port number")
    lo = int(match.group(1))
    hi = int(match.group(2)) if match.group(2) is not None else lo
    for port in (lo, hi):
        if not 1 <= port <= 65535:
            raise PolicyError(value, _EXPECT_PORT, problem=f"port {port} is out of range")
    if lo > hi:
        raise PolicyError(
            value, f"the low port first, such as {hi}-{lo}", problem=f"port range {lo}-{hi} is reversed"
        )
    return (lo, hi)
