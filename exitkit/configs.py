"""Every file the kit writes on a relay, computed from its settings and its part of the fleet plan.

The deploy units (deploys/) turn these into pyinfra operations, and ``exitkit
render`` writes them into a folder: both read the same functions with the same
input, so what an operator previews without any host is what a deploy writes.

A concern is one function returning the files it writes; ``relay_files``
gathers all concerns listed in ``CONCERNS`` (adding a concern is one line).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Mapping

from exitkit import notice
from exitkit.plan import exit_policy_of
from exitkit.policy import render_nftables, render_nym, summarise
from exitkit.schedule import purge_command
from exitkit.settings import RelaySettings
from exitkit.templating import TEMPLATES, render

DOCROOT = "/var/www/exitkit"
UNITS = "/etc/systemd/system"
LIGHTTPD_CONF = "/etc/lighttpd/lighttpd.conf"
NFTABLES_RULESET = "/etc/exitkit/exit-policy.nft"
REBOOT_TIMER = f"{UNITS}/exitkit-reboot.timer"
REBOOT_SERVICE = f"{UNITS}/exitkit-reboot.service"


@dataclass(frozen=True)
class ConfigFile:
    """One file on the relay: where, what, its mode, and the command that checks it first.

    ``check`` names the new file ``{path}``; a file with a check is written only
    once that command accepted it (deploys.ops.checked_file).
    """

    path: str
    content: str | bytes
    mode: str = "644"
    check: str | None = None
    in_place: bool = False  # overwritten, not renamed (a container engine bind-mounts /etc/resolv.conf)

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise ValueError(f"a relay's file needs an absolute path, got {self.path!r}")
        int(self.mode, 8)  # refuses a mode that is not octal digits


def plan_value(plan_data: Mapping, key: str):
    """A value of the relay's plan (RelayPlan.host_data(): exitkit_<key>), as deploys.context.plan reads it."""
    return plan_data.get(f"exitkit_{key}")


def _static(path: str, template: str, mode: str = "644") -> ConfigFile:
    """A file copied from templates/ as it is (bytes decoded as written, no newline translation)."""
    return ConfigFile(path, (TEMPLATES / template).read_bytes().decode("utf-8"), mode)


# ------------------------------------------------------------------ the exit policy
def policy_files(settings: RelaySettings) -> list[ConfigFile]:
    """The nftables ruleset of the relay's exit policy and the unit that loads it at boot."""
    return [
        ConfigFile(NFTABLES_RULESET, render_nftables(exit_policy_of(settings), settings.exit_interface),
                   check="nft -c -f {path}"),
        _static(f"{UNITS}/exitkit-exit-policy.service", "policy/exitkit-exit-policy.service"),
    ]


# ------------------------------------------------------------------ the notice page
def security_txt_expiry(now: datetime | None = None) -> datetime:
    """First of the month, 11 months ahead: always in the future, under RFC 9116's year, and
    the same all month long, so re-runs change nothing."""
    now = now or datetime.now(timezone.utc)
    month = now.month + 11
    return datetime(now.year + (month - 1) // 12, (month - 1) % 12 + 1, 1, tzinfo=timezone.utc)


def notice_files(settings: RelaySettings, plan_data: Mapping, now: datetime) -> list[ConfigFile]:
    """Notice pages in every language, security.txt, the machine-readable policy, lighttpd's config.

    ``now`` only sets security.txt's expiry, which stays the same all month.
    """
    policy = exit_policy_of(settings)
    hostname = plan_value(plan_data, "hostname") or ""
    address = settings.public_ipv4 or settings.public_ipv6 or hostname
    pages = notice.render_pages(settings, policy_summary=summarise(policy), address=address, hostname=hostname,
                                reboot_time=plan_value(plan_data, "reboot_time") or None)
    default = notice.default_language(settings)
    lighttpd = render("lighttpd/lighttpd.conf.j2", docroot=DOCROOT, http_port=settings.http_port,
                      hostname=hostname, access_log=settings.access_log,
                      other_languages=[lang for lang in notice.available_languages() if lang != default])
    return [
        *(ConfigFile(f"{DOCROOT}/{name}", html) for name, html in sorted(pages.items())),
        ConfigFile(f"{DOCROOT}/.well-known/security.txt",
                   notice.render_security_txt(settings, hostname=hostname, expires=security_txt_expiry(now))),
        ConfigFile(f"{DOCROOT}/exit-policy.txt", render_nym(policy)),
        ConfigFile(LIGHTTPD_CONF, lighttpd, check="lighttpd -tt -f {path}"),
    ]


# ------------------------------------------------------------------ nightly maintenance
def log_lifetime_files(settings: RelaySettings) -> list[ConfigFile]:
    """journald in memory for the promised lifetime, and the timer that purges older files."""
    hours = settings.log_lifetime_hours
    half = hours * 30  # minutes: journald rotates at half the lifetime
    return [
        ConfigFile("/etc/systemd/journald.conf.d/exitkit.conf",
                   render("maintenance/journald.conf.j2", hours=hours, half=half)),
        ConfigFile(f"{UNITS}/exitkit-purge.service", render(
            "maintenance/exitkit-purge.service.j2", hours=hours, half=half,
            find_command=shlex.join(purge_command(list(settings.purge_dirs), hours)))),
        ConfigFile(f"{UNITS}/exitkit-purge.timer", render("maintenance/exitkit-purge.timer.j2")),
    ]


def security_update_files(settings: RelaySettings) -> list[ConfigFile]:
    """unattended-upgrades limited to Debian's security origin (switched off by the setting)."""
    return [ConfigFile("/etc/apt/apt.conf.d/52exitkit-unattended-upgrades",
                       render("maintenance/unattended-upgrades.conf.j2", on=1 if settings.security_updates else 0),
                       check="apt-config -c {path} dump >/dev/null")]


def reboot_scheduled(settings: RelaySettings, plan_data: Mapping) -> bool:
    """Whether this relay has a reboot timer: the fleet schedule gave it a time, and reboots are on."""
    return settings.reboot != "never" and bool(plan_value(plan_data, "reboot_on_calendar"))


def reboot_files(settings: RelaySettings, plan_data: Mapping) -> list[ConfigFile]:
    """The guarded reboot script, and the timer at the fleet schedule's time if the relay has one."""
    script = _static("/usr/local/sbin/exitkit-reboot", "maintenance/exitkit-reboot.sh", mode="755")
    if not reboot_scheduled(settings, plan_data):
        return [script]
    timer = render("maintenance/exitkit-reboot.timer.j2", on_calendar=plan_value(plan_data, "reboot_on_calendar"),
                   local_time=plan_value(plan_data, "reboot_time"), timezone=settings.timezone,
                   max_at_once=settings.reboot_max_at_once)
    return [script,
            ConfigFile(REBOOT_SERVICE, render("maintenance/exitkit-reboot.service.j2", mode=settings.reboot)),
            ConfigFile(REBOOT_TIMER, timer)]


def maintenance_files(settings: RelaySettings, plan_data: Mapping) -> list[ConfigFile]:
    """Everything the nightly maintenance writes: log lifetime, security updates, scheduled reboot."""
    return [*log_lifetime_files(settings), *security_update_files(settings), *reboot_files(settings, plan_data)]


# ------------------------------------------------------------------ the exit's resolver and tor
def resolver_files(settings: RelaySettings) -> list[ConfigFile]:
    """unbound on localhost (checked by unbound-checkconf), and resolv.conf pointing at it once it answers."""
    return [
        ConfigFile("/etc/unbound/unbound.conf.d/exitkit.conf",
                   render("resolver/unbound.conf.j2", forwarders=list(settings.dns_forwarders),
                          ipv6=bool(settings.public_ipv6), permissive=settings.test_network_off),
                   check="unbound-checkconf {path} >/dev/null"),
        ConfigFile("/etc/resolv.conf", render("resolver/resolv.conf.j2"), in_place=True,
                   check="unbound-control -c /etc/unbound/unbound.conf status >/dev/null"),
    ]


def tor_files(settings: RelaySettings, plan_data: Mapping) -> list[ConfigFile]:
    """A torrc per tor instance (checked by tor --verify-config) and the hook that notes which one runs.

    The family of each instance comes from the plan data key ``exitkit_tor_family``
    (instance name -> tor.Family), which the deploy fills from the relays'
    fingerprints and ``fleet_files`` from the fingerprints the last deploy saw.
    """
    from exitkit import tor

    if settings.network != "tor":
        return []
    families = plan_value(plan_data, "tor_family") or {}
    policy = exit_policy_of(settings)
    files = [_static("/usr/local/sbin/exitkit-tor-applied", "tor/exitkit-tor-applied.sh", mode="755"),
             _static(f"{UNITS}/tor@.service.d/exitkit.conf", "tor/tor@.service.d-exitkit.conf")]
    for instance in tor.instances(settings):
        content = tor.render_torrc_file(settings, instance, policy, families.get(instance.name, tor.Family()))
        files.append(ConfigFile(instance.torrc, content, check=instance.verify_command))
    return files


# ------------------------------------------------------------------ all of a relay
Concern = Callable[[RelaySettings, Mapping, datetime], list[ConfigFile]]

# One line per concern, in the order deploys/exit.py converges them.
CONCERNS: tuple[Concern, ...] = (
    lambda settings, plan_data, now: resolver_files(settings),
    lambda settings, plan_data, now: policy_files(settings),
    lambda settings, plan_data, now: notice_files(settings, plan_data, now),
    lambda settings, plan_data, now: tor_files(settings, plan_data),
    lambda settings, plan_data, now: maintenance_files(settings, plan_data),
)


def relay_files(settings: RelaySettings, plan_data: Mapping, now: datetime | None = None) -> list[ConfigFile]:
    """Every file the kit writes on one relay; two concerns writing one path is a bug, refused here."""
    now = now or datetime.now(timezone.utc)
    files: list[ConfigFile] = []
    seen: set[str] = set()
    for concern in CONCERNS:
        for file in concern(settings, plan_data, now):
            if file.path in seen:
                raise ValueError(f"{file.path} is written by two concerns")
            seen.add(file.path)
            files.append(file)
    return files


def fleet_files(fleet, plans: Mapping, fleet_dir: Path, now: datetime | None = None) -> dict[str, list[ConfigFile]]:
    """Relay -> every file the kit writes on it, without contacting a host (``exitkit render``).

    Tor families come from what the last deploy saw on the relays (the fingerprint
    cache and the family key's id in the fleet folder), so a rendered torrc is the
    one the relay holds; a relay never deployed yet is simply not in them.
    """
    from exitkit import tor

    settings_of = {relay.name: relay.settings for relay in fleet.relays}
    result = {}
    for relay in fleet.relays:
        plan_data = plans[relay.name].host_data()
        members = list(plans[relay.name].tor_family_hosts)
        if relay.settings.network == "tor" and members:
            seen = {key: fp for name in members for key, fp in tor.remembered(fleet_dir, name, settings_of[name]).items()}
            family_id = tor.known_family_id(fleet_dir, relay.settings.tor_family)
            plan_data["exitkit_tor_family"] = tor.families(relay.name, tor.instances(relay.settings), seen, members,
                                                           family_id)
        result[relay.name] = relay_files(relay.settings, plan_data, now)
    return result


def by_path(files: list[ConfigFile]) -> dict[str, ConfigFile]:
    """The files of a concern by their path on the relay, for a unit that gives each its operation."""
    return {file.path: file for file in files}


# ------------------------------------------------------------------ a rendered tree
MANIFEST = "exitkit-render.json"


def write_tree(out: Path, relay: str, files: list[ConfigFile]) -> Path:
    """Write a relay's files under ``out/<relay>/<path on the relay>``; return that folder.

    ``out/exitkit-render.json`` lists what each relay got (path, mode, check), so a
    later render removes exactly the files it wrote before and nothing else: a
    file the relay no longer gets (a reboot timer switched off) does not linger.
    """
    if relay in ("", ".", "..") or "/" in relay:
        raise ValueError(f"a relay name is one folder name, got {relay!r}")
    manifest_path = out / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    root = out / relay
    for old in manifest.get(relay, []):
        (root / old["path"].lstrip("/")).unlink(missing_ok=True)
    if root.is_dir():
        for folder in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            if not any(folder.iterdir()):
                folder.rmdir()
    for file in files:
        target = root / file.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file.content.encode("utf-8"))
        target.chmod(int(file.mode, 8))
    manifest[relay] = [{"path": f.path, "mode": f.mode, "check": f.check} for f in files]
    out.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(dict(sorted(manifest.items())), indent=1) + "\n")
    return root
