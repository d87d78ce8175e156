"""The naming plan: what each relay's address should be called in DNS.

A complainant who looks an exit address up should read a name that says what
it is, so planned names must carry an exit-hinting label.
"""

from __future__ import annotations

import string

from exitkit import checks
from exitkit.configfile import ConfigFile
from exitkit.templating import render

EXIT_HINTS = ("exit", "tor-exit", "anonymous-relay", "anon", "proxy", "relay", "mix")
PLACEHOLDERS = ("network", "index", "nickname", "domain")


def planned_hostname(network: str, nickname: str, domain: str, index: int, pattern: str, explicit: str = "") -> str:
    """The relay's name: the explicit one, else the pattern filled in; "" without a domain."""
    if explicit:
        return explicit
    if not domain:
        return ""
    expected = "expected a pattern such as {network}-exit-{index}.{domain}, using only " + ", ".join(
        "{" + p + "}" for p in PLACEHOLDERS)
    try:
        fields = [(name, spec) for _, name, spec, _ in string.Formatter().parse(pattern) if name is not None]
        unknown = [name for name, spec in fields if name not in PLACEHOLDERS or spec]
        if unknown:
            raise ValueError(f"{expected}; {{{unknown[0]}}} is not one of them")
        name = pattern.format(network=network, index=index, nickname=nickname.lower(), domain=domain)
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(str(error) if str(error).startswith("expected") else expected) from None
    return checks.hostname(name)


def check_name(name: str, domain: str, must_say_exit: bool = True) -> None:
    """A planned name must lie inside the operator's domain and, unless the operator
    turned that rule off (name_must_say_exit), say 'exit' in its first label."""
    if domain and not (name == domain or name.endswith("." + domain)):
        raise ValueError(f"expected a name inside the operator's domain {domain}")
    first = name.split(".")[0]
    if must_say_exit and not any(hint in first for hint in EXIT_HINTS):
        raise ValueError("expected a first label that says what this is, containing one of: "
                         + ", ".join(EXIT_HINTS) + " (or name_must_say_exit: false)")


HOSTS = "/etc/hosts"
HOSTNAME = "/etc/hostname"


def name_files(hostname: str) -> list[ConfigFile]:
    """The relay's name from the naming plan; on servers only, as a container's engine names the container."""
    if not hostname:
        return []
    hosts = render("base/hosts.j2", hostname=hostname, short=hostname.split(".")[0])
    return [ConfigFile(HOSTNAME, hostname + "\n", in_containers=False),
            ConfigFile(HOSTS, hosts, in_containers=False)]
