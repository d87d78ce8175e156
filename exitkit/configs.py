"""Every file the kit writes on a relay, computed from its settings and its part of the fleet plan.

The deploy units (deploys/) turn these into pyinfra operations, and ``exitkit
render`` writes them into a folder: both read the same functions with the same
input, so what an operator previews without any host is what a deploy writes.

A concern is one function returning the files it writes; ``relay_files``
gathers all concerns listed in ``CONCERNS`` (adding a concern is one line).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from exitkit import control, notice
from exitkit.configfile import UNITS, ConfigFile, by_path, static
from exitkit.maintenance.files import maintenance_files
from exitkit.model import Fleet
from exitkit.naming import name_files
from exitkit.plan import RelayPlan, exit_policy_of
from exitkit.policy import render_nftables, render_nym, summarise
from exitkit.resolver import resolver_files
from exitkit.settings import RelaySettings
from exitkit.templating import render
from exitkit.tor import Family, instances, tor_files
from exitkit.tor import families as tor_families

__all__ = ["ConfigFile", "by_path", "fleet_files", "relay_files", "write_tree"]

DOCROOT = "/var/www/exitkit"
LIGHTTPD_CONF = "/etc/lighttpd/lighttpd.conf"
NFTABLES_RULESET = "/etc/exitkit/exit-policy.nft"


# ------------------------------------------------------------------ the exit policy
def policy_files(settings: RelaySettings) -> list[ConfigFile]:
    """The nftables ruleset of the relay's exit policy and the unit that loads it at boot."""
    return [
        ConfigFile(NFTABLES_RULESET, render_nftables(exit_policy_of(settings), settings.exit_interface),
                   check="nft -c -f {path}"),
        static(f"{UNITS}/exitkit-exit-policy.service", "policy/exitkit-exit-policy.service"),
    ]


# ------------------------------------------------------------------ the notice page
def security_txt_expiry(now: datetime | None = None) -> datetime:
    """First of the month, 11 months ahead: always in the future, under RFC 9116's year, and
    the same all month long, so re-runs change nothing."""
    now = now or datetime.now(UTC)
    month = now.month + 11
    return datetime(now.year + (month - 1) // 12, (month - 1) % 12 + 1, 1, tzinfo=UTC)


def notice_files(settings: RelaySettings, plan: RelayPlan, now: datetime) -> list[ConfigFile]:
    """Notice pages in every language, security.txt, the machine-readable policy, lighttpd's config.

    ``now`` only sets security.txt's expiry, which stays the same all month.
    """
    policy = exit_policy_of(settings)
    hostname = plan.hostname
    address = settings.public_ipv4 or settings.public_ipv6 or hostname
    pages = notice.render_pages(settings, policy_summary=summarise(policy), address=address, hostname=hostname,
                                reboot_time=plan.reboot_time or None)
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


# ------------------------------------------------------------------ all of a relay
Concern = Callable[[RelaySettings, RelayPlan, datetime, Mapping], list[ConfigFile]]

# One line per concern, in the order deploys/exit.py converges them.
CONCERNS: tuple[Concern, ...] = (
    lambda settings, plan, now, families: name_files(plan.hostname),
    lambda settings, plan, now, families: resolver_files(settings),
    lambda settings, plan, now, families: policy_files(settings),
    lambda settings, plan, now, families: notice_files(settings, plan, now),
    lambda settings, plan, now, families: tor_files(settings, exit_policy_of(settings), families),
    lambda settings, plan, now, families: maintenance_files(settings, plan.reboot),
)


def relay_files(settings: RelaySettings, plan: RelayPlan, now: datetime | None = None,
                families: Mapping | None = None) -> list[ConfigFile]:
    """Every file the kit writes on one relay; two concerns writing one path is a bug, refused here.

    ``families`` are the tor instances' families (see ``tor_files``); without them a torrc declares none.
    """
    now = now or datetime.now(UTC)
    files: list[ConfigFile] = []
    seen: set[str] = set()
    for concern in CONCERNS:
        for file in concern(settings, plan, now, families or {}):
            if file.path in seen:
                raise ValueError(f"{file.path} is written by two concerns")
            seen.add(file.path)
            files.append(file)
    return files


def fleet_files(fleet: Fleet, plans: Mapping[str, RelayPlan], fleet_dir: Path,
                now: datetime | None = None) -> dict[str, list[ConfigFile]]:
    """Relay -> every file the kit writes on it, without contacting a host (``exitkit render``).

    Tor families come from what the last deploy saw on the relays (the fingerprint
    cache and the family key's id in the fleet folder), so a rendered torrc is the
    one the relay holds; a relay never deployed yet is simply not in them.
    """
    settings_of = {relay.name: relay.settings for relay in fleet.relays}
    result = {}
    for relay in fleet.relays:
        members = list(plans[relay.name].tor_family_hosts)
        families: dict[str, Family] = {}
        if relay.settings.network == "tor" and members:
            seen = {key: fp for name in members
                    for key, fp in control.remembered(fleet_dir, name, settings_of[name]).items()}
            family_id = control.known_family_id(fleet_dir, relay.settings.tor_family)
            families = tor_families(relay.name, instances(relay.settings), seen, members, family_id)
        result[relay.name] = relay_files(relay.settings, plans[relay.name], now, families)
    return result


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
        target.write_bytes(file.content.encode("utf-8") if isinstance(file.content, str) else file.content)
        target.chmod(int(file.mode, 8))
    manifest[relay] = [{"path": f.path, "mode": f.mode, "check": f.check} for f in files]
    out.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(dict(sorted(manifest.items())), indent=1) + "\n")
    return root
