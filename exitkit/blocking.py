"""Blocking on request: an operator's `reject` entry written into the fleet's own settings files.

A site that asks not to be reached from the exits, or a complaint that warrants
it, becomes one entry of ``exit_policy_rules`` with a note (the complaint, the
day) and optionally a day it expires. The entry goes into every file the
fleet's relays take ``exit_policy_rules`` from (the list is one value: a group
or host that sets it replaces what ``all`` says), at the top of the list, where
no earlier accept of the operator's can shadow it. The YAML is edited
round-trip (ruamel.yaml): the operator's comments, order and quoting stay, and
an edit that would change anything but the entry is refused.

Pure text in, text out; the CLI writes the files, loads the fleet again and
puts the old text back when the fleet no longer validates.
"""

from __future__ import annotations

import datetime
import difflib
import io
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.util import load_yaml_guess_indent

from exitkit.control import replace_text
from exitkit.loader import shown_path
from exitkit.model import Fleet
from exitkit.policy import PolicyError, parse_rule
from exitkit.policy.rules import ALWAYS_REJECTED, Rule

KEY = "exit_policy_rules"


class BlockError(ValueError):
    """A block the kit cannot write as asked; the message says what to do instead."""


@dataclass(frozen=True)
class Place:
    """Where a list of entries lives: a settings file, and a host in it (None: the file is a group's)."""

    file: Path
    host: str | None = None

    def __str__(self) -> str:
        return f"{self.file}" + (f" (host '{self.host}')" if self.host else "")


@dataclass(frozen=True)
class Edit:
    """One file's text before and after."""

    file: Path
    old: str
    new: str

    def diff(self) -> str:
        name = str(self.file)
        return "".join(difflib.unified_diff(self.old.splitlines(keepends=True), self.new.splitlines(keepends=True),
                                            f"a/{name}", f"b/{name}"))


def reject_rule(target: str, note: str, expires: datetime.date | None = None) -> Rule:
    """``reject ADDR[:PORT]`` (a network with /len; no port means every port), checked like a settings entry."""
    target = target.strip()
    try:
        bare = ipaddress.ip_network(target, strict=False)
    except ValueError:
        bare = None
    if bare is not None:  # no port: an address or network, IPv6 written without brackets too
        address = str(bare.network_address)
        host = f"[{address}]" if bare.version == 6 else address
        target = f"{host}/{bare.prefixlen}:*" if bare.prefixlen < bare.max_prefixlen else f"{host}:*"
    try:
        rule = parse_rule({"rule": f"reject {target}", "note": note, "expires": expires})
    except PolicyError as error:
        raise BlockError(f"cannot block {target!r}: {error}") from None
    if rule.destination is None:
        raise BlockError(f"cannot block {target!r}: expected one address or network, not every address; "
                         "for a port everywhere, edit exit_policy_rules yourself")
    covering = [n for n in ALWAYS_REJECTED if n.version == rule.destination.version
                and rule.destination.subnet_of(n)]  # type: ignore[arg-type]
    if covering:
        raise BlockError(f"cannot block {target!r}: no exit sends there ({covering[0]} is always rejected); "
                         "expected a public address")
    return rule


def entry_of(rule: Rule) -> CommentedMap:
    """The settings entry for a rule, as the operator would write it."""
    entry = CommentedMap(rule=rule.text)
    if rule.note:
        entry["note"] = rule.note
    if rule.expires:
        entry["expires"] = rule.expires
    return entry


def places(fleet: Fleet, all_file: Path) -> list[Place]:
    """Every file (and host in it) a relay of the fleet takes exit_policy_rules from; ``all_file`` for relays
    that set none, so every relay gets the entry."""
    found: list[Place] = []
    for relay in fleet.relays:
        file, where = relay.sources.get(KEY, (str(all_file), "group 'all'"))
        host = where.removeprefix("host '").removesuffix("'") if where.startswith("host '") else None
        place = Place(Path(shown_path(Path(file))), host)
        if place not in found:
            found.append(place)
    return found


def _yaml(text: str) -> tuple[YAML, Any]:
    yaml = YAML()  # round-trip: comments, order and quotes kept
    yaml.preserve_quotes = True
    yaml.width = 4096
    if not text.strip():
        return yaml, CommentedMap()
    _, sequence, offset = load_yaml_guess_indent(text)
    yaml.indent(mapping=_mapping_indent(text), sequence=sequence or 2, offset=offset or 0)
    data = yaml.load(text)
    return yaml, data


def _mapping_indent(text: str) -> int:
    """How far the operator indents a mapping inside a mapping (2 when the file has none)."""
    parent = None
    for line in text.splitlines():
        content = line.lstrip(" ")
        if not content or content.startswith("#"):
            continue
        depth = len(line) - len(content)
        if parent is not None and depth > parent and not content.startswith("- "):
            return depth - parent
        key_only = re.match(r"[^\s#'\"{\[-][^#]*:\s*(#.*)?$", content)
        parent = depth if key_only else None
    return 2


def _dump(yaml: YAML, data: Any) -> str:
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _settings_of(data: Any, place: Place) -> CommentedMap:
    """The mapping of settings at a place: the group file's top, or the host's mapping in the inventory."""
    if place.host is None:
        if not isinstance(data, CommentedMap):
            raise BlockError(f"{place}: expected a mapping of setting: value")
        return data
    for hosts in (data or {}).values():
        if isinstance(hosts, CommentedMap) and isinstance(hosts.get(place.host), CommentedMap):
            if KEY in hosts[place.host]:
                return hosts[place.host]
    raise BlockError(f"{place}: no {KEY} found under host '{place.host}'")


def _only(kind: str, edit: Edit) -> Edit:
    """The edit, if its diff only adds (or only removes) lines: the rest of the operator's file is as it was."""
    lines = [line for line in edit.diff().splitlines()[2:] if line[:1] in "+-"]
    # an empty list is written `exit_policy_rules: []`: the key's own line may change between the two forms
    if any(not line.startswith(kind) and not re.fullmatch(rf"[+-]\s*{KEY}:\s*(\[\])?\s*", line) for line in lines):
        raise BlockError(f"{edit.file}: the YAML cannot be edited without changing the operator's other lines; "
                         f"edit {KEY} there yourself:\n{edit.diff()}")
    return edit


def add_rule(text: str, place: Place, rule: Rule) -> str:
    """The file's text with the entry first in the place's exit_policy_rules (the key made if missing)."""
    yaml, data = _yaml(text)
    settings = _settings_of(data, place)
    rules = settings.get(KEY)
    if not rules:  # missing, or an empty flow list: a block list from here on
        rules = settings[KEY] = CommentedSeq()
    if not isinstance(rules, list):
        raise BlockError(f"{place}: {KEY} is not a list; expected entries such as - reject 198.51.100.7:443")
    if any(parse_rule(existing).text == rule.text for existing in rules):  # blocked already
        return text
    rules.insert(0, entry_of(rule))
    return _only("+", Edit(place.file, text, _dump(yaml, data))).new


def prune_expired(text: str, place: Place, today: datetime.date) -> tuple[str, list[Rule]]:
    """The file's text without the entries whose expiry has passed, and those entries."""
    yaml, data = _yaml(text)
    settings = _settings_of(data, place)
    rules = settings.get(KEY) or []
    gone = [i for i, entry in enumerate(rules) if parse_rule(entry).expired(today)]
    if not gone:
        return text, []
    removed = [parse_rule(rules[i]) for i in gone]
    for i in reversed(gone):
        del rules[i]
    return _only("-", Edit(place.file, text, _dump(yaml, data))).new, removed


def write_checked(edits: list[Edit], check: Callable[[], None]) -> None:
    """Write every edit, then ``check`` (loading the fleet again); if it raises, every file is put back as it was
    (a file that did not exist is removed again) and the error goes on."""
    existed = {edit.file: edit.file.exists() for edit in edits}
    try:
        for edit in edits:
            replace_text(edit.file, edit.new)
        check()
    except BaseException:
        for edit in edits:
            if existed[edit.file]:
                replace_text(edit.file, edit.old)
            else:
                edit.file.unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class ExpiredEntry:
    """An entry whose expiry has passed, where it is written, and a relay it is in force on."""

    place: Place
    rule: Rule
    relay: str


def expired_entries(fleet: Fleet, today: datetime.date) -> list[ExpiredEntry]:
    """Each expired entry once per file (and host) that holds it, for ``exitkit check``."""
    seen: dict[tuple[Place, str], ExpiredEntry] = {}
    for relay in fleet.relays:
        file, where = relay.sources.get(KEY, ("(default)", ""))
        host = where.removeprefix("host '").removesuffix("'") if where.startswith("host '") else None
        for entry in relay.settings.exit_policy_rules:
            rule = parse_rule(entry)
            if rule.expired(today):
                seen.setdefault((Place(Path(file), host), rule.text), ExpiredEntry(Place(Path(file), host), rule,
                                                                                    relay.name))
    return list(seen.values())
