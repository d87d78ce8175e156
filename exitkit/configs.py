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

from exitkit import control
from exitkit.configfile import ConfigFile, by_path
from exitkit.https import certificate_plan, https_files
from exitkit.maintenance.files import maintenance_files
from exitkit.model import Fleet
from exitkit.naming import name_files
from exitkit.notice import notice_files
from exitkit.plan import RelayPlan, exit_policy_of
from exitkit.policy import exit_addresses, policy_files
from exitkit.releases import DEFAULT_RELEASE, Release
from exitkit.resolver import resolver_files
from exitkit.settings import RelaySettings
from exitkit.tor import Family, instances, tor_files
from exitkit.tor import families as tor_families

__all__ = ["ConfigFile", "by_path", "fleet_files", "relay_files", "write_tree"]

# ------------------------------------------------------------------ all of a relay
# (settings, plan, now, families, release, fingerprints): see relay_files
Concern = Callable[[RelaySettings, RelayPlan, datetime, Mapping, Release, Mapping], list[ConfigFile]]

# One line per concern, in the order deploys/exit.py converges them.
CONCERNS: tuple[Concern, ...] = (
    lambda settings, plan, now, families, release, fingerprints: name_files(plan.hostname),
    lambda settings, plan, now, families, release, fingerprints: resolver_files(settings),
    lambda settings, plan, now, families, release, fingerprints: policy_files(
        exit_policy_of(settings), settings.exit_interface, exit_addresses(settings)),
    lambda settings, plan, now, families, release, fingerprints: notice_files(
        settings, exit_policy_of(settings), hostname=plan.hostname, reboot_time=plan.reboot_time, now=now,
        in_service_since=plan.in_service_since, fingerprints=fingerprints),
    lambda settings, plan, now, families, release, fingerprints: https_files(
        settings, certificate_plan(settings, plan.hostname, release)),
    lambda settings, plan, now, families, release, fingerprints: tor_files(
        settings, exit_policy_of(settings), families, release),
    lambda settings, plan, now, families, release, fingerprints: maintenance_files(settings, plan.reboot),
)


def relay_files(settings: RelaySettings, plan: RelayPlan, now: datetime | None = None,
                families: Mapping | None = None, release: Release = DEFAULT_RELEASE,
                fingerprints: Mapping[str, str] | None = None) -> list[ConfigFile]:
    """Every file the kit writes on one relay; two concerns writing one path is a bug, refused here.

    ``families`` are the tor instances' families (see ``tor_files``); without them a torrc declares none.
    ``release`` is the one the relay runs; without a host to ask, the default release. ``fingerprints`` (tor data
    dir -> fingerprint) are the relay's own, for its pages; without them the pages list nicknames only.
    """
    now = now or datetime.now(UTC)
    files: list[ConfigFile] = []
    seen: set[str] = set()
    for concern in CONCERNS:
        for file in concern(settings, plan, now, families or {}, release, fingerprints or {}):
            if file.path in seen:
                raise ValueError(f"{file.path} is written by two concerns")
            seen.add(file.path)
            files.append(file)
    return files


def fleet_files(fleet: Fleet, plans: Mapping[str, RelayPlan], fleet_dir: Path,
                now: datetime | None = None) -> dict[str, list[ConfigFile]]:
    """Relay -> every file the kit writes on it, without contacting a host (``exitkit render``).

    Tor families and the pages' fingerprints come from what the last deploy saw on the relays (the fingerprint
    cache and the family key's id in the fleet folder), so a rendered torrc or page is the
    one the relay holds; a relay never deployed yet is simply not in them. With no
    host to ask which release it runs, the files are the default release's.
    """
    settings_of = {relay.name: relay.settings for relay in fleet.relays}
    result = {}
    for relay in fleet.relays:
        members = list(plans[relay.name].tor_family_hosts)
        families: dict[str, Family] = {}
        own = {data_dir: fp for (_, data_dir), fp in control.remembered(fleet_dir, relay.name, relay.settings).items()}
        if relay.settings.network == "tor" and members:
            seen = {key: fp for name in members
                    for key, fp in control.remembered(fleet_dir, name, settings_of[name]).items()}
            family_id = control.known_family_id(fleet_dir, relay.settings.tor_family)
            families = tor_families(relay.name, instances(relay.settings), seen, members, family_id)
        result[relay.name] = relay_files(relay.settings, plans[relay.name], now, families,
                                         fingerprints=own if relay.settings.network == "tor" else {})
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
