"""The renderings of one ExitPolicy: torrc, Nym's exit-policy file, nftables,
the policy id, and the notice page's summary (``summarise``/``PolicySummary``).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from exitkit.policy.presets import ExitPolicy, accepts_anything
from exitkit.policy.rules import ALL_PORTS, PORT_PROTOCOLS, IPAddress, PolicyError, PortRange, Rule


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
        "# Traffic without ports (ICMP and the like; port 0 to Nym) is decided by the first rule whose"
        " address matches.",
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


#: ``PORT_PROTOCOLS`` as IP protocol numbers: nft resolves names through
#: /etc/protocols, which a minimal Debian lacks, so the table says numbers.
_PROTOCOL_NUMBERS = {"tcp": 6, "udp": 17, "dccp": 33, "sctp": 132, "udplite": 136}
_WITH_PORTS = "{ " + ", ".join(str(_PROTOCOL_NUMBERS[p]) for p in PORT_PROTOCOLS) + " }"
#: The relay's own resolver (unbound on 127.0.0.1 and ::1): older tor bound its
#: DNS queries to the outbound address; they never leave the machine either way.
_OWN_RESOLVER = ("ip daddr 127.0.0.1", "ip6 daddr ::1")


def _policy_lines(policy: ExitPolicy) -> list[str]:
    """The policy's rules as the body of a regular chain, first match wins, ending in a drop.

    A rule with ports matches every protocol with ports (``PORT_PROTOCOLS``);
    traffic without ports is decided by the first rule whose address matches
    (``PORTLESS_RULE``), so such a rule gets a second line for it.
    """
    lines = []
    for section in policy.sections():
        lines.append(f"\t\t# {section.title}")
        for rule, ranges in _nft_groups(section.rules):
            verdict = "accept" if rule.action == "accept" else "drop"
            comment = f' comment "{_nft_comment(rule.note)}"' if _nft_comment(rule.note) else ""
            match = _nft_match(rule)
            prefix = f"{match} " if match else ""
            if rule.all_ports:
                lines.append(f"\t\t{prefix}{verdict}{comment}")
                continue
            ports = _nft_ports(_merge_ranges(ranges))
            lines.append(f"\t\t{prefix}meta l4proto {_WITH_PORTS} th dport {ports} {verdict}{comment}")
            lines.append(f"\t\t{prefix}meta l4proto != {_WITH_PORTS} {verdict}{comment}")
    return lines


def _exit_sources(addresses: Iterable[str | IPAddress]) -> list[IPAddress]:
    sources: list[IPAddress] = []
    for value in addresses:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise PolicyError(value, "an IPv4 or IPv6 address such as 198.51.100.20", subject="exit address") from None
        if address not in sources:
            sources.append(address)
    return sources


def render_nftables(
    policy: ExitPolicy, interface: str, *, table: str = "exitkit", exit_addresses: Iterable[str | IPAddress] = ()
) -> str:
    """An ``nft -f`` script that atomically replaces table ``inet <table>`` and nothing else.

    The policy is one regular chain, ``exit_policy`` (first match wins:
    accept -> ``accept``, reject -> ``drop``, then a final drop). Two base
    chains send packets to it, both ``policy accept`` so nothing else is touched:

    - ``forward``: packets forwarded out of ``interface`` (Nym's IP packet
      router, a WireGuard exit); other interfaces pass;
    - ``output``, only with ``exit_addresses``: packets the relay itself sends
      from an address reserved for exit connections (tor's
      ``OutboundBindAddressExit``), except replies to connections made to it
      and queries to the relay's own resolver. Relay-to-relay traffic leaves
      from the main address and is never judged.
    """
    if not isinstance(interface, str) or not _INTERFACE.fullmatch(interface):
        raise PolicyError(
            interface, "a network interface name such as eth0 (1 to 15 letters, digits, . _ -)", subject="interface"
        )
    if not isinstance(table, str) or not _TABLE.fullmatch(table):
        raise PolicyError(
            table, "an nftables table name such as exitkit (a letter, then letters, digits, _)", subject="table"
        )
    sources = _exit_sources(exit_addresses)
    judged = f"forwarded out of {interface}" + (
        f" and sent from {', '.join(map(str, sources))}" if sources else ""
    )
    lines = [
        "#!/usr/sbin/nft -f",
        f"# exit policy {policy_id(policy)} (preset {policy.preset}) for traffic {judged}, written by exitkit",
        f"# Replaces table inet {table} atomically; touches no other table.",
        f"# Protocols with ports: {', '.join(f'{n} {p}' for p, n in _PROTOCOL_NUMBERS.items())}.",
        f"table inet {table}",
        f"delete table inet {table}",
        f"table inet {table} {{",
        "\tchain exit_policy {",
        *_policy_lines(policy),
        "\t}",
        "\tchain forward {",
        "\t\ttype filter hook forward priority 0; policy accept;",
        f'\t\toifname "{interface}" jump exit_policy',
        "\t}",
    ]
    if sources:
        lines += [
            "\tchain output {",
            "\t\ttype filter hook output priority 0; policy accept;",
            "\t\tct direction reply return",
        ]
        for source in sources:
            family = "ip" if source.version == 4 else "ip6"
            resolver = _OWN_RESOLVER[0 if source.version == 4 else 1]
            lines.append(f"\t\t{family} saddr {source} {resolver} meta l4proto {{ 6, 17 }} th dport 53 return")
            lines.append(f"\t\t{family} saddr {source} jump exit_policy")
        lines.append("\t}")
    lines.append("}")
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
    11371: "hkp", 18080: "monero", 18081: "monero-rpc", 18089: "monero-rpc",
    50002: "electrum", 64738: "mumble",
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
    destinations, as (destination text, note). ``portless_open`` (and
    ``portless_open_ipv6``) says whether traffic without ports (ICMP...) to
    such a destination is accepted: the first rule whose address matches
    decides it, whatever ports that rule names (``PORTLESS_RULE``).
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
    portless_open: bool = False
    portless_open_ipv6: bool = False


def _portless_open(policy: ExitPolicy, version: int) -> bool:
    """Whether traffic without ports to an address of this family that no specific rule names is accepted."""
    for rule in policy.rules:
        if rule.destination is None and version in rule.versions:
            return rule.action == "accept"
    return False  # unreachable: the final reject names every address


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
        portless_open=_portless_open(policy, 4),
        portless_open_ipv6=policy.ipv6_exit and _portless_open(policy, 6),
    )
