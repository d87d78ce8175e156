"""A Tor exit from the fleet settings: instances, ContactInfo, torrc, families, the state a relay reports.

Pure logic: nothing here knows of hosts. ``deploys/tor.py`` reads fingerprints
from the relays and turns these results into operations.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from exitkit.policy import ExitPolicy, exit_addresses, is_exit_preset, render_torrc
from exitkit.settings import RelaySettings
from exitkit.templating import render
from exitkit.units import UnitState, load_state_command, unit_state


@dataclass(frozen=True)
class TorInstance:
    """One tor process on a relay; Debian runs each as the systemd unit tor@<name>."""

    name: str          # "default", then "i2", "i3", ...
    number: int        # 1, 2, 3, ...
    nickname: str
    or_port: int
    metrics_port: int  # 0: off

    @property
    def service(self) -> str:
        return f"tor@{self.name}.service"

    @property
    def torrc(self) -> str:
        return "/etc/tor/torrc" if self.name == "default" else f"/etc/tor/instances/{self.name}/torrc"

    @property
    def data_dir(self) -> str:
        return "/var/lib/tor" if self.name == "default" else f"/var/lib/tor-instances/{self.name}"

    @property
    def user(self) -> str:
        return "debian-tor" if self.name == "default" else f"_tor-{self.name}"

    @property
    def verify_command(self) -> str:
        """tor's own check of a new torrc ({path}), with the defaults its unit will really use."""
        if self.name == "default":
            defaults = "/usr/share/tor/tor-service-defaults-torrc"
            prepare = ""
        else:
            defaults = f"/run/exitkit-tor-{self.name}.defaults"
            prepare = (f"sed -e 's/@@NAME@@/{self.name}/g' /usr/share/tor/tor-service-defaults-torrc-instances"
                       f" > {defaults} && ")
        return f"{prepare}tor --verify-config --hush --defaults-torrc {defaults} -f {{path}}"


def instance_nickname(nickname: str, number: int) -> str:
    """Instance n > 1 carries the number at the end, cut to tor's 19 characters."""
    if number == 1:
        return nickname
    suffix = str(number)
    return nickname[: 19 - len(suffix)] + suffix


def instances(settings: RelaySettings) -> list[TorInstance]:
    out = []
    for number in range(1, settings.tor_instances + 1):
        out.append(TorInstance(
            name="default" if number == 1 else f"i{number}", number=number,
            nickname=instance_nickname(settings.nickname, number),
            or_port=settings.or_port + number - 1,
            metrics_port=settings.metrics_port + number - 1 if settings.metrics_port else 0))
    return out


def contact_info(settings: RelaySettings) -> str:
    """The operator's free text, else fields of the ContactInfo Information Sharing Specification v2."""
    if settings.contact_info:
        return settings.contact_info
    fields = [f"email:{settings.abuse_email.replace('@', '[]')}"]
    if settings.operator_url:
        fields.append(f"url:{settings.operator_url}")
        if settings.contact_proof:
            fields.append(f"proof:{settings.contact_proof}")
    fields.append(f"abuse:{settings.abuse_email.replace('@', '[]')}")
    if settings.pgp_fingerprint:
        fields.append(f"pgp:{settings.pgp_fingerprint.replace(' ', '').lower()}")
    fields.append("ciissversion:2")
    return " ".join(fields)


@dataclass(frozen=True)
class Family:
    """What one instance declares: the other members' fingerprints, and the family's key id."""

    fingerprints: tuple[str, ...] = ()
    family_id: str = ""


def families(host: str, own: list[TorInstance], fingerprints: dict[tuple[str, str], str], members: Sequence[str],
             family_id: str) -> dict[str, Family]:
    """Instance name -> what it declares: every other member instance's fingerprint, in inventory order.

    ``fingerprints`` maps (host, data dir) to a fingerprint; an instance never lists itself.
    """
    ordered = sorted(fingerprints.items(), key=lambda item: (members.index(item[0][0]), item[0][1]))
    return {instance.name: Family(tuple(fp for key, fp in ordered if key != (host, instance.data_dir)), family_id)
            for instance in own}


def render_torrc_file(settings: RelaySettings, instance: TorInstance, policy: ExitPolicy, family: Family) -> str:
    """One instance's torrc. Every choice is made here; templates/tor/torrc.j2 only lays out the values."""
    return render(
        "tor/torrc.j2", instance=instance, contact=contact_info(settings), family=family,
        address_ipv4=settings.public_ipv4,
        listen_ipv6=settings.public_ipv6 if settings.or_ipv6 else "",  # ORPort on IPv6 only when or_ipv6 says so
        # the nftables table judges what is sent from them; tor's manual wants IPv6 in brackets here
        exit_addresses=[f"[{a}]" if ":" in a else a for a in exit_addresses(settings)],
        bandwidth_rate=settings.bandwidth_rate, bandwidth_burst=settings.bandwidth_burst,
        test_network_off=settings.test_network_off,
        exit_relay=1 if is_exit_preset(policy.preset) else 0,
        policy_lines=render_torrc(policy).rstrip("\n"))


# ------------------------------------------------------------------ families
_FINGERPRINT = re.compile(r"^(\S+) ([0-9A-F]{40})$")

# What the deploy reads from a relay in one command: fingerprints (public, from
# tor's own files), which torrc each running instance started with, and whether
# tor@default exists and may start (a fresh install is masked until its torrc is checked).
STATE_COMMAND = (
    "for f in /var/lib/tor/fingerprint /var/lib/tor-instances/*/fingerprint /run/exitkit/tor@*.applied; do "
    '[ -r "$f" ] && echo "$f: $(cat "$f")"; done; '
    # the family keys a relay carries, by digest only: the key itself never leaves the relay
    "for f in /var/lib/tor/keys/*.secret_family_key /var/lib/tor-instances/*/keys/*.secret_family_key; do "
    '[ -r "$f" ] && echo "$f: $(sha256sum < "$f" | cut -d" " -f1)"; done; '
    f'echo "tor@default: $({load_state_command("tor@default.service")})"; '
    # the instances serving now: a restart of one of them is what the rolling restart protects
    "echo \"active: $(systemctl list-units --plain --no-legend --state=active 'tor@*.service' | cut -d' ' -f1 "
    "| tr '\\n' ' ')\"; true"
)


@dataclass(frozen=True)
class TorState:
    fingerprints: dict[str, str]  # data dir -> RSA identity fingerprint
    applied: dict[str, str]       # instance name -> sha1 of the torrc it started with
    default_unit: UnitState       # tor@default: absent (tor not installed), masked or present
    family_keys: dict[str, str] = field(default_factory=dict)  # key file -> sha256 of the family key it holds
    active: frozenset[str] = frozenset()  # instance names whose unit was active when read


def parse_tor_state(lines: list[str]) -> TorState:
    fingerprints, applied, family_keys, unit = {}, {}, {}, UnitState.ABSENT
    active: frozenset[str] = frozenset()
    for line in lines:
        path, _, content = line.partition(": ")
        content = content.strip()
        match = _FINGERPRINT.match(content)
        if path.endswith("/fingerprint") and match:
            fingerprints[path.rsplit("/", 1)[0]] = match.group(2)
        elif path.startswith("/run/exitkit/tor@") and path.endswith(".applied"):
            applied[path[len("/run/exitkit/tor@"):-len(".applied")]] = content.split()[0] if content else ""
        elif path.endswith(".secret_family_key") and re.fullmatch(r"[0-9a-f]{64}", content):
            family_keys[path] = content
        elif path == "tor@default":
            unit = unit_state(content)
        elif path == "active":
            active = frozenset(name[len("tor@"):-len(".service")] for name in content.split()
                               if name.startswith("tor@") and name.endswith(".service"))
    return TorState(fingerprints, applied, unit, family_keys, active)


def family_key_problem(family: str, relay: str, own_key: bytes | None, carried: Mapping[str, Mapping[str, str]],
                       key_file: str) -> str:
    """Why ``relay`` must not get the family key now, or "" when it may; the kit never replaces a family key
    silently (a checkout without the secrets would otherwise split the family with a new key).

    ``own_key`` is the control machine's key (None: it has none), ``carried`` maps each reachable member to
    its key files and their sha256, ``key_file`` names the control machine's file for the message.
    """
    name = f"{family}.secret_family_key"
    digests = {member: {digest for path, digest in files.items() if path.endswith("/" + name)}
               for member, files in carried.items()}
    if own_key is None:
        holder = next((member for member, found in digests.items() if found), "")
        if holder:
            return (f"{holder} carries the key of tor family '{family}', but this control machine has none "
                    f"({key_file}): copy it and {family}.public_family_id from the machine that made them, "
                    "or set tor_family_rotate: true to give the family a new key")
        return ""
    own = hashlib.sha256(own_key).hexdigest()
    if digests.get(relay, set()) - {own}:
        return (f"{relay} carries another key of tor family '{family}' than {key_file}: bring the key it was given, "
                "or set tor_family_rotate: true to replace it")
    return ""

