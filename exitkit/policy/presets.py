"""The presets, the policy of one relay built from a preset, and ``build_policy``.

Effective order of the rules of an ``ExitPolicy``:

1. always rejected: private, local and special-purpose ranges
   (``ALWAYS_REJECTED``), then the relay's own addresses (all ports);
2. if ``ipv6_exit`` is off: every IPv6 destination;
3. the operator's entries, in the order written;
4. the preset's rules;
5. a final reject of everything.

``ExitPolicy.allows`` is the meaning of the policy: tor's first-match
semantics over those rules, and reject when nothing matches.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from exitkit.policy.geometry import _intersects, _residual
from exitkit.policy.rules import (
    ALWAYS_REJECTED,
    IPAddress,
    PolicyError,
    PolicySection,
    PortRange,
    Rule,
    parse_rule,
)

# --------------------------------------------------------------------------
# Presets.
# --------------------------------------------------------------------------


def _ports(*spec: int | PortRange) -> tuple[PortRange, ...]:
    return tuple((p, p) if isinstance(p, int) else p for p in spec)


#: tor's DEFAULT_EXIT_POLICY (src/core/or/policies.c): these ports are
#: rejected, everything else accepted. Unchanged from tor 0.2.x through the
#: 0.4.9 releases of Debian 12 and 13.
TOR_DEFAULT_REJECTED_PORTS: tuple[PortRange, ...] = _ports(
    25, 119, (135, 139), 445, 563, 1214, (4661, 4666), (6346, 6429), 6699, (6881, 6999)
)

#: tor's REDUCED_EXIT_POLICY (src/core/or/policies.c), in tor's order: these
#: ports are accepted, everything else rejected. The list of tor 0.4.9.5 and
#: later (``TOR_PRESETS_FROM``), which added Monero's 18080-18081 and 18089;
#: both Debian 12 (0.4.9.11) and Debian 13 (0.4.9.15) ship such a tor.
#:
#: Written out, never ``ReducedExitPolicy 1`` in the torrc: the torrc, the
#: nftables table, the Nym file, the notice page and ``allows()`` must say the
#: same, and a tor updated by unattended-upgrades between two runs would
#: otherwise change what the relay opens while the page and the complaint
#: answers keep the old list. tests/fleet/test_tor_presets.py asks the tor
#: of each Debian release for its own expansion and fails, naming the ports,
#: when tor's list moves; then this list moves with it.
TOR_REDUCED_ACCEPTED_PORTS: tuple[PortRange, ...] = _ports(
    (20, 23), 43, 53, (79, 81), 88, 110, 143, 194, 220, 389,
    443, 464, 465, 531, (543, 544), 554, 563, 587, 636, 706,
    749, 873, (902, 904), 981, (989, 995), 1194, 1220, 1293, 1500, 1533,
    1677, 1723, 1755, 1863, (2082, 2083), (2086, 2087), (2095, 2096),
    (2102, 2104), 3128, 3389, 3690, 4321, 4643, 5050, 5190,
    (5222, 5223), 5228, 5900, (6660, 6669), 6679, 6697, 8000, 8008, 8074,
    8080, 8082, (8087, 8088), (8232, 8233), (8332, 8333), 8443, 8888, 9418,
    9999, 10000, 11371, (18080, 18081), 18089, 19294, 19638, 50002, 64738,
)  # fmt: skip

#: The first tor release whose lists the two tuples above are.
TOR_PRESETS_FROM = "0.4.9.5"

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
        sections = [
            PolicySection(
                "private", "always rejected: private, local and special-purpose ranges", _ALWAYS_REJECTED_RULES
            )
        ]
        if self.own_addresses:
            own = tuple(Rule("reject", ipaddress.ip_network(a)) for a in self.own_addresses)
            sections.append(PolicySection("own", "always rejected: this relay's own addresses", own))
        if not self.ipv6_exit:
            sections.append(
                PolicySection("ipv6-off", "ipv6_exit is off: every IPv6 destination is rejected", (_REJECT_IPV6,))
            )
        if self.operator_rules:
            sections.append(
                PolicySection("operator", "the operator's entries, in the order written", self.operator_rules)
            )
        if PRESETS[self.preset]:
            sections.append(PolicySection("preset", f"preset {self.preset}", PRESETS[self.preset]))
        sections.append(PolicySection("final", "everything else is rejected", (_REJECT_ALL,)))
        return tuple(sections)

    def deciding_rule(self, address: str | IPAddress, port: int | None = None) -> Rule:
        """The first rule that matches; the final reject matches everything.

        ``port`` None asks about traffic without ports (ICMP, ICMPv6, GRE...):
        the first rule whose address matches decides it (``PORTLESS_RULE``).
        """
        addr = ipaddress.ip_address(address)
        if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
            raise ValueError(f"port must be 1 to 65535 (or None for traffic without ports), not {port!r}")
        for rule in self.rules:
            if rule.matches(addr, port):
                return rule
        raise AssertionError("unreachable: the final rule matches everything")

    def allows(self, address: str | IPAddress, port: int | None = None) -> bool:
        """Whether traffic to address:port may exit (port None: traffic without ports). First match; none rejects."""
        return self.deciding_rule(address, port).action == "accept"


# The one question of region arithmetic (geometry.py) asked of a whole policy.
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
    own = tuple(_own_address(value) for value in own_addresses)  # as ExitPolicy would convert them, same errors
    policy = ExitPolicy(preset, parsed, bool(ipv6_exit), own)
    _check_operator_accepts(policy, entries)
    _check_exit(policy, exit_relay)
    return policy


def _entry_text(entry: Any) -> Any:
    return entry["rule"] if isinstance(entry, Mapping) else entry


def _check_operator_accepts(policy: ExitPolicy, entries: list[Any]) -> None:
    sections = {s.kind: s for s in policy.sections()}
    fixed: list[tuple[Rule, str]] = [(r, "rule 'reject private ranges'") for r in sections["private"].rules]
    if "own" in sections:
        fixed += [
            (r, f"rule 'reject own address {r.destination.network_address}'")  # type: ignore[union-attr]
            for r in sections["own"].rules
        ]
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
