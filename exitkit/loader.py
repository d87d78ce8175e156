"""Read a fleet from the operator's YAML, merge its layers and check every value at once.

Layout an operator writes (as pyinfra expects it, run from the fleet's folder):

    inventory/<fleet>.yml   groups -> hosts -> per-host settings
    group_data/<group>.yml  settings of a group ("all" for every relay)

Merge order, later wins: defaults < all < the fleet file's own group < the
host's groups < the host. Two groups of one host that set the same key
differently are refused (pyinfra's order between them would be arbitrary).
"""

from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from exitkit import checks
from exitkit import settings as S
from exitkit.model import NOT_SET, Fleet, FleetInvalid, Relay, SettingsError, relay_error, source_of


def shown_path(path: Path) -> str:
    """A path as the operator sees it: relative to the folder pyinfra runs from."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def read_yaml(path: Path, errors: list[SettingsError]) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark else "the file"
        errors.append(SettingsError(shown_path(path), line, None, str(getattr(error, "problem", error)),
                                    "expected valid YAML"))
    except OSError as error:
        errors.append(SettingsError(shown_path(path), "the file", None, error.strerror, "expected a readable file"))
    return None


def check_values(data: Any, file: str, where: str, errors: list[SettingsError]) -> dict:
    """Check every key and value of one mapping; return the normalised values.

    A key whose value failed its check maps to NOT_SET, so it is not reported
    as missing on top of being wrong.
    """
    if data is None:
        return {}
    if not isinstance(data, dict):
        errors.append(SettingsError(file, where, None, data, "expected a mapping of setting: value"))
        return {}
    out = {}
    for key, value in data.items():
        if key in S.SETTINGS:
            check = S.SETTINGS[key].metadata["check"]
        elif key in S.CONNECTION_KEYS:
            check = S.CONNECTION_KEYS[key]
        else:
            close = difflib.get_close_matches(str(key), list(S.SETTINGS) + list(S.CONNECTION_KEYS), n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else "see the settings table in README.md"
            errors.append(SettingsError(file, where, str(key), value, f"expected a known setting: {hint}"))
            continue
        try:
            out[key] = check(value)
        except ValueError as error:
            errors.append(SettingsError(file, where, key, value, str(error)))
            out[key] = NOT_SET
    return out


def group_data_dirs(inventory: Path, cwd: Path | None = None) -> list[Path]:
    """Where pyinfra looks for group data: ./group_data, then beside the inventory."""
    cwd = (cwd or Path.cwd()).resolve()
    dirs = [cwd / "group_data"]
    beside = inventory.resolve().parent / "group_data"
    if beside != dirs[0]:
        dirs.append(beside)
    return [d for d in dirs if d.is_dir()]


def load_group_files(dirs: list[Path], errors: list[SettingsError]) -> dict[str, tuple[dict, str]]:
    """group name -> (normalised settings, file shown in messages)."""
    groups: dict[str, tuple[dict, str]] = {}
    for folder in dirs:
        for path in sorted(folder.glob("*.y*ml")):
            name = path.name.rsplit(".", 1)[0]
            shown = shown_path(path)
            values = check_values(read_yaml(path, errors), shown, f"group '{name}'", errors)
            old, _ = groups.get(name, ({}, shown))
            groups[name] = ({**old, **values}, shown)
    return groups


def load_fleet(inventory: str | Path, cwd: Path | None = None) -> Fleet:
    """Read ``<fleet>.yml`` beside the given inventory file and all group data; raise FleetInvalid."""
    inventory = Path(inventory)
    yml = inventory.with_suffix(".yml")
    fleet_name = inventory.stem
    errors: list[SettingsError] = []
    shown = shown_path(yml)
    raw = read_yaml(yml, errors) if yml.exists() else None
    if not yml.exists():
        errors.append(SettingsError(shown, "the fleet", None, NOT_SET,
                                    "expected this file listing groups and their hosts"))
    group_files = load_group_files(group_data_dirs(inventory, cwd), errors)

    # inventory: group -> host -> settings
    host_groups: dict[str, list[str]] = {}
    host_values: dict[str, dict] = {}
    if raw is not None and not isinstance(raw, dict):
        errors.append(SettingsError(shown, "the fleet", None, raw, "expected a mapping of group name -> hosts"))
        raw = {}
    for group, hosts in (raw or {}).items():
        if hosts is None:
            continue
        if not isinstance(hosts, dict):
            errors.append(SettingsError(shown, f"group '{group}'", None, hosts,
                                        "expected a mapping of host name -> its settings"))
            continue
        for host, data in hosts.items():
            host = str(host)
            host_groups.setdefault(str(host), []).append(str(group))
            values = check_values(data, shown, f"host '{host}'", errors)
            if data and host in host_values and host_values[host]:
                errors.append(SettingsError(shown, f"host '{host}'", None, group,
                                            "expected the host's settings under one group only; "
                                            "list it without settings in the others"))
            if values or host not in host_values:
                host_values[str(host)] = values

    relays = []
    for host, groups in host_groups.items():
        all_groups = ["all", fleet_name] + [g for g in groups if g not in ("all", fleet_name)]
        merged: dict[str, Any] = {}
        sources: dict[str, tuple[str, str]] = {}
        for layer, group in enumerate(all_groups):
            values, file = group_files.get(group, ({}, ""))
            for key, value in values.items():
                if (layer >= 2 and key in merged and sources[key][1].startswith("group")
                        and sources[key][1] not in ("group 'all'", f"group '{fleet_name}'") and merged[key] != value):
                    errors.append(SettingsError(
                        file, f"group '{group}'", key, value,
                        f"expected no conflict: host '{host}' is also in {sources[key][1]} ({sources[key][0]}) "
                        f"which sets {merged[key]!r}; set it on the host instead"))
                merged[key] = value
                sources[key] = (file, f"group '{group}'")
        for key, value in host_values.get(host, {}).items():
            merged[key] = value
            sources[key] = (shown, f"host '{host}'")
        connection = {k: merged.pop(k) for k in list(merged) if k in S.CONNECTION_KEYS}
        invalid = [k for k, v in merged.items() if v is NOT_SET]
        for key, f in S.SETTINGS.items():
            if f.metadata["required"] and key not in merged and key not in invalid:
                where = ", ".join(all_groups[2:] + [fleet_name, "all"])
                expected = (f"{_expected_text(key)}; set it on the host, or in group_data/<group>.yml "
                            f"of one of its groups ({where})")
                errors.append(SettingsError(shown, f"host '{host}'", key, NOT_SET, expected))
        if invalid or any(e.where == f"host '{host}'" and e.value is NOT_SET for e in errors):
            continue
        relays.append(Relay(host, tuple(all_groups), S.RelaySettings(**merged), connection, sources))

    fleet = Fleet(fleet_name, tuple(relays))
    if not errors:
        errors.extend(_fleet_checks(fleet))
    if errors:
        raise FleetInvalid(errors)
    return fleet


def _expected_text(key: str) -> str:
    meta = S.SETTINGS[key].metadata
    return f"expected a value such as {meta['example']!r} ({meta['meaning'].rstrip('.')})"


def warn_fleet(fleet: Fleet, stream=None) -> list[str]:
    """Loud warnings that do not stop a run (a test-only switch in a real fleet)."""
    stream = stream or sys.stderr
    lines = []
    test_fleet = fleet.name == "demo" or fleet.name.startswith("test")
    for relay in fleet.relays:
        if relay.settings.test_network_off and not test_fleet:
            file, where = source_of(relay, "test_network_off")
            lines.append(f"WARNING: {file}: {where}: test_network_off is true in fleet '{fleet.name}', which is "
                         f"not a demo or test fleet: relay '{relay.name}' will never carry traffic. "
                         "Remove it for production.")
    for line in lines:
        stream.write("!" * 78 + "\n" + line + "\n" + "!" * 78 + "\n")
    return lines


def _fleet_checks(fleet: Fleet) -> list[SettingsError]:
    """Checks that need more than one value or more than one relay."""
    errors: list[SettingsError] = []
    seen: dict[tuple[str, str], str] = {}
    for relay in fleet.relays:
        for key in ("nickname", "hostname", "public_ipv4", "public_ipv6"):
            value = getattr(relay.settings, key)
            if not value:
                continue
            norm = value.lower() if key == "nickname" else value
            other = seen.setdefault((key, norm), relay.name)
            if other != relay.name:
                file, where = source_of(relay, key)
                errors.append(SettingsError(file, f"host '{relay.name}'", key, value,
                                            f"expected a {key} unique in the fleet; host '{other}' has it too"))
        for key, other, port in checks.port_conflicts(listening_ports(relay.settings)):
            if key not in relay.sources and other in relay.sources:
                key, other = other, key  # name the value the operator wrote, not a default
            errors.append(relay_error(relay, key, port, f"expected a port no other listener of the relay uses; "
                                      f"{other} is {port} too (set one of them to another port)"))
    return errors


def listening_ports(settings: S.RelaySettings) -> dict[str, tuple[int, ...]]:
    """Setting -> the ports it makes the relay listen on (0: off), in the order conflicts are reported."""
    tor = settings.network == "tor"
    count = settings.tor_instances
    return {
        "or_port": tuple(settings.or_port + n for n in range(count)) if tor else (),
        "metrics_port": tuple(settings.metrics_port + n for n in range(count)) if tor and settings.metrics_port else (),
        "http_port": (settings.http_port,),
        "https_port": (settings.https_port,),
    }


def fleet_dir(inventory: str | Path) -> Path:
    """The operator's fleet folder (``<folder>/inventory/<fleet>.py``): family keys, key backups, caches."""
    return Path(inventory).resolve().parent.parent
