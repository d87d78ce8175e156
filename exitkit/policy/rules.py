"""One exit policy, written once by the operator, with one meaning, rendered four ways.

The operator picks a preset and may add accept/reject entries in tor's syntax.
``build_policy`` validates them and returns an ``ExitPolicy`` whose ``allows``
method *is* the meaning of the policy: tor's first-match semantics over the
effective rules, and reject when nothing matches. Every renderer (torrc, Nym's
exit-policy file, nftables, the notice-page summary) is derived from the same
effective rules, and the unit tests read each rendering back with an
independent interpreter and compare it with ``allows``.

Effective order of the rules:

1. always rejected: private, local and special-purpose ranges
   (``ALWAYS_REJECTED``), then the relay's own addresses (all ports);
2. if ``ipv6_exit`` is off: every IPv6 destination;
3. the operator's entries, in the order written;
4. the preset's rules;
5. a final reject of everything.

Pure logic: no host access, no I/O, no network.
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, NamedTuple, Union

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
Action = Literal["accept", "reject"]
Family = Literal[4, 6]
PortRange = tuple[int, int]

ALL_PORTS: PortRange = (1, 65535)

__all__ = [
    "ALL_PORTS",
    "ALWAYS_REJECTED",
    "EXTRA_REJECTED_NETS",
    "ExitPolicy",
    "PRESETS",
    "PolicyError",
    "PolicySection",
    "PolicySummary",
    "Rule",
    "SERVICE_NAMES",
    "TOR_DEFAULT_REJECTED_PORTS",
    "TOR_PRIVATE_NETS",
    "TOR_REDUCED_ACCEPTED_PORTS",
    "accepts_anything",
    "build_policy",
    "parse_rule",
    "policy_id",
    "render_nftables",
    "render_nym",
    "render_torrc",
    "summarise",
]


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
# The model: rules and policies.
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
    ticket, a date) and is carried into every rendered form.
    """

    action: Action
    destination: IPNetwork | None = None
    ports: PortRange = ALL_PORTS
    family: Family | None = None
    note: str = ""

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

    def matches(self, address: IPAddress, port: int) -> bool:
        if address.version not in self.versions:
            return False
        if self.destination is not None and address not in self.destination:
            return False
        return self.ports[0] <= port <= self.ports[1]

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


def _ports(*spec: int | PortRange) -> tuple[PortRange, ...]:
    return tuple((p, p) if isinstance(p, int) else p for p in spec)


# --------------------------------------------------------------------------
# Presets.
# --------------------------------------------------------------------------

#: tor's DEFAULT_EXIT_POLICY (src/core/or/policies.c): these ports are
#: rejected, everything else accepted.
TOR_DEFAULT_REJECTED_PORTS: tuple[PortRange, ...] = _ports(
    25, 119, (135, 139), 445, 563, 1214, (4661, 4666), (6346, 6429), 6699, (6881, 6999)
)

#: tor's REDUCED_EXIT_POLICY (src/core/or/policies.c), in tor's order: these
#: ports are accepted, everything else rejected.
TOR_REDUCED_ACCEPTED_PORTS: tuple[PortRange, ...] = _ports(
    (20, 23), 43, 53, (79, 81), 88, 110, 143, 194, 220, 389,
    443, 464, 465, 531, (543, 544), 554, 563, 587, 636, 706,
    749, 873, (902, 904), 981, (989, 995), 1194, 1220, 1293, 1500, 1533,
    1677, 1723, 1755, 1863, (2082, 2083), (2086, 2087), (2095, 2096),
    (2102, 2104), 3128, 3389, 3690, 4321, 4643, 5050, 5190,
    (5222, 5223), 5228, 5900, (6660, 6669), 6679, 6697, 8000, 8008, 8074,
    8080, 8082, (8087, 8088), (8232, 8233), (8332, 8333), 8443, 8888, 9418,
    9999, 10000, 11371, 19294, 19638, 50002, 64738,
)  # fmt: skip

#: Each preset's rules, placed after the operator's entries. The final
#: ``reject *:*`` is not part of any preset: every policy ends with it.
#: ``reject-all`` and ``custom`` add nothing; they differ in intent:
#: ``reject-all`` is a non-exit and takes no accept entries.
PRESETS: dict[str, tuple[Rule, ...]] = {
    "tor-reduced": tuple(Rule("accept", ports=p) for p in TOR_REDUCED_ACCEPTED_PORTS),
    "tor-default": tuple(Rule("reject", ports=p) for p in TOR_DEFAULT_REJECTED_PORTS) + (Rule("accept"),),
    "web": (Rule("accept", ports=(80, 80)), Rule("accept", ports=(443, 443))),
    "reject-all": (),
    "custom": (),
}


def is_exit_preset(preset: str) -> bool:
    """Whether a relay with this preset is an exit: every preset but reject-all. The one place that says so,
    for the policy's own checks (exit_relay) and tor's ExitRelay line alike."""
    return preset != "reject-all"


def _check_preset(preset: Any) -> str:
    if isinstance(preset, str) and preset in PRESETS:
        return preset
    names = ", ".join(PRESETS)
    close = difflib.get_close_matches(str(preset), list(PRESETS), n=1, cutoff=0.6)
    problem = f"unknown preset (did you mean {close[0]!r}?)" if close else "unknown preset"
    raise PolicyError(preset, f"one of {names}", problem=problem, subject="preset")


# --------------------------------------------------------------------------
# The policy.
# --------------------------------------------------------------------------


_ALWAYS_REJECTED_RULES = tuple(Rule("reject", net) for net in ALWAYS_REJECTED)
_REJECT_IPV6 = Rule("reject", family=6)
_REJECT_ALL = Rule("reject")


class PolicySection(NamedTuple):
    """A run of effective rules with one origin, for comments and messages."""

    kind: str  # "private", "own", "ipv6-off", "operator", "preset", "final"
    title: str
    rules: tuple[Rule, ...]


def _own_address(value: Any) -> IPAddress:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        address = None
    if address is None or (address.version == 6 and address.scope_id):
        raise PolicyError(value, "an IPv4 or IPv6 address such as 203.0.113.10 or 2001:db8::10", subject="own address")
    return address


@dataclass(frozen=True)
class ExitPolicy:
    """The exit policy of one relay. ``allows`` is its meaning.

    Construct it with ``build_policy`` (which validates the operator's
    entries); direct construction skips the reachability checks but keeps the
    same meaning and renderings. ``own_addresses`` may be given as strings;
    ``rules`` (the effective rules, in order) is computed.
    """

    preset: str
    operator_rules: tuple[Rule, ...]
    ipv6_exit: bool
    own_addresses: tuple[IPAddress, ...] = ()
    rules: tuple[Rule, ...] = field(init=False, repr=False, compare=False)
    _sections: tuple[PolicySection, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_preset(self.preset)
        object.__setattr__(self, "ipv6_exit", bool(self.ipv6_exit))
        object.__setattr__(self, "operator_rules", tuple(self.operator_rules))
        own: list[IPAddress] = []
        for value in self.own_addresses:
            address = _own_address(value)
            if address not in own:
                own.append(address)
        object.__setattr__(self, "own_addresses", tuple(own))
        object.__setattr__(self, "_sections", self._build_sections())
        object.__setattr__(self, "rules", tuple(r for s in self._sections for r in s.rules))

    def sections(self) -> tuple[PolicySection, ...]:
        """The effective rules, grouped by where they come from, in order."""
        return self._sections

    def _build_sections(self) -> tuple[PolicySection, ...]:
        sections = [PolicySection("private", "always rejected: private, local and special-purpose ranges", _ALWAYS_REJECTED_RULES)]
        if self.own_addresses:
            own = tuple(Rule("reject", ipaddress.ip_network(a)) for a in self.own_addresses)
            sections.append(PolicySection("own", "always rejected: this relay's own addresses", own))
        if not self.ipv6_exit:
            sections.append(PolicySection("ipv6-off", "ipv6_exit is off: every IPv6 destination is rejected", (_REJECT_IPV6,)))
        if self.operator_rules:
            sections.append(PolicySection("operator", "the operator's entries, in the order written", self.operator_rules))
        if PRESETS[self.preset]:
            sections.append(PolicySection("preset", f"preset {self.preset}", PRESETS[self.preset]))
        sections.append(PolicySection("final", "everything else is rejected", (_REJECT_ALL,)))
        return tuple(sections)

    def deciding_rule(self, address: str | IPAddress, port: int) -> Rule:
        """The first rule that matches; the final reject matches everything."""
        addr = ipaddress.ip_address(address)
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ValueError(f"port must be 1 to 65535, not {port!r}")
        for rule in self.rules:
            if rule.matches(addr, port):
                return rule
        raise AssertionError("unreachable: the final rule matches everything")

    def allows(self, address: str | IPAddress, port: int) -> bool:
        """Whether traffic to address:port may exit. Tor's first match; no match rejects."""
        return self.deciding_rule(address, port).action == "accept"


# --------------------------------------------------------------------------
# Reading the operator's entries.
# --------------------------------------------------------------------------


def parse_rule(entry: str | Mapping[str, Any], *, index: int | None = None) -> Rule:
    """One operator entry, in tor's syntax, to a Rule.

    Accepts ``"reject 198.51.100.7:443"``, ``"accept *:8080-8090 # ticket 12"``,
    ``"reject [2001:db8::1]:443"``, ``"reject 2001:db8::/32:*"``, ``*4``/``*6``,
    ``accept6``/``reject6``, or a mapping ``{"rule": ..., "note": ...}``.
    """
    try:
        return _parse_entry(entry)
    except PolicyError as error:
        raise (error.at(index) if index is not None else error) from None


def _parse_entry(entry: Any) -> Rule:
    if isinstance(entry, Rule):
        return entry  # already parsed (programmatic callers)
    note = ""
    if isinstance(entry, Mapping):
        keys = set(entry)
        if "rule" not in keys or keys - {"rule", "note"}:
            raise PolicyError(
                dict(entry),
                "a mapping with 'rule' and optionally 'note', such as "
                "{rule: 'reject 198.51.100.7:443', note: 'ticket 4711'}",
            )
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
    return _parse_body(body.strip(), note, text)


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
        raise PolicyError(value, "one ADDRESS:PORT per entry (write one entry per rule)", problem="more than one target")
    destination, family, ports_text = _split_target(words[1], value)
    ports = _parse_ports(ports_text, value)
    if word.endswith("6"):
        # tor: accept6/reject6 only ever match IPv6 destinations
        if (destination is not None and destination.version == 4) or family == 4:
            raise PolicyError(value, f"an IPv6 destination after {word}, or 'accept'/'reject' for IPv4", problem=f"{word} with an IPv4 destination")
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
        return None, {"*": None, "*4": 4, "*6": 6}[head], ports_text  # type: ignore[return-value]
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
        return None, net.version, ports_text  # type: ignore[return-value]
    return net, net.version, ports_text  # type: ignore[return-value]


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


# --------------------------------------------------------------------------
# Region arithmetic: which (address, port) pairs a rule can still decide.
# A region is a list of boxes (version, first address, last address, lo, hi)
# with addresses as integers; subtracting a box leaves at most four.
# --------------------------------------------------------------------------

_Box = tuple[int, int, int, int, int]
_TOP = {4: (1 << 32) - 1, 6: (1 << 128) - 1}


def _region(rule: Rule) -> list[_Box]:
    lo, hi = rule.ports
    if rule.destination is not None:
        net = rule.destination
        return [(net.version, int(net.network_address), int(net.broadcast_address), lo, hi)]
    return [(v, 0, _TOP[v], lo, hi) for v in rule.versions]


def _overlaps(a: _Box, b: _Box) -> bool:
    return a[0] == b[0] and a[1] <= b[2] and b[1] <= a[2] and a[3] <= b[4] and b[3] <= a[4]


def _minus(boxes: list[_Box], cut: _Box) -> list[_Box]:
    out: list[_Box] = []
    for box in boxes:
        if not _overlaps(box, cut):
            out.append(box)
            continue
        version, first, last, lo, hi = box
        if first < cut[1]:
            out.append((version, first, cut[1] - 1, lo, hi))
        if last > cut[2]:
            out.append((version, cut[2] + 1, last, lo, hi))
        inner_first, inner_last = max(first, cut[1]), min(last, cut[2])
        if lo < cut[3]:
            out.append((version, inner_first, inner_last, lo, cut[3] - 1))
        if hi > cut[4]:
            out.append((version, inner_first, inner_last, cut[4] + 1, hi))
    return out


def _residual(rule: Rule, earlier: Iterable[Rule]) -> list[_Box]:
    """The part of rule's region that no earlier rule has decided."""
    boxes = _region(rule)
    for before in earlier:
        for cut in _region(before):
            boxes = _minus(boxes, cut)
            if not boxes:
                return boxes
    return boxes


def _intersects(a: Rule, b: Rule) -> bool:
    return any(_overlaps(x, y) for x in _region(a) for y in _region(b))


def accepts_anything(policy: ExitPolicy) -> bool:
    """Whether some (address, port) is allowed: an accept that no earlier rule hides."""
    rules = policy.rules
    return any(rule.action == "accept" and _residual(rule, rules[:i]) for i, rule in enumerate(rules))


# --------------------------------------------------------------------------
# Building and validating.
# --------------------------------------------------------------------------


def build_policy(
    preset: str,
    rules: Iterable[str | Mapping[str, Any]] | None = (),
    *,
    ipv6_exit: bool,
    own_addresses: Iterable[str | IPAddress] = (),
    exit_relay: bool = True,
) -> ExitPolicy:
    """Validate the operator's preset and entries and return the policy.

    Refuses, with a ``PolicyError`` that names the entry: entries that do not
    parse, accepts that can never match (hidden by an earlier reject, the
    always-rejected ranges, or IPv6 being off), accept entries under the
    ``reject-all`` preset, an exit relay that accepts nothing, and a non-exit
    (``exit_relay=False``) that accepts something.
    """
    _check_preset(preset)
    if rules is None:
        rules = ()
    if isinstance(rules, (str, Mapping)):
        raise PolicyError(rules, "a list of entries, one rule per entry", subject="rules")
    entries = list(rules)
    parsed = tuple(parse_rule(entry, index=i) for i, entry in enumerate(entries))
    if isinstance(own_addresses, str):
        own_addresses = [own_addresses]
    policy = ExitPolicy(preset, parsed, bool(ipv6_exit), tuple(own_addresses))
    _check_operator_accepts(policy, entries)
    _check_exit(policy, exit_relay)
    return policy


def _entry_text(entry: Any) -> Any:
    return entry["rule"] if isinstance(entry, Mapping) else entry


def _check_operator_accepts(policy: ExitPolicy, entries: list[Any]) -> None:
    sections = {s.kind: s for s in policy.sections()}
    fixed: list[tuple[Rule, str]] = [(r, "rule 'reject private ranges'") for r in sections["private"].rules]
    if "own" in sections:
        fixed += [(r, f"rule 'reject own address {r.destination.network_address}'") for r in sections["own"].rules]  # type: ignore[union-attr]
    ipv6_off = sections["ipv6-off"].rules if "ipv6-off" in sections else ()
    for i, rule in enumerate(policy.operator_rules):
        if rule.action != "accept":
            continue
        value = _entry_text(entries[i])
        if policy.preset == "reject-all":
            raise PolicyError(
                value,
                "no accept entries with preset reject-all (a non-exit), or preset custom for your own accept list",
                index=i,
                problem="preset reject-all accepts nothing",
            )
        earlier = fixed + [(r, f"entry {j + 1} '{r}'") for j, r in enumerate(policy.operator_rules[:i])]
        if not _residual(rule, [r for r, _ in earlier]):
            covering = [label for r, label in earlier if r.action == "reject" and _intersects(r, rule)]
            if not covering:
                continue  # hidden only by earlier accepts: redundant, not wrong
            covering = list(dict.fromkeys(covering))
            verb = "rejects" if len(covering) == 1 else "reject"
            operator_involved = any(label.startswith("entry") for label in covering)
            raise PolicyError(
                value,
                "an accept that some traffic can reach: "
                + ("remove it, or move it before the reject that covers it" if operator_involved
                   else "remove it (these ranges are always rejected)"),
                index=i,
                problem=f"{rule} can never match: {' and '.join(covering)} before it {verb} all of it",
            )
        if ipv6_off and not _residual(rule, [r for r, _ in earlier] + list(ipv6_off)):
            raise PolicyError(
                value,
                "ipv6_exit on for IPv6 accepts: turn ipv6_exit on (ipv6_exit: true), or remove this entry",
                index=i,
                problem=f"{rule} can never match: ipv6_exit is off, so every IPv6 destination is rejected",
            )


def _check_exit(policy: ExitPolicy, exit_relay: bool) -> None:
    accepts = accepts_anything(policy)
    if exit_relay and not accepts:
        raise PolicyError(
            policy.preset,
            "a preset that accepts ports (such as tor-reduced) or accept entries, or exit_relay=False for a non-exit",
            problem="this policy accepts nothing, but an exit relay needs at least one accept",
            subject="preset",
        )
    if not exit_relay and accepts:
        raise PolicyError(
            policy.preset,
            "preset reject-all (and no accept entries) for a relay that is not an exit, or exit_relay=True",
            problem="a relay that is not an exit must accept nothing, but this policy accepts some traffic",
            subject="preset",
        )


def policy_id(policy: ExitPolicy) -> str:
    """12 hex digits naming the policy as rendered (rules, notes, preset, IPv6).

    The same policy gives the same id on every machine; any change to a rule,
    a note, the preset, ipv6_exit or the own addresses gives a new one.
    """
    canonical = {
        "preset": policy.preset,
        "ipv6_exit": policy.ipv6_exit,
        "rules": [[str(rule), rule.note] for rule in policy.rules],
    }
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode("ascii")).hexdigest()[:12]


# --------------------------------------------------------------------------
# Renderers. Each renders exactly policy.rules, in order, so each means
# exactly what policy.allows means.
# --------------------------------------------------------------------------


def _comment(note: str) -> str:
    """A note as the text of a '#' comment (a trailing backslash would join lines in torrc)."""
    return note.rstrip("\\").rstrip()


def render_torrc(policy: ExitPolicy) -> str:
    """The exit-policy part of a torrc.

    Belt and braces: ``ExitPolicyRejectPrivate 1`` and
    ``ExitPolicyRejectLocalInterfaces 1`` make tor reject its own idea of
    private ranges and of this machine's addresses, and every one of our
    always-rejected ranges and own addresses is also written out explicitly,
    so the file means the same even if those options change meaning. The
    options only ever reject more than our rules (tor's private list is a
    subset of ours; interface addresses are this host's own). ``*`` is both
    families in tor (and ``IPv6Exit 0`` rejects IPv6 first); ``*4``/``*6``
    are one family.
    """
    lines = [
        f"# exit policy {policy_id(policy)} (preset {policy.preset}), written by exitkit: do not edit",
        "ExitPolicyRejectPrivate 1",
        "ExitPolicyRejectLocalInterfaces 1",
        f"IPv6Exit {1 if policy.ipv6_exit else 0}",
    ]
    return "\n".join(lines + _exit_policy_lines(policy)) + "\n"


def _exit_policy_lines(policy: ExitPolicy) -> list[str]:
    """``ExitPolicy`` lines by section, each note as a comment above its rule (torrc and Nym alike)."""
    lines = []
    for section in policy.sections():
        lines.append(f"# {section.title}")
        for rule in section.rules:
            if rule.note and _comment(rule.note):
                lines.append(f"# {_comment(rule.note)}")
            lines.append(f"ExitPolicy {rule}")
    return lines


def render_nym(policy: ExitPolicy) -> str:
    """A Nym exit-policy file, served by the relay as /exit-policy.txt.

    Nym's gateway reads ``ExitPolicy accept|reject ADDR:PORT`` lines, tor
    syntax, first match wins, ``#`` starts a comment. Nym has no implicit
    private-range rejects, so every rule is written out.
    """
    lines = [
        "# Exit policy of this exit relay in Nym's format (a Nym node can fetch it), written by exitkit.",
        f"# policy id: {policy_id(policy)}",
        f"# preset: {policy.preset}",
        f"# IPv6 exit: {'on' if policy.ipv6_exit else 'off'}",
        "# The first rule that matches a destination address and port decides.",
    ]
    return "\n".join(lines + _exit_policy_lines(policy)) + "\n"


_INTERFACE = re.compile(r"[A-Za-z0-9_.-]{1,15}")
_TABLE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
_NFT_COMMENT_BYTES = 128


def _nft_comment(note: str) -> str:
    """A note as an nft comment: no double quotes, at most 128 bytes."""
    text = note.replace('"', "'").replace("\\", "/")
    encoded = text.encode("utf-8")[:_NFT_COMMENT_BYTES]
    return encoded.decode("utf-8", errors="ignore").strip()


def _merge_ranges(ranges: Iterable[PortRange]) -> list[PortRange]:
    """Sorted, disjoint, non-adjacent ranges (nft refuses overlapping set elements)."""
    out: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(lo, hi) for lo, hi in out]


def _nft_ports(ranges: list[PortRange]) -> str:
    items = [str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ranges]
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def _nft_match(rule: Rule) -> str:
    if rule.destination is not None:
        net = rule.destination
        address = str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)
        return f"{'ip' if net.version == 4 else 'ip6'} daddr {address}"
    if rule.family is not None:
        return f"meta nfproto ipv{rule.family}"
    return ""


def _nft_groups(rules: Iterable[Rule]) -> list[tuple[Rule, list[PortRange]]]:
    """Consecutive rules with the same verdict and destination and no note, joined.

    Joining is safe for first-match: within a run every rule gives the same
    verdict, so the union decides exactly what the run decided.
    """
    groups: list[tuple[Rule, list[PortRange]]] = []
    for rule in rules:
        if groups:
            head, ranges = groups[-1]
            joinable = (
                not head.note and not rule.note and not head.all_ports and not rule.all_ports
                and (head.action, head.destination, head.family) == (rule.action, rule.destination, rule.family)
            )
            if joinable:
                ranges.append(rule.ports)
                continue
        groups.append((rule, [rule.ports]))
    return groups


def render_nftables(policy: ExitPolicy, interface: str, *, table: str = "exitkit") -> str:
    """An ``nft -f`` script that atomically replaces table ``inet <table>`` and nothing else.

    One chain, hooked at ``forward`` with ``policy accept``: it only judges
    packets forwarded out of ``interface`` (traffic the relay sends itself, and
    every other interface, are untouched). Rules are the policy's rules in
    order: accept -> ``accept``, reject -> ``drop``, first match wins, then a
    final drop for the interface. A rule with ports matches TCP and UDP; a rule
    for all ports (``:*``) matches every protocol, so other protocols (ICMP...)
    are decided by the first all-ports rule that matches their destination.
    """
    if not isinstance(interface, str) or not _INTERFACE.fullmatch(interface):
        raise PolicyError(interface, "a network interface name such as eth0 (1 to 15 letters, digits, . _ -)", subject="interface")
    if not isinstance(table, str) or not _TABLE.fullmatch(table):
        raise PolicyError(table, "an nftables table name such as exitkit (a letter, then letters, digits, _)", subject="table")
    oif = f'oifname "{interface}"'
    lines = [
        "#!/usr/sbin/nft -f",
        f"# exit policy {policy_id(policy)} (preset {policy.preset}) for traffic leaving {interface}, written by exitkit",
        f"# Replaces table inet {table} atomically; touches no other table.",
        f"table inet {table}",
        f"delete table inet {table}",
        f"table inet {table} {{",
        "\tchain exit_policy {",
        "\t\ttype filter hook forward priority 0; policy accept;",
    ]
    for section in policy.sections():
        lines.append(f"\t\t# {section.title}")
        for rule, ranges in _nft_groups(section.rules):
            verdict = "accept" if rule.action == "accept" else "drop"
            comment = f' comment "{_nft_comment(rule.note)}"' if _nft_comment(rule.note) else ""
            match = _nft_match(rule)
            prefix = f"{oif} {match} " if match else f"{oif} "
            if rule.all_ports:
                lines.append(f"\t\t{prefix}{verdict}{comment}")
                continue
            ports = _nft_ports(_merge_ranges(ranges))
            for proto in ("tcp", "udp"):
                lines.append(f"\t\t{prefix}{proto} dport {ports} {verdict}{comment}")
    lines += ["\t}", "}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# Summary for the notice page: data, not prose (the page is multilingual).
# --------------------------------------------------------------------------

#: Common services by port, for the notice page. Local on purpose: the output
#: must not depend on the machine's /etc/services.
SERVICE_NAMES: dict[int, str] = {
    20: "ftp-data", 21: "ftp", 22: "ssh", 23: "telnet", 25: "smtp", 43: "whois", 53: "dns",
    79: "finger", 80: "http", 81: "http-alt", 88: "kerberos", 110: "pop3", 119: "nntp",
    135: "msrpc", 137: "netbios-ns", 138: "netbios-dgm", 139: "netbios-ssn", 143: "imap",
    194: "irc", 220: "imap3", 389: "ldap", 443: "https", 445: "smb", 464: "kpasswd",
    465: "smtps", 531: "aim", 543: "klogin", 544: "kshell", 554: "rtsp", 563: "nntps",
    587: "submission", 636: "ldaps", 706: "silc", 749: "kerberos-adm", 873: "rsync",
    902: "vmware", 989: "ftps-data", 990: "ftps", 992: "telnets", 993: "imaps", 994: "ircs",
    995: "pop3s", 1194: "openvpn", 1214: "kazaa", 1723: "pptp", 1755: "mms", 1863: "msnp",
    2082: "cpanel", 2083: "cpanel-ssl", 2086: "whm", 2087: "whm-ssl", 2095: "webmail",
    2096: "webmail-ssl", 3128: "http-proxy", 3389: "rdp", 3690: "svn", 4321: "rwhois",
    5050: "yahoo-messenger", 5190: "aim", 5222: "xmpp", 5223: "xmpp-ssl", 5228: "gcm",
    5900: "vnc", 6346: "gnutella", 6697: "ircs", 6699: "napster", 6881: "bittorrent",
    8000: "http-alt", 8008: "http-alt", 8080: "http-alt", 8332: "bitcoin-rpc",
    8333: "bitcoin", 8443: "https-alt", 8888: "http-alt", 9418: "git", 10000: "webmin",
    11371: "hkp", 50002: "electrum", 64738: "mumble",
}  # fmt: skip


def service_name(ports: PortRange) -> str:
    """A well-known name for a port or a short range ("" if none)."""
    lo, hi = ports
    if hi - lo > 15:
        return ""
    names = [SERVICE_NAMES[p] for p in range(lo, hi + 1) if p in SERVICE_NAMES]
    return "/".join(dict.fromkeys(names))


@dataclass(frozen=True)
class PolicySummary:
    """What the notice page needs to say about the policy, as data.

    ``open_ports``/``closed_ports`` are for a destination no operator entry
    names (IPv4; ``*_ipv6`` for IPv6, empty when IPv6 exit is off), as
    (port or range text, service name). ``open_by_default`` says the page
    should phrase it as "all ports except closed_ports". ``blocked`` and
    ``opened`` are the operator's rejects and accepts of specific
    destinations, as (destination text, note).
    """

    policy_id: str
    preset: str
    ipv6_exit: bool
    is_exit: bool
    open_by_default: bool
    open_ports: tuple[tuple[str, str], ...]
    closed_ports: tuple[tuple[str, str], ...]
    open_ports_ipv6: tuple[tuple[str, str], ...]
    closed_ports_ipv6: tuple[tuple[str, str], ...]
    blocked: tuple[tuple[str, str], ...]
    opened: tuple[tuple[str, str], ...]


def _open_ranges(policy: ExitPolicy, version: int) -> list[PortRange]:
    """Ports allowed for an address of this family that no specific rule names."""
    undecided = [ALL_PORTS]
    opened: list[PortRange] = []
    for rule in policy.rules:
        if rule.destination is not None or version not in rule.versions:
            continue
        lo, hi = rule.ports
        hit = [(max(a, lo), min(b, hi)) for a, b in undecided if a <= hi and lo <= b]
        if rule.action == "accept":
            opened += hit
        rest: list[PortRange] = []
        for a, b in undecided:
            if b < lo or hi < a:
                rest.append((a, b))
                continue
            if a < lo:
                rest.append((a, lo - 1))
            if b > hi:
                rest.append((hi + 1, b))
        undecided = rest
    return _merge_ranges(opened)


def _complement(ranges: list[PortRange]) -> list[PortRange]:
    out: list[PortRange] = []
    start = 1
    for lo, hi in ranges:
        if lo > start:
            out.append((start, lo - 1))
        start = hi + 1
    if start <= 65535:
        out.append((start, 65535))
    return out


def _port_rows(ranges: list[PortRange]) -> tuple[tuple[str, str], ...]:
    return tuple((str(lo) if lo == hi else f"{lo}-{hi}", service_name((lo, hi))) for lo, hi in ranges)


def _specific_text(rule: Rule) -> str:
    return rule.destination_text() if rule.all_ports else rule.target_text()


def summarise(policy: ExitPolicy) -> PolicySummary:
    """The policy as data for the notice page."""
    open4 = _open_ranges(policy, 4)
    open6 = _open_ranges(policy, 6) if policy.ipv6_exit else []
    count = sum(hi - lo + 1 for lo, hi in open4)
    specific = [r for r in policy.operator_rules if r.destination is not None]
    return PolicySummary(
        policy_id=policy_id(policy),
        preset=policy.preset,
        ipv6_exit=policy.ipv6_exit,
        is_exit=accepts_anything(policy),
        open_by_default=count > 65535 // 2,
        open_ports=_port_rows(open4),
        closed_ports=_port_rows(_complement(open4)),
        open_ports_ipv6=_port_rows(open6),
        closed_ports_ipv6=_port_rows(_complement(open6)) if policy.ipv6_exit else (),
        blocked=tuple((_specific_text(r), r.note) for r in specific if r.action == "reject"),
        opened=tuple((_specific_text(r), r.note) for r in specific if r.action == "accept"),
    )
