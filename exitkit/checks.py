"""Value checks for the settings an operator writes.

Each check takes the raw YAML value and returns the normalised value, or raises
``ValueError`` whose text is only *what was expected*; the settings loader adds
the file, the host or group, the key and the value around it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], Any]

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@([A-Za-z0-9-]+\.)+[A-Za-z]{2,}$")
_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected text (a string)")
    if "\n" in value or "\r" in value:
        raise ValueError("expected one line of text, without line breaks")
    return value


def nonempty(value: Any) -> str:
    value = text(value).strip()
    if not value:
        raise ValueError("expected a non-empty text")
    return value


def integer(low: int, high: int, what: str = "a whole number") -> Check:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected {what} from {low} to {high}")
        if not low <= value <= high:
            raise ValueError(f"expected {what} from {low} to {high}")
        return value

    return check


port = integer(1, 65535, "a port number")


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def one_of(*choices: str) -> Check:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError("expected one of: " + ", ".join(choices))
        return value

    return check


def language_tag(value: Any) -> str:
    """A language tag (BCP 47, as security.txt's Preferred-Languages takes them): en, de, pt-BR."""
    if not isinstance(value, str) or not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]{1,8})*", value):
        raise ValueError("expected a language tag such as en, de or pt-BR")
    return value


def list_of(item: Check, what: str) -> Check:
    def check(value: Any) -> tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"expected a list of {what}")
        out = []
        for index, entry in enumerate(value):
            try:
                out.append(item(entry))
            except ValueError as error:
                raise ValueError(f"entry {index + 1} ({entry!r}): {error}") from None
        return tuple(out)

    return check


def email(value: Any) -> str:
    if not isinstance(value, str) or not _EMAIL.fullmatch(value):
        raise ValueError("expected an e-mail address such as abuse@example.org")
    return value


def hostname(value: Any) -> str:
    """A fully qualified DNS name (RFC 1123 labels, at least two labels)."""
    if not isinstance(value, str):
        raise ValueError("expected a DNS name such as exit-1.example.org")
    name = value.rstrip(".").lower()
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError("expected a DNS name such as exit-1.example.org (letters, digits, hyphens)")
    return name


def optional(check: Check) -> Check:
    """An empty string means 'not set' for optional text-like settings."""

    def wrapped(value: Any) -> Any:
        if value == "":
            return ""
        return check(value)

    return wrapped


def ip_of_version(version: int) -> Check:
    example = "203.0.113.10" if version == 4 else "2001:db8::10"

    def check(value: Any) -> str:
        try:
            address = ipaddress.ip_address(value) if isinstance(value, str) else None
        except ValueError:
            address = None
        if address is None or address.version != version:
            raise ValueError(f"expected an IPv{version} address such as {example}")
        return str(address)

    return check


def time_window(value: Any) -> str:
    parts = value.split("-") if isinstance(value, str) else []
    if len(parts) != 2 or not all(_TIME.fullmatch(p.strip()) for p in parts) or parts[0].strip() == parts[1].strip():
        raise ValueError("expected a window as HH:MM-HH:MM, such as 02:00-04:00")
    return f"{parts[0].strip()}-{parts[1].strip()}"


def timezone(value: Any) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        if not isinstance(value, str) or not value or value.startswith("/"):
            raise ValueError
        ZoneInfo(value)
    except (ValueError, ZoneInfoNotFoundError):
        raise ValueError("expected an IANA time zone such as UTC, Europe/Berlin or Asia/Tokyo") from None
    return value


def pgp_fingerprint(value: Any) -> str:
    compact = value.replace(" ", "").upper() if isinstance(value, str) else ""
    if not re.fullmatch(r"[0-9A-F]{40}", compact):
        raise ValueError("expected an OpenPGP fingerprint of 40 hexadecimal digits")
    return " ".join(compact[i : i + 4] for i in range(0, 40, 4))


def phone(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"\+[0-9][0-9 ()/-]{5,25}", value):
        raise ValueError("expected an international phone number starting with +, such as +49 30 1234567")
    return value


def url(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"https?://[^\s<>\"']+", value):
        raise ValueError("expected a web address starting with https:// or http://")
    return value


def nickname(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9]{1,19}", value):
        raise ValueError("expected a relay nickname of 1 to 19 letters and digits")
    return value


def interface(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,15}", value):
        raise ValueError("expected a network interface name such as eth0 (1 to 15 letters, digits, . _ -)")
    return value


def absolute_path(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/") or "/../" in value + "/":
        raise ValueError("expected an absolute path such as /var/log/lighttpd")
    return value


def ip_address(value: Any) -> str:
    try:
        if not isinstance(value, str):
            raise ValueError
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError("expected an IP address such as 203.0.113.10 or 2001:db8::10") from None


def exit_addresses(value: Any) -> tuple:
    """Addresses reserved for exit connections: one address, or a list of at most one IPv4 and one IPv6.

    Each must be an address other hosts can be reached from: not private, local,
    multicast or otherwise always rejected by the exit policy (documentation
    ranges are allowed; tests and examples use them for public addresses).
    """
    from exitkit.policy.rules import ALWAYS_REJECTED

    if value in ("", None):
        return ()
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, (list, tuple)):
        raise ValueError("expected an IP address, or a list of one IPv4 and one IPv6 address")
    seen: dict[int, str] = {}
    for entry in values:
        text = ip_address(entry)
        address = ipaddress.ip_address(text)
        if any(address in net for net in ALWAYS_REJECTED) or address.is_loopback or address.is_link_local:
            raise ValueError(f"expected a public address for exit connections, not {text} (a private, local or "
                             "special-purpose address)")
        if address.version in seen:
            raise ValueError(f"expected at most one IPv{address.version} exit address, got {seen[address.version]} "
                             f"and {text}")
        seen[address.version] = text
    return tuple(seen[v] for v in sorted(seen))


# Large public resolvers: an exit that sends every lookup of its users to one of
# them hands a third party the whole DNS history of the exit (and makes it easy
# to correlate). Operators may forward to their provider's resolver instead.
PUBLIC_RESOLVERS = {
    "8.8.8.8": "Google", "8.8.4.4": "Google", "2001:4860:4860::8888": "Google", "2001:4860:4860::8844": "Google",
    "1.1.1.1": "Cloudflare", "1.0.0.1": "Cloudflare", "2606:4700:4700::1111": "Cloudflare",
    "2606:4700:4700::1001": "Cloudflare", "1.1.1.2": "Cloudflare", "1.0.0.2": "Cloudflare",
    "1.1.1.3": "Cloudflare", "1.0.0.3": "Cloudflare",
    "9.9.9.9": "Quad9", "149.112.112.112": "Quad9", "9.9.9.10": "Quad9", "9.9.9.11": "Quad9",
    "2620:fe::fe": "Quad9", "2620:fe::9": "Quad9",
    "208.67.222.222": "OpenDNS", "208.67.220.220": "OpenDNS", "2620:119:35::35": "OpenDNS",
    "2620:119:53::53": "OpenDNS",
    "94.140.14.14": "AdGuard", "94.140.15.15": "AdGuard",
    "76.76.2.0": "Control D", "76.76.10.0": "Control D",
    "185.228.168.9": "CleanBrowsing", "185.228.169.9": "CleanBrowsing",
    "64.6.64.6": "Verisign", "64.6.65.6": "Verisign",
    "77.88.8.8": "Yandex", "77.88.8.1": "Yandex",
    "4.2.2.1": "Level3", "4.2.2.2": "Level3",
}


def private_resolver(value: Any) -> str:
    """A resolver an exit may forward to: any address but a large public resolver's."""
    address = ip_address(value)
    if address in PUBLIC_RESOLVERS:
        raise ValueError(f"expected no large public resolver ({address} is {PUBLIC_RESOLVERS[address]}'s, which "
                         "would see every lookup of the exit's users); leave dns_forwarders empty so the relay "
                         "resolves itself, or use your provider's own resolver")
    return address


def tor_bandwidth(value: Any) -> str:
    """tor's bandwidth form: a number and a unit, such as '20 MBytes' or '100 Mbits'."""
    units = ("bytes", "kbytes", "mbytes", "gbytes", "tbytes", "kbits", "mbits", "gbits", "tbits",
             "kb", "mb", "gb", "tb", "kbit", "mbit", "gbit")
    match = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]+)\s*", value) if isinstance(value, str) else None
    if not match or match.group(2).lower() not in units or int(match.group(1)) == 0:
        raise ValueError("expected tor's bandwidth form: a number and a unit, such as '20 MBytes' or '100 MBits'")
    return f"{match.group(1)} {match.group(2)}"


def family_name(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_-]{0,32}", value):
        raise ValueError("expected a family name of up to 32 letters, digits, _ or -, or empty for no family")
    return value


def resolver_address(value: Any) -> str:
    """An address with an optional port: 127.0.0.1, 127.0.0.1:5353, [::1]:53."""
    if isinstance(value, str):
        match = re.fullmatch(r"\[([0-9a-fA-F:.]+)\](?::(\d+))?|([0-9.]+)(?::(\d+))?|([0-9a-fA-F:]+)", value)
        if match:
            host = match.group(1) or match.group(3) or match.group(5)
            port = match.group(2) or match.group(4)
            try:
                ipaddress.ip_address(host)
                if port is None or 1 <= int(port) <= 65535:
                    return value
            except ValueError:
                pass
    raise ValueError("expected a resolver address such as 127.0.0.1, 127.0.0.1:5353 or [::1]:53")



def port_conflicts(ports: dict[str, tuple[int, ...]]) -> list[tuple[str, str, int]]:
    """(key, earlier key, port) for each port of one relay that a later key opens again.

    ``ports`` maps each setting to the ports it opens (tor's instances count up
    from or_port and metrics_port); 0 is off. lighttpd listens on every address,
    so one port on two keys collides whatever addresses they name.
    """
    seen: dict[int, str] = {}
    conflicts = []
    for key, numbers in ports.items():
        for number in numbers:
            if number:
                other = seen.setdefault(number, key)
                if other != key:
                    conflicts.append((key, other, number))
    return conflicts
